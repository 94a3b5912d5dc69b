package azuritetests

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"keyserver/internal/events"
	"keyserver/internal/keyserver"
	"keyserver/internal/localstack"
	"keyserver/internal/notify"
)

// lockedBuffer is a terminal the handler process writes to.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitFor waits until the terminal shows a line holding every one of parts,
// and says how long that took. The deadline is generous: the machine is
// shared, and the time is reported, not asserted.
func waitFor(t *testing.T, term *lockedBuffer, since time.Time, parts ...string) time.Duration {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, line := range strings.Split(term.String(), "\n") {
			if all(line, parts) {
				return time.Since(since)
			}
		}
	}
	t.Fatalf("the terminal never showed %q; it shows:\n%s", parts, term.String())
	return 0
}

func all(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// TestMakeRunShowsApprovalRequests tries `make run` as a new user would: the
// local stack with the handler binary and no Service Bus. Creating an
// operation for key2 shows the approval request on the terminal with its
// link; approving it shows the approved event; the local webhook gets both,
// signed; and the stand-in for the timer expires an operation.
func TestMakeRunShowsApprovalRequests(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "handler")
	if out, err := exec.Command("go", "build", "-o", exe, "../handler").CombinedOutput(); err != nil {
		t.Fatalf("building the handler: %v\n%s", err, out)
	}
	hook := &hookRecorder{}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	const secret = "local-webhook-secret-123"
	t.Setenv("KEYSERVER_LOCAL_WEBHOOK_URL", srv.URL+"/hook")
	t.Setenv("KEYSERVER_LOCAL_WEBHOOK_SECRET", secret)
	term := &lockedBuffer{}
	ctx := context.Background()
	st, err := localstack.Start(ctx, localstack.Options{Dir: filepath.Join(dir, "state"), HandlerBinary: exe, HandlerOutput: term,
		UpkeepInterval: time.Second, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("starting the local stack: %v", err)
	}
	defer st.Close()
	orderer, err := st.Token(ctx, "orderer-client")
	if err != nil {
		t.Fatal(err)
	}
	approver, err := st.Token(ctx, "approver-key2")
	if err != nil {
		t.Fatal(err)
	}

	var op struct{ ID string }
	start := time.Now()
	if _, err := st.Call(ctx, "POST", "/api/operations", orderer, map[string]any{"validms": 600000,
		"description":              "Building of firmware for XYZ development board",
		"new-keyusagerestrictions": []map[string]any{{"keyid": "key2", "maxusagecount": 1}}}, &op); err != nil {
		t.Fatal(err)
	}
	link := st.HandlerURL + "/operations/" + op.ID
	took := waitFor(t, term, start, "Approval requested", link)
	t.Logf("the approval request showed on the terminal %v after the request was sent", took.Round(time.Millisecond))
	waitFor(t, term, start, "key2 0 of 1 approvals", "approver-key2", "Requester: orderer-client")

	start = time.Now()
	if _, err := st.Call(ctx, "POST", "/api/operations/"+op.ID+"/approve", approver, map[string]string{"comment": "reviewed"}, nil); err != nil {
		t.Fatal(err)
	}
	took = waitFor(t, term, start, "Operation approved", link)
	t.Logf("the approval showed on the terminal %v after the request was sent", took.Round(time.Millisecond))

	// The stand-in for the timer runs upkeep: an operation valid for a
	// second expires, and says so.
	var short struct{ ID string }
	if _, err := st.Call(ctx, "POST", "/api/operations", orderer, map[string]any{"validms": 1000, "description": "expires at once",
		"new-keyusagerestrictions": []map[string]any{{"keyid": "key2", "maxusagecount": 1}}}, &short); err != nil {
		t.Fatal(err)
	}
	waitFor(t, term, time.Now(), "Operation expired", short.ID)

	got := hook.types(t, secret, op.ID)
	if strings.Join(got, " ") != keyserver.EventCreated+" "+keyserver.EventApproved {
		t.Fatalf("the local webhook got %v for the operation", got)
	}
}

// hookRecorder records what the local webhook gets.
type hookRecorder struct {
	mu   sync.Mutex
	reqs []recordedHook
}

type recordedHook struct {
	header http.Header
	body   []byte
}

func (h *hookRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reqs = append(h.reqs, recordedHook{r.Header.Clone(), body})
}

// types returns the types of the events of operation opID the webhook got,
// checking each signature.
func (h *hookRecorder) types(t *testing.T, secret, opID string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.reqs {
		ts, _ := strconv.ParseInt(r.header.Get(notify.HeaderTimestamp), 10, 64)
		if r.header.Get(notify.HeaderSignature) != notify.Sign(secret, ts, r.body) {
			t.Fatalf("a delivery's signature does not verify: %v", r.header)
		}
		ev, err := events.Parse(r.body)
		if err != nil {
			t.Fatalf("a delivery is no event: %v", err)
		}
		if ev.Operation.ID == opID {
			out = append(out, ev.Type)
		}
	}
	return out
}
