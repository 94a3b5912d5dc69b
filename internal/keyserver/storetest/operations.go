package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"keyserver/internal/keyserver"
)

func testOperationRoundTrip(t *testing.T, s Stores) {
	ctx := context.Background()
	op := newOp(map[string]int{"k1": 3, "fw.key-2_b": 1})
	op.BuildContext = &keyserver.BuildContext{Platform: "github", Repository: "octo/fw – ünïcode", RepositoryID: "4711",
		Ref: "refs/heads/main", SHA: "0123abcd", Workflow: "octo/fw/.github/workflows/release.yml@refs/heads/main",
		JobWorkflow: "octo/shared/.github/workflows/sign.yml@v1", RunID: "42", RunAttempt: "2", Job: "7", Actor: "octocat",
		Event: "push", Environment: "production", RunURL: "https://github.com/octo/fw/actions/runs/42/attempts/2"}
	ev := createEvent(op)
	n := event(op, keyserver.EventCreated, t0)
	n.Operation.BuildContext = op.BuildContext
	if err := s.Ops.CreateOperation(ctx, op, ev, []*keyserver.Event{n}); err != nil {
		t.Fatalf("CreateOperation: %v", err)
	}
	want := normOp(op)
	op.Description, op.Keys[0].MaxUsageCount = "changed by the caller after creating", 99
	got := mustOperation(t, s, op.ID)
	mustSameOp(t, "Operation", got, want)

	got.Description = "changed by the reader"
	got.Keys[0].Approvals = append(got.Keys[0].Approvals, keyserver.Approval{Approver: approver, Time: t0})
	mustSameOp(t, "Operation after the returned copy was changed", mustOperation(t, s, op.ID), want)
	mustSameEventList(t, "UnsentEvents", mustUnsent(t, s, op.ID), []*keyserver.Event{n})
	mustSameEvents(t, s, op.ID, ev)
}

func testCreateTwiceConflicts(t *testing.T, s Stores) {
	ctx := context.Background()
	op := mustCreate(t, s, map[string]int{"k1": 1})
	again := *normOp(op)
	again.Description = "a second operation with the same id"
	err := s.Ops.CreateOperation(ctx, &again, createEvent(&again), []*keyserver.Event{event(&again, keyserver.EventCreated, t0)})
	mustCode(t, err, keyserver.ECONFLICT)
	mustSameOp(t, "Operation after a refused second create", mustOperation(t, s, op.ID), op)
	if ns := mustUnsent(t, s, op.ID); len(ns) != 0 {
		t.Fatalf("a refused create left events %+v", ns)
	}
	mustSameEvents(t, s, op.ID, createEvent(op))
}

func testUnknownIsNotFound(t *testing.T, s Stores) {
	ctx := context.Background()
	// The stores are not empty, so that "unknown" is not "no table yet".
	mustCreate(t, s, map[string]int{"k1": 1})
	if err := s.Keys.PutKey(ctx, &keyserver.Key{KeyID: "k1", HSMKey: "h1"}, keyserver.AuditEvent{}); err != nil {
		t.Fatalf("PutKey: %v", err)
	}
	if err := s.Subjects.PutSubject(ctx, &keyserver.Subject{Principal: requester, Name: "Pipeline"}, keyserver.AuditEvent{}); err != nil {
		t.Fatalf("PutSubject: %v", err)
	}
	unknownOp := keyserver.NewID()
	other := keyserver.Principal{Issuer: requester.Issuer, Subject: "nobody"}
	fnCalled := false
	tests := []struct {
		name string
		call func() error
	}{
		{"Operation", func() error { _, err := s.Ops.Operation(ctx, unknownOp); return err }},
		{"Operation of a malformed id", func() error { _, err := s.Ops.Operation(ctx, "not-an-id"); return err }},
		{"UpdateOperation", func() error {
			_, err := s.Ops.UpdateOperation(ctx, unknownOp, func(*keyserver.Operation) (*keyserver.Update, error) {
				fnCalled = true
				return &keyserver.Update{}, nil
			})
			return err
		}},
		{"Key", func() error { _, err := s.Keys.Key(ctx, "k2"); return err }},
		{"Key of a malformed id", func() error { _, err := s.Keys.Key(ctx, "bad/key"); return err }},
		{"DeleteKey", func() error { return s.Keys.DeleteKey(ctx, "k2", keyserver.AuditEvent{}) }},
		{"Subject", func() error { _, err := s.Subjects.Subject(ctx, other); return err }},
		{"Subject of another issuer", func() error {
			_, err := s.Subjects.Subject(ctx, keyserver.Principal{Issuer: "https://else.example", Subject: requester.Subject})
			return err
		}},
		{"DeleteSubject", func() error { return s.Subjects.DeleteSubject(ctx, other, keyserver.AuditEvent{}) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustCode(t, tt.call(), keyserver.ENOTFOUND)
		})
	}
	if fnCalled {
		t.Fatalf("UpdateOperation of an unknown operation called fn")
	}
}

