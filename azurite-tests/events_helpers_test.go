package azuritetests

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"keyserver/internal/keyserver"
	"keyserver/internal/tablestore"
)

// rowCounter counts the requests a Store makes and the rows they read: the
// entities of each query page, one per point read.
type rowCounter struct {
	requests, rows atomic.Int64
	next           http.RoundTripper
}

func (c *rowCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req)
	if err != nil || resp == nil {
		return resp, err
	}
	c.requests.Add(1)
	if req.Method != http.MethodGet || resp.StatusCode != http.StatusOK {
		return resp, nil
	}
	body, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if rerr != nil {
		return resp, nil
	}
	var page struct {
		Value []json.RawMessage `json:"value"`
	}
	if json.Unmarshal(body, &page) == nil && page.Value != nil {
		c.rows.Add(int64(len(page.Value)))
	} else {
		c.rows.Add(1)
	}
	return resp, nil
}

// reading returns the requests and rows counted while f ran.
func (c *rowCounter) reading(f func()) (requests, rows int64) {
	r0, n0 := c.requests.Load(), c.rows.Load()
	f()
	return c.requests.Load() - r0, c.rows.Load() - n0
}

// recPublisher records what is published; while down it fails instead.
type recPublisher struct {
	mu   sync.Mutex
	sent []keyserver.Event
	down bool
}

func (p *recPublisher) Publish(ctx context.Context, ev *keyserver.Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		return keyserver.Errorf(keyserver.EUNAVAILABLE, "Service Bus cannot be reached (test fault).")
	}
	p.sent = append(p.sent, *ev)
	return nil
}

func (p *recPublisher) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
}

// of returns the events published for operation opID, of type typ or any.
func (p *recPublisher) of(opID, typ string) []keyserver.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []keyserver.Event
	for _, ev := range p.sent {
		if ev.Operation.ID == opID && (typ == "" || ev.Type == typ) {
			out = append(out, ev)
		}
	}
	return out
}

// eventWorld is the domain service on tables of its own in the shared
// Azurite, with a recording publisher, a clock of its own and counted reads.
type eventWorld struct {
	store   *tablestore.Store
	svc     *keyserver.Service
	pub     *recPublisher
	clock   *testClock
	counter *rowCounter
	prefix  string // of the world's tables
}

var evOrderer = keyserver.Principal{Issuer: "https://issuer.test", Subject: "orderer"}

// newEventWorld registers key "one" (one approval), key "two" (two) and
// "many" (eight), an orderer of all and approvers of all.
func newEventWorld(t *testing.T) *eventWorld {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	w := &eventWorld{pub: &recPublisher{}, clock: &testClock{}, counter: &rowCounter{}, prefix: "e" + hex.EncodeToString(b)}
	var err error
	counting := tablestore.WithRoundTripper(func(next http.RoundTripper) http.RoundTripper { w.counter.next = next; return w.counter })
	if w.store, err = tablestore.NewFromConnectionString(azuriteConn, w.prefix, counting); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := w.store.EnsureTables(ctx); err != nil {
		t.Fatal(err)
	}
	for id, n := range map[string]int{"one": 1, "two": 2, "many": 8} {
		if err := w.store.PutKey(ctx, &keyserver.Key{KeyID: id, HSMKey: "https://hsm.example/keys/" + id, RequiredApprovals: n, Enabled: true}, keyserver.AuditEvent{}); err != nil {
			t.Fatal(err)
		}
	}
	subjects := []*keyserver.Subject{{Principal: evOrderer, Name: "Release pipeline", Roles: []string{"orderer:*"}}}
	for i := range 8 {
		p := keyserver.Principal{Issuer: "https://issuer.test", Subject: "approver-" + string(rune('a'+i))}
		subjects = append(subjects, &keyserver.Subject{Principal: p, Name: "Approver " + p.Subject, Roles: []string{"approver:*"}})
	}
	for _, s := range subjects {
		if err := w.store.PutSubject(ctx, s, keyserver.AuditEvent{}); err != nil {
			t.Fatal(err)
		}
	}
	w.svc = &keyserver.Service{Ops: w.store, Keys: w.store, Subjects: w.store, Audit: w.store, Publisher: w.pub,
		Limits: keyserver.DefaultLimits, PublicURL: "https://ks.example", Retention: 90 * 24 * time.Hour,
		Now: w.clock.Now, Log: slog.New(slog.DiscardHandler)}
	return w
}

func (w *eventWorld) caller(t *testing.T, p keyserver.Principal) keyserver.Caller {
	t.Helper()
	c, err := w.svc.Caller(context.Background(), keyserver.Identity{Principal: p})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// open creates an operation on key keyID valid for validity.
func (w *eventWorld) open(t *testing.T, keyID string, validity time.Duration) *keyserver.Operation {
	t.Helper()
	op, err := w.svc.CreateOperation(context.Background(), w.caller(t, evOrderer), &keyserver.OperationRequest{
		ValidMS: validity.Milliseconds(), Description: "release build 1.2.3",
		Keys: []keyserver.KeyRequest{{KeyID: keyID, MaxUsageCount: 1}}})
	if err != nil {
		t.Fatalf("CreateOperation: %v", err)
	}
	return op
}

func (w *eventWorld) upkeep(t *testing.T) keyserver.UpkeepReport {
	t.Helper()
	r, err := w.svc.Upkeep(context.Background())
	if err != nil {
		t.Fatalf("Upkeep: %v", err)
	}
	return r
}

func types(evs []keyserver.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Type)
	}
	return out
}

func ids(evs []keyserver.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.ID)
	}
	slices.Sort(out)
	return out
}
