package keyserver_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"keyserver/internal/keyserver"
)

func TestServiceCaller(t *testing.T) {
	down := keyserver.Errorf(keyserver.EUNAVAILABLE, "Table Storage is down.")
	tests := []struct {
		name      string
		who       string
		fault     error
		wantCode  string
		wantRoles []string
	}{
		{"bootstrap admin", "boot", nil, "", []string{keyserver.RoleAdmin}},
		{"registered", "ordapp", nil, "", []string{"orderer:*", "approver:*"}},
		{"registered without roles", "nobody", nil, "", nil},
		{"unregistered", "stranger", nil, keyserver.EFORBIDDEN, nil},
		{"store down", "ordapp", down, keyserver.EUNAVAILABLE, nil},
		{"store down for a bootstrap admin", "boot", down, keyserver.EUNAVAILABLE, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.store.Fail("Subject", tt.fault)
			c, err := f.svc.Caller(context.Background(), keyserver.Identity{Principal: principal(tt.who)})
			if tt.wantCode != "" {
				wantCode(t, err, tt.wantCode)
				return
			}
			if err != nil {
				t.Fatalf("Caller: %v", err)
			}
			if c.Principal != principal(tt.who) || !slices.Equal(c.Roles, tt.wantRoles) {
				t.Fatalf("Caller = %+v, want roles %v", c, tt.wantRoles)
			}
		})
	}
}

func TestCallerCacheExpiresWithTheClock(t *testing.T) {
	f := newFixture(t)
	f.svc.CacheTTL = time.Minute
	ctx := context.Background()
	f.mustCaller(t, "orderer1")
	f.store.ChangeSubject(principal("orderer1"), func(s *keyserver.Subject) { s.Roles = []string{"orderer:key2"} })
	f.clock.Advance(59 * time.Second)
	if c := f.mustCaller(t, "orderer1"); !c.CanOrder("key1") {
		t.Fatalf("roles were reloaded before the TTL passed: %v", c.Roles)
	}
	f.clock.Advance(time.Second)
	if c := f.mustCaller(t, "orderer1"); c.CanOrder("key1") || !c.CanOrder("key2") {
		t.Fatalf("roles were not reloaded after the TTL: %v", c.Roles)
	}

	// Errors are not cached.
	f.store.Fail("Subject", keyserver.Errorf(keyserver.EUNAVAILABLE, "down"))
	if _, err := f.svc.Caller(ctx, keyserver.Identity{Principal: principal("orderer2")}); keyserver.ErrorCode(err) != keyserver.EUNAVAILABLE {
		t.Fatalf("Caller with the store down: %v", err)
	}
	f.store.Fail("Subject", nil)
	f.mustCaller(t, "orderer2")

	// Keys are cached the same way: a key that appears is unknown until the TTL passes.
	c := f.mustCaller(t, "admin")
	if _, err := f.svc.CreateOperation(ctx, c, request(kr("late", 1))); keyserver.ErrorCode(err) != keyserver.ENOTFOUND {
		t.Fatalf("CreateOperation with an unknown key: %v", err)
	}
	mustDo(t, f.store.PutKey(ctx, &keyserver.Key{KeyID: "late", HSMKey: "p256", Enabled: true}, keyserver.AuditEvent{}))
	if _, err := f.svc.CreateOperation(ctx, c, request(kr("key1", 1))); err != nil {
		t.Fatalf("CreateOperation: %v", err)
	}
	f.clock.Advance(time.Minute)
	if _, err := f.svc.CreateOperation(ctx, c, request(kr("late", 1))); err != nil {
		t.Fatalf("CreateOperation after the key cache expired: %v", err)
	}
}