// approve returns an fn that adds a's approval of keyID, as the domain does:
// to its copy and to the Update.
func approve(keyID string, a keyserver.Approval, u *keyserver.Update) func(*keyserver.Operation) (*keyserver.Update, error) {
	return func(o *keyserver.Operation) (*keyserver.Update, error) {
		g := o.Grant(keyID)
		g.Approvals = append(g.Approvals, a)
		u.Approvals = []keyserver.NewApproval{{KeyID: keyID, Approval: a}}
		return u, nil
	}
}

func testUpdateWrites(t *testing.T, s Stores) {
	tests := []struct {
		name   string
		close  func(o *keyserver.Operation, c *keyserver.Closure)
		action string
		event  string
	}{
		{"reject", func(o *keyserver.Operation, c *keyserver.Closure) { o.Rejected = c }, keyserver.ActionReject, keyserver.EventRejected},
		{"cancel", func(o *keyserver.Operation, c *keyserver.Closure) { o.Cancelled = c }, keyserver.ActionCancel, keyserver.EventCancelled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			op := mustCreate(t, s, map[string]int{"k1": 3})
			a := keyserver.Approval{Approver: approver, Name: "Alice", Time: t0.Add(time.Minute), Comment: "looks right"}
			evA := keyserver.AuditEvent{Time: a.Time, Actor: approver, Action: keyserver.ActionApprove, OperationID: op.ID, KeyID: "k1", Result: "ok"}
			nA := event(op, keyserver.EventApproved, a.Time)
			got, err := s.Ops.UpdateOperation(ctx, op.ID, approve("k1", a, &keyserver.Update{Audit: evA, Events: []*keyserver.Event{nA}}))
			if err != nil {
				t.Fatalf("UpdateOperation approving: %v", err)
			}
			want := normOp(op)
			want.Keys[0].Approvals = []keyserver.Approval{a}
			mustSameOp(t, "UpdateOperation's result", got, want)
			mustSameOp(t, "Operation after approving", mustOperation(t, s, op.ID), want)
			if st := got.Status(t0); st != keyserver.StatusApproved {
				t.Fatalf("status after approving = %s, want approved", st)
			}

			closure := &keyserver.Closure{By: approver2, Time: t0.Add(2 * time.Minute), Reason: "wrong build"}
			evC := keyserver.AuditEvent{Time: closure.Time, Actor: approver2, Action: tt.action, OperationID: op.ID, Result: "ok", Detail: closure.Reason}
			nC := event(op, tt.event, closure.Time)
			got, err = s.Ops.UpdateOperation(ctx, op.ID, func(o *keyserver.Operation) (*keyserver.Update, error) {
				tt.close(o, closure)
				return &keyserver.Update{Audit: evC, Events: []*keyserver.Event{nC}}, nil
			})
			if err != nil {
				t.Fatalf("UpdateOperation closing: %v", err)
			}
			tt.close(want, closure)
			mustSameOp(t, "UpdateOperation's result", got, want)
			if loaded := mustOperation(t, s, op.ID); !loaded.Closed() {
				t.Fatalf("Operation after %s is not closed", tt.name)
			}
			mustSameOp(t, "Operation after closing", mustOperation(t, s, op.ID), want)
			mustSameEventList(t, "UnsentEvents", mustUnsent(t, s, op.ID), []*keyserver.Event{nA, nC})
			mustSameEvents(t, s, op.ID, createEvent(op), evA, evC)
		})
	}
}

