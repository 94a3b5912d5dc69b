package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"keyserver/internal/keyserver"
)

func mustMarkPublished(tb testing.TB, s Stores, opID string, ids ...string) {
	tb.Helper()
	if err := s.Ops.MarkPublished(context.Background(), opID, ids); err != nil {
		tb.Fatalf("MarkPublished(%s, %v): %v", opID, ids, err)
	}
}

// mustEmit stores an update that changes nothing of op but writes evs.
func mustEmit(tb testing.TB, s Stores, op *keyserver.Operation, evs ...*keyserver.Event) {
	tb.Helper()
	audit := keyserver.AuditEvent{Time: evs[0].Time, Actor: requester, Action: keyserver.ActionAdmin, OperationID: op.ID, Result: "ok"}
	if _, err := s.Ops.UpdateOperation(context.Background(), op.ID, func(*keyserver.Operation) (*keyserver.Update, error) {
		return &keyserver.Update{Audit: audit, Events: evs}, nil
	}); err != nil {
		tb.Fatalf("UpdateOperation emitting: %v", err)
	}
}

func testUnsentAndPublished(t *testing.T, s Stores) {
	ctx := context.Background()
	op := newOp(map[string]int{"k1": 1})
	e1 := event(op, keyserver.EventCreated, t0)
	if err := s.Ops.CreateOperation(ctx, op, createEvent(op), []*keyserver.Event{e1}); err != nil {
		t.Fatalf("CreateOperation: %v", err)
	}
	e2, e3 := event(op, keyserver.EventApproval, t0.Add(time.Minute)), event(op, keyserver.EventApproved, t0.Add(time.Minute))
	mustEmit(t, s, op, e2, e3) // two events in one change
	quiet := mustCreate(t, s, map[string]int{"k1": 1})

	mustSameEventList(t, "UnsentEvents", mustUnsent(t, s, op.ID), []*keyserver.Event{e1, e2, e3})
	mustSameEventList(t, "UnsentEvents of an operation without any", mustUnsent(t, s, quiet.ID), nil)

	mustMarkPublished(t, s, op.ID, e1.ID)
	mustSameEventList(t, "UnsentEvents after one is published", mustUnsent(t, s, op.ID), []*keyserver.Event{e2, e3})
	mustMarkPublished(t, s, op.ID, e1.ID)                         // a second publication marks again
	mustMarkPublished(t, s, keyserver.NewID(), keyserver.NewID()) // and one of nothing is no error
	mustSameEventList(t, "UnsentEvents after marking twice", mustUnsent(t, s, op.ID), []*keyserver.Event{e2, e3})
	mustMarkPublished(t, s, op.ID, e2.ID, e3.ID)
	mustSameEventList(t, "UnsentEvents after all are published", mustUnsent(t, s, op.ID), nil)
}

func testUnsentOldestFirst(t *testing.T, s Stores) {
	up := upkeepStore(t, s)
	a, b := mustCreate(t, s, map[string]int{"k1": 1}), mustCreate(t, s, map[string]int{"k1": 1})
	// Written out of order, so that "oldest first" is the store's doing.
	a2 := event(a, keyserver.EventApproved, t0.Add(3*time.Minute))
	b1 := event(b, keyserver.EventCreated, t0.Add(1*time.Minute))
	a1 := event(a, keyserver.EventCreated, t0.Add(2*time.Minute))
	for _, x := range []struct {
		op *keyserver.Operation
		ev *keyserver.Event
	}{{a, a2}, {b, b1}, {a, a1}} {
		mustEmit(t, s, x.op, x.ev)
	}
	unsent := func(before time.Time, limit int) []*keyserver.Event {
		t.Helper()
		evs, err := up.UnsentEvents(context.Background(), before, limit)
		if err != nil {
			t.Fatalf("UnsentEvents: %v", err)
		}
		return evs
	}
	mustSameEventList(t, "UnsentEvents", unsent(farFuture, 100), []*keyserver.Event{b1, a1, a2})
	mustSameEventList(t, "UnsentEvents written before t0+2m30s", unsent(t0.Add(150*time.Second), 100), []*keyserver.Event{b1, a1})
	mustSameEventList(t, "UnsentEvents, at most 2", unsent(farFuture, 2), []*keyserver.Event{b1, a1})
	mustMarkPublished(t, s, a.ID, a1.ID)
	mustSameEventList(t, "UnsentEvents after a1 is published", unsent(farFuture, 100), []*keyserver.Event{b1, a2})
}

// closeOp cancels op at at.
func closeOp(tb testing.TB, s Stores, op *keyserver.Operation, at time.Time) {
	tb.Helper()
	op.Cancelled = &keyserver.Closure{By: requester, Time: at}
	if _, err := s.Ops.UpdateOperation(context.Background(), op.ID, func(o *keyserver.Operation) (*keyserver.Update, error) {
		o.Cancelled = &keyserver.Closure{By: requester, Time: at}
		return &keyserver.Update{Audit: keyserver.AuditEvent{Time: at, Actor: requester, Action: keyserver.ActionCancel, OperationID: o.ID, Result: "ok"},
			Events: []*keyserver.Event{event(o, keyserver.EventCancelled, at)}}, nil
	}); err != nil {
		tb.Fatalf("cancelling: %v", err)
	}
}