func TestCreateOperationRefusals(t *testing.T) {
	tests := []struct {
		name     string
		who      string
		req      *keyserver.OperationRequest
		wantCode string
		wantMsg  string
	}{
		{"unknown key", "admin", request(kr("key1", 1), kr("nokey", 1)), keyserver.ENOTFOUND, `"nokey"`},
		{"no orderer right", "orderer1", request(kr("key1", 1), kr("key2", 1)), keyserver.ENOTFOUND, `"key2"`},
		{"approver only", "approvers", request(kr("key2", 1)), keyserver.ENOTFOUND, `"key2"`},
		{"auditor", "auditor", request(kr("key1", 1)), keyserver.ENOTFOUND, `"key1"`},
		{"disabled key", "orderer", request(kr("off", 1)), keyserver.EINVALID, `"off"`},
		{"bad request", "orderer", &keyserver.OperationRequest{ValidMS: 0, Description: "Build firmware", Keys: []keyserver.KeyRequest{kr("key1", 1)}}, keyserver.EINVALID, "validms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			_, err := f.svc.CreateOperation(context.Background(), f.mustCaller(t, tt.who), tt.req)
			wantCode(t, err, tt.wantCode)
			if msg := keyserver.ErrorMessage(err); !strings.Contains(msg, tt.wantMsg) {
				t.Fatalf("message %q does not name %s", msg, tt.wantMsg)
			}
			if n := f.store.OpCount(); n != 0 {
				t.Fatalf("a refused request wrote %d operations", n)
			}
			if n := len(f.notes.events()); n != 0 {
				t.Fatalf("a refused request sent %d notifications", n)
			}
		})
	}
}

// TestCreateOperationUnknownAndForbiddenKeysLookAlike is issue 8's defect 6:
// whether a key the caller may not order exists must not show.
func TestCreateOperationUnknownAndForbiddenKeysLookAlike(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	orderer1 := f.mustCaller(t, "orderer1")
	_, forbidden := f.svc.CreateOperation(ctx, orderer1, request(kr("key2", 1)))
	_, unknown := f.svc.CreateOperation(ctx, orderer1, request(kr("nokey", 1)))
	if keyserver.ErrorCode(forbidden) != keyserver.ErrorCode(unknown) ||
		strings.ReplaceAll(keyserver.ErrorMessage(forbidden), "key2", "nokey") != keyserver.ErrorMessage(unknown) {
		t.Fatalf("a forbidden key gets %v, an unknown one %v", forbidden, unknown)
	}
}