func testUpdateFnErrorWritesNothing(t *testing.T, s Stores) {
	ctx := context.Background()
	op := mustCreate(t, s, map[string]int{"k1": 3})
	a := keyserver.Approval{Approver: approver, Time: t0}
	_, err := s.Ops.UpdateOperation(ctx, op.ID, func(o *keyserver.Operation) (*keyserver.Update, error) {
		o.Keys[0].Approvals = append(o.Keys[0].Approvals, a)
		o.Cancelled = &keyserver.Closure{By: requester, Time: t0}
		o.Description = "changed by a failing fn"
		return &keyserver.Update{
			Approvals: []keyserver.NewApproval{{KeyID: "k1", Approval: a}},
			Audit:     keyserver.AuditEvent{Time: t0, Actor: requester, Action: keyserver.ActionCancel, OperationID: op.ID, Result: "ok"},
			Events:    []*keyserver.Event{event(op, keyserver.EventCancelled, t0)},
		}, errFn
	})
	if !errors.Is(err, errFn) {
		t.Fatalf("UpdateOperation error = %v, want fn's error", err)
	}
	mustSameOp(t, "Operation after a failing fn", mustOperation(t, s, op.ID), op)
	if ns := mustUnsent(t, s, op.ID); len(ns) != 0 {
		t.Fatalf("a failing fn left events %+v", ns)
	}
	mustSameEvents(t, s, op.ID, createEvent(op))
}

// testConcurrentUpdates has writers approve one grant at once: none may
// overwrite another's approval. A store may give up with ECONFLICT.
func testConcurrentUpdates(t *testing.T, s Stores) {
	ctx := context.Background()
	op := mustCreate(t, s, map[string]int{"k1": 1})
	const writers = 8
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			p := keyserver.Principal{Issuer: approver.Issuer, Subject: "approver-" + string(rune('a'+i))}
			a := keyserver.Approval{Approver: p, Time: t0.Add(time.Duration(i+1) * time.Second)}
			ev := keyserver.AuditEvent{Time: a.Time, Actor: p, Action: keyserver.ActionApprove, OperationID: op.ID, KeyID: "k1", Result: "ok"}
			_, errs[i] = s.Ops.UpdateOperation(ctx, op.ID, approve("k1", a, &keyserver.Update{Audit: ev}))
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch keyserver.ErrorCode(err) {
		case "":
			ok++
		case keyserver.ECONFLICT:
		default:
			t.Fatalf("concurrent UpdateOperation: %v", err)
		}
	}
	if ok == 0 {
		t.Fatalf("no concurrent UpdateOperation succeeded: %v", errs)
	}
	if got := len(mustOperation(t, s, op.ID).Keys[0].Approvals); got != ok {
		t.Fatalf("%d approvals stored, want the %d of the updates that succeeded", got, ok)
	}
	if evs := mustEvents(t, s, op.ID); evs != nil && len(evs) != 1+ok {
		t.Fatalf("%d events stored, want 1 create and %d approvals", len(evs), ok)
	}
}

