package azuritetests

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"keyserver/internal/events"
	"keyserver/internal/keyserver"
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

// runLocalStack runs `make run`'s command, build/localstack with the handler
// binary, on free ports in dir, and returns its terminal (the handler's
// output), its handler and dev auth server URLs, and how to stop it.
func runLocalStack(t *testing.T, dir string) (term *lockedBuffer, api, auth string) {
	t.Helper()
	for _, b := range []struct{ out, pkg string }{{"handler", "../handler"}, {"localstack", "../cmd/localstack"}} {
		if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, b.out), b.pkg).CombinedOutput(); err != nil {
			t.Fatalf("building %s: %v\n%s", b.pkg, err, out)
		}
	}
	term, banner := &lockedBuffer{}, &lockedBuffer{}
	cmd := exec.Command(filepath.Join(dir, "localstack"), "-dir", filepath.Join(dir, "state"), "-handler", filepath.Join(dir, "handler"),
		"-handler-port", "0", "-auth-port", "0", "-hsm-port", "0", "-azurite-port", "0", "-upkeep-interval", "1s")
	cmd.Stdout, cmd.Stderr = term, banner
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		_ = cmd.Wait()
	})
	urls := regexp.MustCompile(`Keyserver API   (http://\S+)/api[\s\S]*Dev auth server (http://\S+)/oauth2/token`)
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if m := urls.FindStringSubmatch(banner.String()); m != nil {
			return term, m[1], m[2]
		}
		if cmd.ProcessState != nil {
			break
		}
	}
	t.Fatalf("the local stack did not come up:\n%s", banner.String())
	return nil, "", ""
}

// clientToken gets a demo client's token as the tutorial's curl does.
func clientToken(t *testing.T, auth, client string) string {
	t.Helper()
	req, _ := http.NewRequest("POST", auth+"/oauth2/token", strings.NewReader("grant_type=client_credentials"))
	req.SetBasicAuth(client, client)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	a, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(a.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("token for %s: %s %v", client, a.Status, err)
	}
	return tok.AccessToken
}

// TestMakeRunShowsApprovalRequests tries `make run` as a new user would: the
// local stack with the handler binary and no Service Bus. Creating an
// operation for key2 shows the approval request on the terminal with its
// link; approving it shows the approved event; the local webhook gets both,
// signed; and the stand-in for the timer expires an operation.
func TestMakeRunShowsApprovalRequests(t *testing.T) {
	hook := &hookRecorder{}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	const secret = "local-webhook-secret-123"
	t.Setenv("KEYSERVER_LOCAL_WEBHOOK_URL", srv.URL+"/hook")
	t.Setenv("KEYSERVER_LOCAL_WEBHOOK_SECRET", secret)
	term, api, auth := runLocalStack(t, t.TempDir())
	orderer, approver := clientToken(t, auth, "orderer-client"), clientToken(t, auth, "approver-key2")

	var op struct{ ID string }
	start := time.Now()
	mustCall(t, api, "POST", "/api/operations", orderer, map[string]any{"validms": 600000,
		"description":              "Building of firmware for XYZ development board",
		"new-keyusagerestrictions": []map[string]any{{"keyid": "key2", "maxusagecount": 1}}}, &op)
	link := api + "/operations/" + op.ID
	took := waitFor(t, term, start, "Approval requested", link)
	t.Logf("the approval request showed on the terminal %v after the request was sent", took.Round(time.Millisecond))
	waitFor(t, term, start, "key2 0 of 1 approvals", "approver-key2", "Requester: orderer-client")

	start = time.Now()
	mustCall(t, api, "POST", "/api/operations/"+op.ID+"/approve", approver, map[string]string{"comment": "reviewed"}, nil)
	took = waitFor(t, term, start, "Operation approved", link)
	t.Logf("the approval showed on the terminal %v after the request was sent", took.Round(time.Millisecond))

	// The stand-in for the timer runs upkeep: an operation valid for a
	// second expires, and says so.
	var short struct{ ID string }
	mustCall(t, api, "POST", "/api/operations", orderer, map[string]any{"validms": 1000, "description": "expires at once",
		"new-keyusagerestrictions": []map[string]any{{"keyid": "key2", "maxusagecount": 1}}}, &short)
	waitFor(t, term, time.Now(), "Operation expired", short.ID)

	got := hook.types(t, secret, op.ID)
	if strings.Join(got, " ") != keyserver.EventCreated+" "+keyserver.EventApproved {
		t.Fatalf("the local webhook got %v for the operation", got)
	}
}

// mustCall sends a JSON request with a bearer token to the handler at api.
func mustCall(t *testing.T, api, method, path, token string, body, out any) {
	t.Helper()
	a, err := do(api, method, path, token, body)
	if err != nil || a.Status >= 300 {
		t.Fatalf("%s %s: %v %d %s", method, path, err, a.Status, a.Body)
	}
	if out != nil {
		if err := json.Unmarshal(a.Body, out); err != nil {
			t.Fatal(err)
		}
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