func TestCreateOperation(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.mustCaller(t, "orderer")
	op, err := f.svc.CreateOperation(ctx, c, request(kr("key1", 2), kr("key3", 5)))
	if err != nil {
		t.Fatalf("CreateOperation: %v", err)
	}
	if !keyserver.ValidID(op.ID) || op.Requester != c.Principal || !op.Expires.Equal(f.clock.Now().Add(time.Minute)) {
		t.Fatalf("operation = %+v", op)
	}
	if g := op.Grant("key3"); g == nil || g.RequiredApprovals != 2 || g.MaxUsageCount != 5 || g.UsageCount != 0 {
		t.Fatalf("grant of key3 = %+v", g)
	}
	// The operation keeps the approvals its keys required when it was created.
	f.store.ChangeKey("key3", func(k *keyserver.Key) { k.RequiredApprovals = 0 })
	if got := f.mustOperation(t, op.ID); got.Grant("key3").RequiredApprovals != 2 || got.Status(f.clock.Now()) != keyserver.StatusPending {
		t.Fatalf("stored operation = %+v", got)
	}
	ev := f.lastEvent(t, op.ID)
	if ev.Action != keyserver.ActionCreate || ev.Actor != c.Principal || ev.Result != "ok" || ev.OperationID != op.ID {
		t.Fatalf("audit event = %+v", ev)
	}
	if got, want := f.notes.events(), []string{keyserver.EventCreated + " " + op.ID}; !slices.Equal(got, want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
	if n := f.store.Unsent(op.ID); len(n) != 0 {
		t.Fatalf("%d published events are not marked so", len(n))
	}

	// An operation that needs no approval is created approved, and says so.
	op2, err := f.svc.CreateOperation(ctx, c, request(kr("key1", 1)))
	if err != nil {
		t.Fatalf("CreateOperation: %v", err)
	}
	evs := f.notes.published()
	if op2.Status(f.clock.Now()) != keyserver.StatusApproved || len(evs) != 2 || evs[1].Operation.Status != keyserver.StatusApproved || len(evs[1].Approvers) != 0 {
		t.Fatalf("status %s, events %+v", op2.Status(f.clock.Now()), evs)
	}
}

func TestCreateOperationKeepsUnpublishedEvents(t *testing.T) {
	f := newFixture(t)
	f.notes.fail(keyserver.Errorf(keyserver.EUNAVAILABLE, "Service Bus is down."))
	ctx := context.Background()
	req := request(kr("key2", 1))
	req.ValidMS = time.Hour.Milliseconds() // no reminder in this test
	op, err := f.svc.CreateOperation(ctx, f.mustCaller(t, "orderer"), req)
	if err != nil {
		t.Fatalf("CreateOperation: %v", err)
	}
	if n := f.store.Unsent(op.ID); len(n) != 1 {
		t.Fatalf("%d unsent events, want 1", len(n))
	}
	f.clock.Advance(keyserver.UnsentGrace + time.Second)
	if r, err := f.svc.Upkeep(ctx); r.Republished != 0 || err == nil {
		t.Fatalf("Upkeep while Service Bus is down = %v, %v; want nothing republished and an error", r, err)
	}
	f.notes.fail(nil)
	if r, err := f.svc.Upkeep(ctx); r.Republished != 1 || err != nil {
		t.Fatalf("Upkeep = %v, %v; want 1 republished", r, err)
	}
	if got, want := f.notes.events(), []string{keyserver.EventCreated + " " + op.ID}; !slices.Equal(got, want) {
		t.Fatalf("published %v, want %v", got, want)
	}
	if r, err := f.svc.Upkeep(ctx); r.Republished != 0 || err != nil || len(f.store.Unsent(op.ID)) != 0 {
		t.Fatalf("a second Upkeep = %v, %v, unsent %v; want nothing left", r, err, f.store.Unsent(op.ID))
	}
}

func TestApprove(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	op := f.mustCreate(t, "ordapp", kr("key2", 1), kr("key3", 1), kr("key4", 1))

	// The requester may approve keys in general but never its own operation.
	_, err := f.svc.Approve(ctx, f.mustCaller(t, "ordapp"), op.ID, "")
	wantCode(t, err, keyserver.EFORBIDDEN)

	// approver2 approves key2 only.
	got := f.mustApprove(t, "approver2", op.ID)
	if n := len(got.Grant("key2").Approvals); n != 1 || len(got.Grant("key3").Approvals) != 0 || len(got.Grant("key4").Approvals) != 0 {
		t.Fatalf("approvals after approver2: %+v", got.Keys)
	}
	a := got.Grant("key2").Approvals[0]
	if a.Approver != principal("approver2") || a.Name != "Name of approver2" || a.Comment != "looks good" || !a.Time.Equal(f.clock.Now()) {
		t.Fatalf("approval = %+v", a)
	}
	if ev := f.lastEvent(t, op.ID); ev.Action != keyserver.ActionApprove || ev.Actor != principal("approver2") || ev.Result != "ok" {
		t.Fatalf("audit event = %+v", ev)
	}
	// A second approval by the same approver counts nothing.
	_, err = f.svc.Approve(ctx, f.mustCaller(t, "approver2"), op.ID, "")
	wantCode(t, err, keyserver.ECONFLICT)

	// key3 needs two distinct approvers; the first leaves it pending.
	f.mustApprove(t, "approver3a", op.ID)
	_, err = f.svc.Approve(ctx, f.mustCaller(t, "approver3a"), op.ID, "")
	wantCode(t, err, keyserver.ECONFLICT)
	f.mustApprove(t, "approver4", op.ID)
	if st := f.mustOperation(t, op.ID).Status(f.clock.Now()); st != keyserver.StatusPending {
		t.Fatalf("status with one of two approvals on key3 = %s", st)
	}
	before := len(f.notes.events())
	got = f.mustApprove(t, "approver3b", op.ID)
	if st := got.Status(f.clock.Now()); st != keyserver.StatusApproved {
		t.Fatalf("status after all approvals = %s", st)
	}
	if n := len(got.Grant("key3").Approvals); n != 2 {
		t.Fatalf("key3 has %d approvals, want 2", n)
	}
	events := f.notes.events()
	if len(events) != before+1 || events[len(events)-1] != keyserver.EventApproved+" "+op.ID {
		t.Fatalf("events = %v, want a last %s", events, keyserver.EventApproved)
	}
	// Nothing is left to approve.
	_, err = f.svc.Approve(ctx, f.mustCaller(t, "approvers"), op.ID, "")
	wantCode(t, err, keyserver.ECONFLICT)
}

func TestApproveWithAKeyWildcardCoversEveryKey(t *testing.T) {
	f := newFixture(t)
	op := f.mustCreate(t, "orderer", kr("key2", 1), kr("key4", 1), kr("key1", 1))
	got := f.mustApprove(t, "approvers", op.ID)
	if st := got.Status(f.clock.Now()); st != keyserver.StatusApproved {
		t.Fatalf("status = %s", st)
	}
	if n := len(got.Grant("key1").Approvals); n != 0 {
		t.Fatalf("key1, which needs no approval, got %d", n)
	}
}

func TestApproveRefusals(t *testing.T) {
	tests := []struct {
		name    string
		who     string
		setup   func(tb testing.TB, f *fixture, id string)
		comment string
		want    string
	}{
		{"stranger", "approver4", nil, "", keyserver.ENOTFOUND},
		{"orderer not requester", "orderer2", nil, "", keyserver.ENOTFOUND},
		{"auditor", "auditor", nil, "", keyserver.EFORBIDDEN},
		{"requester", "orderer", nil, "", keyserver.EFORBIDDEN},
		{"expired", "approver2", func(tb testing.TB, f *fixture, id string) { f.clock.Advance(time.Minute) }, "", keyserver.ECONFLICT},
		{"rejected", "approver2", func(tb testing.TB, f *fixture, id string) { f.mustReject(tb, id) }, "", keyserver.ECONFLICT},
		{"cancelled", "approver2", func(tb testing.TB, f *fixture, id string) { f.mustCancel(tb, id) }, "", keyserver.ECONFLICT},
		{"comment too long", "approver2", nil, strings.Repeat("c", 1025), keyserver.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			op := f.mustCreate(t, "orderer", kr("key2", 1))
			if tt.setup != nil {
				tt.setup(t, f, op.ID)
			}
			before := f.store.Events(op.ID)
			_, err := f.svc.Approve(context.Background(), f.mustCaller(t, tt.who), op.ID, tt.comment)
			wantCode(t, err, tt.want)
			if got := f.mustOperation(t, op.ID); len(got.Grant("key2").Approvals) != 0 {
				t.Fatalf("a refused approval was written: %+v", got.Grant("key2"))
			}
			if n := len(f.store.Events(op.ID)); n != len(before) {
				t.Fatalf("a refused approval wrote %d audit events", n-len(before))
			}
		})
	}
}

