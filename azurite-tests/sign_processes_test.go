package azuritetests

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"

	"keyserver/internal/hsmfake"
)

// mustHandlerBinary builds the handler into a temporary directory.
func mustHandlerBinary(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "handler")
	if out, err := exec.Command("go", "build", "-o", bin, "keyserver/handler").CombinedOutput(); err != nil {
		tb.Fatalf("building the handler: %v\n%s", err, out)
	}
	return bin
}

// TestSignAcrossFourHandlerProcessesNeverPassesMax starts four handler
// processes on the stack's Azurite and HSM, as four Functions instances
// would run, and sends 200 orders at once, spread over them, to an
// operation allowing 10 uses.
func TestSignAcrossFourHandlerProcessesNeverPassesMax(t *testing.T) {
	st := mustStack(t)
	bin := mustHandlerBinary(t)
	var urls []string
	for range 4 {
		url, stop, err := st.StartHandler(context.Background(), bin)
		if err != nil {
			t.Fatalf("starting a handler process: %v", err)
		}
		t.Cleanup(stop)
		urls = append(urls, url)
	}
	keyID, token := mustSigningKey(t, hsmfake.KeySpec{Name: "procs", Kty: "EC-HSM", Crv: "P-256"}, 0)
	op := mustOpenOp(t, token, 600000, map[string]int{keyID: 10})
	signed, exhausted := signAtOnce(t, urls, token, op.ID, keyID, 200)
	if signed != 10 || exhausted != 190 {
		t.Fatalf("%d signed and %d exhausted, want 10 and 190", signed, exhausted)
	}
	mustExhausted(t, token, op.ID, keyID, 10)
}