func mustDue(tb testing.TB, s Stores, now time.Time, want ...*keyserver.Operation) {
	tb.Helper()
	got, err := upkeepStore(tb, s).DueOperations(context.Background(), now, 100)
	if err != nil {
		tb.Fatalf("DueOperations: %v", err)
	}
	var ids []string
	for _, op := range want {
		ids = append(ids, op.ID)
	}
	slices.Sort(ids)
	slices.Sort(got)
	if !slices.Equal(got, ids) {
		tb.Fatalf("DueOperations at %v = %v, want %v", now, got, ids)
	}
}

// mustFlag stores an upkeep change of op: set sets its flag.
func mustFlag(tb testing.TB, s Stores, op *keyserver.Operation, at time.Time, action string, set func(*keyserver.Operation)) {
	tb.Helper()
	if _, err := s.Ops.UpdateOperation(context.Background(), op.ID, func(o *keyserver.Operation) (*keyserver.Update, error) {
		set(o)
		return &keyserver.Update{Audit: keyserver.AuditEvent{Time: at, Action: action, OperationID: o.ID, Result: "ok"}}, nil
	}); err != nil {
		tb.Fatalf("%s: %v", action, err)
	}
}

// testDueOperations: an open operation is due at half its validity while
// pending and not reminded, then at its expiry until it is noted; a closed
// one never. A settled store agrees with the operations as they are.
func testDueOperations(t *testing.T, s Stores) {
	up := upkeepStore(t, s)
	ctx := context.Background()
	pending := mustCreate(t, s, map[string]int{"k1": 1}) // valid from t0 for an hour
	closed := mustCreate(t, s, map[string]int{"k1": 1})
	closeOp(t, s, closed, t0.Add(time.Minute))
	mustDue(t, s, t0.Add(29*time.Minute))
	mustDue(t, s, t0.Add(30*time.Minute), pending)

	// Once reminded, it is due at its expiry only.
	mustFlag(t, s, pending, t0.Add(30*time.Minute), keyserver.ActionRemind, func(o *keyserver.Operation) { o.Reminded = true })
	if got := mustOperation(t, s, pending.ID); !got.Reminded || got.ExpiryNoted {
		t.Fatalf("flags after reminding: reminded %v, expiry noted %v", got.Reminded, got.ExpiryNoted)
	}
	if err := up.Settle(ctx, pending.ID, t0.Add(30*time.Minute)); err != nil {
		t.Fatalf("Settle: %v", err)
	}
	mustDue(t, s, t0.Add(59*time.Minute))
	mustDue(t, s, t0.Add(61*time.Minute), pending)

	// Once its expiry is noted, never again; it finished at its expiry.
	mustFlag(t, s, pending, t0.Add(61*time.Minute), keyserver.ActionExpire, func(o *keyserver.Operation) { o.ExpiryNoted = true })
	mustDue(t, s, farFuture)
	for _, id := range []string{pending.ID, closed.ID, keyserver.NewID()} {
		if err := up.Settle(ctx, id, t0.Add(2*time.Hour)); err != nil {
			t.Fatalf("Settle(%s): %v", id, err)
		}
	}
	mustDue(t, s, farFuture)
}

func mustFinished(tb testing.TB, s Stores, cutoff time.Time, want ...*keyserver.Operation) {
	tb.Helper()
	done, err := upkeepStore(tb, s).FinishedBefore(context.Background(), cutoff, 100)
	if err != nil {
		tb.Fatalf("FinishedBefore: %v", err)
	}
	var got, ids []string
	for _, f := range done {
		got = append(got, f.ID+" "+normTime(f.At).String())
	}
	for _, op := range want {
		at, _ := op.Finished()
		ids = append(ids, op.ID+" "+normTime(at).String())
	}
	if !slices.Equal(got, ids) {
		tb.Fatalf("FinishedBefore(%v) = %v, want %v (oldest first)", cutoff, got, ids)
	}
}

// testFinishedAndDeleted: a closed operation finished when it was closed;
// deleting it keeps its audit events; deleting twice is no error.
func testFinishedAndDeleted(t *testing.T, s Stores) {
	up := upkeepStore(t, s)
	ctx := context.Background()
	open := mustCreate(t, s, map[string]int{"k1": 1})
	early, late := mustCreate(t, s, map[string]int{"k1": 1}), mustCreate(t, s, map[string]int{"k1": 1})
	closeOp(t, s, early, t0.Add(time.Minute))
	closeOp(t, s, late, t0.Add(time.Hour))
	mustFinished(t, s, t0.Add(time.Minute))
	mustFinished(t, s, t0.Add(time.Minute+Precision), early)
	mustFinished(t, s, farFuture, early, late)
	mustFinished(t, s, farFuture, early, late) // reading changes nothing

	events := mustEvents(t, s, early.ID)
	done := keyserver.Finished{ID: early.ID, At: t0.Add(time.Minute)}
	if err := up.DeleteOperation(ctx, done); err != nil {
		t.Fatalf("DeleteOperation: %v", err)
	}
	if err := up.DeleteOperation(ctx, done); err != nil {
		t.Fatalf("DeleteOperation again: %v", err)
	}
	if _, err := s.Ops.Operation(ctx, early.ID); !isNotFound(err) {
		t.Fatalf("Operation after DeleteOperation = %v, want not found", err)
	}
	if _, ok := s.Ops.(EventReader); ok {
		mustSameEvents(t, s, early.ID, events...)
	}
	mustFinished(t, s, farFuture, late)
	mustSameOp(t, "an operation left alone", mustOperation(t, s, open.ID), open)
}
