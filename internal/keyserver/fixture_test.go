package keyserver_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"keyserver/internal/keyserver"
	"keyserver/internal/keyserver/memhsm"
	"keyserver/internal/keyserver/memstore"
)

// fakeClock is the injectable clock: tests move it, nothing sleeps.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const testIssuer = "https://issuer.test"

func mustDo(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

func principal(name string) keyserver.Principal {
	return keyserver.Principal{Issuer: testIssuer, Subject: name}
}

// testKeyring is what the fixture registers: key id, HSM key, required approvals, enabled.
var testKeyring = []struct {
	id, hsm   string
	approvals int
	enabled   bool
}{
	{"key1", "rsa2048", 0, true},
	{"key2", "p256", 1, true},
	{"key3", "rsa2048", 2, true},
	{"key4", "p384", 1, true},
	{"ec256", "p256", 0, true},
	{"ec384", "p384", 0, true},
	{"ec521", "p521", 0, true},
	{"off", "rsa2048", 0, false},
}

// testSubjects are the registered subjects and their roles.
var testSubjects = map[string][]string{
	"admin":      {keyserver.RoleAdmin},
	"auditor":    {keyserver.RoleAuditor},
	"orderer":    {"orderer:*"},
	"orderer1":   {"orderer:key1"},
	"orderer2":   {"orderer:key2"},
	"ordapp":     {"orderer:*", "approver:*"},
	"approver2":  {"approver:key2"},
	"approver3a": {"approver:key3"},
	"approver3b": {"approver:key3"},
	"approver4":  {"approver:key4"},
	"approvers":  {"approver:*"},
	"nobody":     {},
}

type fixture struct {
	svc   *keyserver.Service
	store *memstore.Store
	hsm   *memhsm.HSM
	notes *recordingPublisher
	clock *fakeClock
}

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	f := &fixture{
		store: memstore.New(),
		hsm:   memhsm.New(),
		notes: &recordingPublisher{},
		clock: &fakeClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)},
	}
	for _, k := range testKeyring {
		mustDo(tb, f.store.PutKey(context.Background(), &keyserver.Key{KeyID: k.id, HSMKey: k.hsm, RequiredApprovals: k.approvals, Enabled: k.enabled}, keyserver.AuditEvent{}))
	}
	for name, roles := range testSubjects {
		p := principal(name)
		mustDo(tb, f.store.PutSubject(context.Background(), &keyserver.Subject{Principal: p, Name: "Name of " + name, Roles: roles}, keyserver.AuditEvent{}))
	}
	f.svc = &keyserver.Service{
		Ops: f.store, Keys: f.store, Subjects: f.store, Policies: f.store, Audit: f.store, Publisher: f.notes,
		HSM:             keyserver.Verified(f.hsm),
		Limits:          keyserver.DefaultLimits,
		BootstrapAdmins: []keyserver.Principal{principal("boot")},
		Now:             f.clock.Now,
		PublicURL:       "https://ks.example",
		Retention:       90 * 24 * time.Hour,
		Log:             slog.New(slog.DiscardHandler),
	}
	return f
}

func (f *fixture) mustCaller(tb testing.TB, name string) keyserver.Caller {
	tb.Helper()
	c, err := f.svc.Caller(context.Background(), keyserver.Identity{Principal: principal(name)})
	if err != nil {
		tb.Fatalf("Caller(%s): %v", name, err)
	}
	return c
}

func kr(id string, n int) keyserver.KeyRequest {
	return keyserver.KeyRequest{KeyID: id, MaxUsageCount: n}
}

func request(keys ...keyserver.KeyRequest) *keyserver.OperationRequest {
	return &keyserver.OperationRequest{ValidMS: 60000, Description: "Build firmware 1.2.3", Keys: keys}
}

// mustCreate opens an operation for who, valid for one minute.
func (f *fixture) mustCreate(tb testing.TB, who string, keys ...keyserver.KeyRequest) *keyserver.Operation {
	tb.Helper()
	op, err := f.svc.CreateOperation(context.Background(), f.mustCaller(tb, who), request(keys...))
	if err != nil {
		tb.Fatalf("CreateOperation by %s: %v", who, err)
	}
	return op
}

func (f *fixture) mustApprove(tb testing.TB, who, id string) *keyserver.Operation {
	tb.Helper()
	op, err := f.svc.Approve(context.Background(), f.mustCaller(tb, who), id, "looks good")
	if err != nil {
		tb.Fatalf("Approve by %s: %v", who, err)
	}
	return op
}

func (f *fixture) mustOperation(tb testing.TB, id string) *keyserver.Operation {
	tb.Helper()
	op, err := f.store.Operation(context.Background(), id)
	if err != nil {
		tb.Fatalf("reading operation %s: %v", id, err)
	}
	return op
}

func wantCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := keyserver.ErrorCode(err); got != code {
		tb.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

// lastEvent returns the last audit event of an operation.
func (f *fixture) lastEvent(tb testing.TB, opID string) keyserver.AuditEvent {
	tb.Helper()
	evs := f.store.Events(opID)
	if len(evs) == 0 {
		tb.Fatalf("operation %s has no audit events", opID)
	}
	return evs[len(evs)-1]
}
