package azuritetests

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"keyserver/internal/events"
	"keyserver/internal/hsmfake"
	"keyserver/internal/keyserver"
)

// channelReceiver records posts by path and answers status[path].
type channelReceiver struct {
	mu     sync.Mutex
	posts  map[string]int
	bodies map[string][]byte
	status map[string]int
}

func (c *channelReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.posts[r.URL.Path]++
	c.bodies[r.URL.Path] = body
	if s := c.status[r.URL.Path]; s != 0 {
		w.WriteHeader(s)
	}
}

func (c *channelReceiver) count(path string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.posts[path]
}

func (c *channelReceiver) answer(path string, status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.status[path] = status
}

// invokeNotify posts a Service Bus invocation for body to the handler's
// notify function, shaped as the Functions host sends it.
func invokeNotify(t *testing.T, body []byte, messageID string, delivery int) int {
	t.Helper()
	data, _ := json.Marshal(string(body))
	twice := func(v string) string { b, _ := json.Marshal(v); return string(b) }
	req := `{"Data":{"event":` + string(data) + `},"Metadata":{"MessageId":` + twice(`"`+messageID+`"`) +
		`,"DeliveryCount":` + twice(strconv.Itoa(delivery)) +
		`,"EnqueuedTimeUtc":"2025-03-04T10:00:00.123","ApplicationProperties":{"operationid":"x"},"sys":{"MethodName":"notify","UtcNow":"2025-03-04T10:00:00.2Z","RandGuid":"11111111-2222-4333-8444-555555555555"}}}`
	resp, err := http.Post(mustStack(t).HandlerURL+"/notify", "application/json", bytes.NewReader([]byte(req)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Outputs     map[string]any
		Logs        []string
		ReturnValue any
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Outputs == nil {
		t.Fatalf("notify answered %s without {Outputs,Logs,ReturnValue}: %v", resp.Status, err)
	}
	return resp.StatusCode
}

// TestNotifyFunctionDeliversOncePerChannel gives a key three channels with
// the admin API, then invokes the handler's notify function as the
// Functions host does: each channel gets the event once, a duplicate
// delivery posts nothing, a failing channel fails the invocation, and the
// redelivery posts to that channel only. Deliveries are recorded in Table
// Storage.
func TestNotifyFunctionDeliversOncePerChannel(t *testing.T) {
	recv := &channelReceiver{posts: map[string]int{}, bodies: map[string][]byte{}, status: map[string]int{}}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	keyID, _ := mustSigningKey(t, hsmfake.KeySpec{Name: "notified", Kty: "EC-HSM", Crv: "P-256"}, 1)
	const secret = "channel-secret-0123456789"
	admin := mustToken(t, "adminclient")
	current := mustDo(t, "GET", "/api/admin/keys/"+keyID, admin, nil)
	var k map[string]any
	current.mustDecode(t, http.StatusOK, &k)
	k["channels"] = []map[string]any{
		{"type": "webhook", "url": srv.URL + "/hook?token=s3cret-path", "secret": secret},
		{"type": "teams", "url": srv.URL + "/teams?sig=s3cret-path"},
		{"type": "slack", "url": srv.URL + "/slack/s3cret-path"},
	}
	delete(k, "keyid")
	delete(k, "algorithm")
	put := mustDo(t, "PUT", "/api/admin/keys/"+keyID, admin, k)
	got := mustDo(t, "GET", "/api/admin/keys/"+keyID, admin, nil)
	for _, a := range []apiAnswer{put, got} {
		if a.Status != http.StatusOK || bytes.Contains(a.Body, []byte("s3cret")) || bytes.Contains(a.Body, []byte(secret)) {
			t.Fatalf("the admin API shows a channel secret (status %d): %s", a.Status, a.Body)
		}
		if !bytes.Contains(a.Body, []byte(`"hassecret":true`)) || bytes.Count(a.Body, []byte(`"id":`)) != 3 {
			t.Fatalf("the admin API does not show the channels: %s", a.Body)
		}
	}

	now := time.Now()
	ev := &keyserver.Event{ID: keyserver.NewID(), Type: keyserver.EventCreated, Time: now,
		Operation: keyserver.OperationSummary{ID: keyserver.NewID(), Description: "Building of firmware", Status: keyserver.StatusPending,
			Requester: keyserver.Principal{Issuer: "https://issuer.test", Subject: "orderer"}, Created: now, Expires: now.Add(time.Hour),
			Keys: []keyserver.KeySummary{{KeyID: keyID, MaxUsageCount: 1, RequiredApprovals: 1}}},
		Link: "http://localhost/operations/x"}
	body, err := events.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{"/hook", "/teams", "/slack/s3cret-path"}
	counts := func() []int {
		var out []int
		for _, p := range paths {
			out = append(out, recv.count(p))
		}
		return out
	}
	if code := invokeNotify(t, body, ev.ID, 1); code != http.StatusOK {
		t.Fatalf("notify answered %d", code)
	}
	if code := invokeNotify(t, body, ev.ID, 2); code != http.StatusOK || !slices.Equal(counts(), []int{1, 1, 1}) {
		t.Fatalf("after a duplicate delivery: %d, posts %v; want 200 and one post per channel", code, counts())
	}

	second := *ev
	second.ID, second.Type = keyserver.NewID(), keyserver.EventApproved
	body2, _ := events.Marshal(&second)
	recv.answer("/teams", http.StatusServiceUnavailable)
	if code := invokeNotify(t, body2, second.ID, 1); code < 300 || !slices.Equal(counts(), []int{2, 2, 2}) {
		t.Fatalf("with Teams down: %d, posts %v; want non-2xx after trying every channel", code, counts())
	}
	recv.answer("/teams", 0)
	if code := invokeNotify(t, body2, second.ID, 2); code != http.StatusOK || !slices.Equal(counts(), []int{2, 3, 2}) {
		t.Fatalf("the redelivery: %d, posts %v; want only Teams again", code, counts())
	}
}
