package azurite

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
)

func TestAzuriteStartServesAndStops(t *testing.T) {
	s, err := Start(context.Background(), t.TempDir())
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = s.Stop() })

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port))
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dialing Azurite at %s: %v", addr, err)
	}
	conn.Close()

	want := "TableEndpoint=http://127.0.0.1:" + strconv.Itoa(s.Port) + "/devstoreaccount1;"
	if cs := s.ConnectionString(); !strings.Contains(cs, want) || !strings.Contains(cs, "AccountKey="+AccountKey) {
		t.Fatalf("ConnectionString() = %q, want it to contain %q and the devstore key", cs, want)
	}

	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if conn, err := net.Dial("tcp", addr); err == nil {
		conn.Close()
		t.Fatalf("Azurite still accepts connections on %s after Stop", addr)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

func TestAzuriteMissingBinaryNamesTheInstall(t *testing.T) {
	t.Setenv(BinEnv, t.TempDir()+"/no-such-azurite")
	_, err := Start(context.Background(), t.TempDir())
	if err == nil {
		t.Fatal("Start with a missing binary succeeded")
	}
	if !strings.Contains(err.Error(), "make tools") || !strings.Contains(err.Error(), "npm ci --prefix tools/azurite") {
		t.Fatalf("error %q does not say what to install", err)
	}
}

func TestAzuriteBinaryFindsPinnedCopy(t *testing.T) {
	t.Setenv(BinEnv, "")
	bin, err := Binary()
	if err != nil {
		t.Fatalf("Binary: %v", err)
	}
	if !strings.HasSuffix(bin, pinnedBin) {
		t.Fatalf("Binary() = %q, want the pinned %s", bin, pinnedBin)
	}
}
