package storetest

import (
	"context"
	"testing"
	"time"

	"keyserver/internal/keyserver"
)

// closeWith rejects (or cancels) the operation through UpdateOperation, as
// the domain does, with its audit event and notification.
func closeWith(tb testing.TB, s Stores, opID string, reject bool, at time.Time) keyserver.AuditEvent {
	tb.Helper()
	ev := keyserver.AuditEvent{Time: at, Actor: approver, Action: keyserver.ActionReject, OperationID: opID, Result: "ok", Detail: "not this build"}
	if !reject {
		ev.Actor, ev.Action, ev.Detail = requester, keyserver.ActionCancel, ""
	}
	_, err := s.Ops.UpdateOperation(context.Background(), opID, func(o *keyserver.Operation) (*keyserver.Update, error) {
		cl := &keyserver.Closure{By: ev.Actor, Time: at, Reason: ev.Detail}
		if reject {
			o.Rejected = cl
		} else {
			o.Cancelled = cl
		}
		typ := keyserver.EventRejected
		if !reject {
			typ = keyserver.EventCancelled
		}
		return &keyserver.Update{Audit: ev, Events: []*keyserver.Event{event(o, typ, at)}}, nil
	})
	if err != nil {
		tb.Fatalf("closing operation %s: %v", opID, err)
	}
	return ev
}

// testCloseRevokesReservations closes an operation while uses of two keys
// are reserved: none of them can be completed or released afterwards, they
// no longer count, and nothing more can be reserved.
func testCloseRevokesReservations(t *testing.T, s Stores) {
	ctx := context.Background()
	for _, reject := range []bool{true, false} {
		op := mustCreate(t, s, map[string]int{"k1": 3, "k2": 1})
		spent := mustReserve(t, s, op.ID, "k1", 3)
		held := []*keyserver.Reservation{mustReserve(t, s, op.ID, "k1", 3), mustReserve(t, s, op.ID, "k2", 1)}
		ok := useEvent(op.ID, "ok", t0.Add(time.Second))
		if err := s.Ops.CompleteUse(ctx, spent, ok); err != nil {
			t.Fatalf("CompleteUse: %v", err)
		}
		closed := closeWith(t, s, op.ID, reject, t0.Add(2*time.Second))
		for _, r := range held {
			mustCode(t, s.Ops.CompleteUse(ctx, r, useEvent(op.ID, "ok", t0.Add(3*time.Second))), keyserver.ECLOSED)
			mustCode(t, s.Ops.ReleaseUse(ctx, r, useEvent(op.ID, "failed", t0.Add(3*time.Second))), keyserver.ECLOSED)
		}
		mustCode(t, s.Ops.CompleteUse(ctx, spent, useEvent(op.ID, "again", t0.Add(3*time.Second))), keyserver.ECLOSED)
		_, err := s.Ops.ReserveUse(ctx, op.ID, "k1", 3)
		mustCode(t, err, keyserver.ECLOSED)
		mustUsage(t, s, op.ID, "k1", 1)
		mustUsage(t, s, op.ID, "k2", 0)
		mustSameEvents(t, s, op.ID, createEvent(op), ok, closed)
	}
}

// testCloseAfterComplete completes a use and then closes the operation: the
// use stays spent.
func testCloseAfterComplete(t *testing.T, s Stores) {
	ctx := context.Background()
	op := mustCreate(t, s, map[string]int{"k1": 2})
	r := mustReserve(t, s, op.ID, "k1", 2)
	ok := useEvent(op.ID, "ok", t0.Add(time.Second))
	if err := s.Ops.CompleteUse(ctx, r, ok); err != nil {
		t.Fatalf("CompleteUse: %v", err)
	}
	closed := closeWith(t, s, op.ID, false, t0.Add(2*time.Second))
	mustUsage(t, s, op.ID, "k1", 1)
	if got := mustOperation(t, s, op.ID); got.Cancelled == nil {
		t.Fatalf("operation not cancelled: %+v", got)
	}
	mustSameEvents(t, s, op.ID, createEvent(op), ok, closed)
}