func testListOperations(t *testing.T, s Stores) {
	ctx := context.Background()
	open := mustCreate(t, s, map[string]int{"k1": 2})
	closed := mustCreate(t, s, map[string]int{"k1": 1})
	if _, err := s.Ops.UpdateOperation(ctx, closed.ID, func(o *keyserver.Operation) (*keyserver.Update, error) {
		o.Cancelled = &keyserver.Closure{By: requester, Time: t0}
		return &keyserver.Update{Audit: keyserver.AuditEvent{Time: t0, Actor: requester, Action: keyserver.ActionCancel, OperationID: o.ID, Result: "ok"}}, nil
	}); err != nil {
		t.Fatalf("cancelling: %v", err)
	}
	expired := newOp(map[string]int{"k1": 1})
	expired.Expires = t0.Add(time.Minute)
	if err := s.Ops.CreateOperation(ctx, expired, createEvent(expired), nil); err != nil {
		t.Fatalf("CreateOperation: %v", err)
	}
	if _, err := s.Ops.ReserveUse(ctx, open.ID, "k1", 2); err != nil {
		t.Fatalf("ReserveUse: %v", err)
	}

	older := newOp(map[string]int{"k1": 1})
	older.Created, older.Expires = t0.Add(-48*time.Hour), t0.Add(time.Hour)
	if err := s.Ops.CreateOperation(ctx, older, createEvent(older), nil); err != nil {
		t.Fatalf("CreateOperation: %v", err)
	}
	stored := map[string]bool{open.ID: true, closed.ID: true, expired.ID: true, older.ID: true}

	tests := []struct {
		name   string
		filter keyserver.OperationFilter
		must   []string // the store may return more, but only stored operations
	}{
		{"no filter: every open one, expired or not", keyserver.OperationFilter{}, []string{open.ID, expired.ID, older.ID}},
		{"open at", keyserver.OperationFilter{OpenAt: t0.Add(30 * time.Minute)}, []string{open.ID, older.ID}},
		{"open at, naming a key", keyserver.OperationFilter{OpenAt: t0.Add(30 * time.Minute), KeyIDs: []string{"k0", "k1"}}, []string{open.ID, older.ID}},
		{"created since", keyserver.OperationFilter{CreatedSince: t0.Add(-time.Hour)}, []string{open.ID, closed.ID, expired.ID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ops, err := s.Ops.ListOperations(ctx, tt.filter)
			if err != nil {
				t.Fatalf("ListOperations: %v", err)
			}
			got := map[string]bool{}
			for _, op := range ops {
				if !stored[op.ID] || got[op.ID] {
					t.Fatalf("ListOperations returned %s, unknown or twice", op.ID)
				}
				got[op.ID] = true
				mustSameOp(t, "listed operation", op, mustOperation(t, s, op.ID))
				if op.ID == open.ID && op.Keys[0].UsageCount != 1 {
					t.Fatalf("listed usage count = %d, want 1", op.Keys[0].UsageCount)
				}
			}
			for _, id := range tt.must {
				if !got[id] {
					t.Fatalf("ListOperations(%+v) left out %s; returned %d operations", tt.filter, id, len(ops))
				}
			}
		})
	}
}

func testSigningLoader(t *testing.T, s Stores) {
	l, ok := s.Ops.(keyserver.SigningLoader)
	if !ok {
		t.Logf("%T is no keyserver.SigningLoader: nothing to check", s.Ops)
		return
	}
	ctx := context.Background()
	op := mustCreate(t, s, map[string]int{"k1": 2, "k2": 1})
	a := keyserver.Approval{Approver: approver, Name: "Alice", Time: t0.Add(time.Minute)}
	if _, err := s.Ops.UpdateOperation(ctx, op.ID, approve("k1", a, &keyserver.Update{Audit: keyserver.AuditEvent{Time: a.Time, Actor: approver, Action: keyserver.ActionApprove, OperationID: op.ID, Result: "ok"}})); err != nil {
		t.Fatalf("UpdateOperation: %v", err)
	}
	mustReserve(t, s, op.ID, "k1", 2)
	got, err := l.OperationForSigning(ctx, op.ID)
	if err != nil {
		t.Fatalf("OperationForSigning: %v", err)
	}
	want := mustOperation(t, s, op.ID)
	if want.Keys[0].UsageCount != 1 {
		t.Fatalf("Operation counts %d uses, want 1", want.Keys[0].UsageCount)
	}
	mustSameOp(t, "OperationForSigning", countApprovals(got), countApprovals(want))
	if !got.Keys[0].Approved() || got.Keys[1].Approved() {
		t.Fatalf("OperationForSigning: k1 approved %v, k2 approved %v; want true, false", got.Keys[0].Approved(), got.Keys[1].Approved())
	}
	mustReserve(t, s, op.ID, "k1", 2)
	got, err = l.OperationForSigning(ctx, op.ID)
	if err != nil || got.Keys[0].UsageCount != 2 {
		t.Fatalf("OperationForSigning after a second use = %+v, %v; want 2 uses of k1", got, err)
	}
	for _, id := range []string{keyserver.NewID(), "not-an-id"} {
		_, err := l.OperationForSigning(ctx, id)
		mustCode(t, err, keyserver.ENOTFOUND)
	}
}

// countApprovals returns a copy of op whose grants keep only the number of
// their approvals, as a SigningLoader may.
func countApprovals(op *keyserver.Operation) *keyserver.Operation {
	c := normOp(op)
	for _, g := range c.Keys {
		g.ApprovalCount, g.Approvals = max(g.ApprovalCount, len(g.Approvals)), []keyserver.Approval{}
	}
	return c
}