func (f *fixture) mustReject(tb testing.TB, id string) {
	tb.Helper()
	if _, err := f.svc.Reject(context.Background(), f.mustCaller(tb, "admin"), id, "wrong build"); err != nil {
		tb.Fatalf("Reject: %v", err)
	}
}

func (f *fixture) mustCancel(tb testing.TB, id string) {
	tb.Helper()
	if _, err := f.svc.Cancel(context.Background(), f.mustCaller(tb, "admin"), id); err != nil {
		tb.Fatalf("Cancel: %v", err)
	}
}

// TestUnknownAndUnreadableOperationsLookAlike checks that existence does not leak.
func TestUnknownAndUnreadableOperationsLookAlike(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	op := f.mustCreate(t, "orderer", kr("key2", 1))
	stranger := f.mustCaller(t, "approver4")
	unknown := keyserver.NewID()
	calls := map[string]func(id string) error{
		"Operation": func(id string) error { _, err := f.svc.Operation(ctx, stranger, id); return err },
		"Approve":   func(id string) error { _, err := f.svc.Approve(ctx, stranger, id, ""); return err },
		"Reject":    func(id string) error { _, err := f.svc.Reject(ctx, stranger, id, "no"); return err },
		"Cancel":    func(id string) error { _, err := f.svc.Cancel(ctx, stranger, id); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			errExisting, errUnknown := call(op.ID), call(unknown)
			wantCode(t, errExisting, keyserver.ENOTFOUND)
			wantCode(t, errUnknown, keyserver.ENOTFOUND)
			mExisting := strings.ReplaceAll(keyserver.ErrorMessage(errExisting), op.ID, "ID")
			mUnknown := strings.ReplaceAll(keyserver.ErrorMessage(errUnknown), unknown, "ID")
			if mExisting != mUnknown {
				t.Fatalf("messages differ: %q for an existing operation, %q for an unknown one", mExisting, mUnknown)
			}
		})
	}
}
