package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"keyserver/internal/keyserver"
)

func mustAck(tb testing.TB, s Stores, opID, id string) {
	tb.Helper()
	if err := s.Ops.AckNotification(context.Background(), opID, id); err != nil {
		tb.Fatalf("AckNotification(%s, %s): %v", opID, id, err)
	}
}

// mustNotify stores an update that changes nothing of op but queues n.
func mustNotify(tb testing.TB, s Stores, op *keyserver.Operation, n *keyserver.Notification) {
	tb.Helper()
	ev := keyserver.AuditEvent{Time: n.Time, Actor: requester, Action: keyserver.ActionAdmin, OperationID: op.ID, Result: "ok"}
	if _, err := s.Ops.UpdateOperation(context.Background(), op.ID, func(*keyserver.Operation) (*keyserver.Update, error) {
		return &keyserver.Update{Audit: ev, Notify: n}, nil
	}); err != nil {
		tb.Fatalf("UpdateOperation notifying: %v", err)
	}
}

func testPendingAndAck(t *testing.T, s Stores) {
	ctx := context.Background()
	op := newOp(map[string]int{"k1": 1})
	n1 := notification(op, keyserver.EventCreated, t0)
	if err := s.Ops.CreateOperation(ctx, op, createEvent(op), n1); err != nil {
		t.Fatalf("CreateOperation: %v", err)
	}
	n2 := notification(op, keyserver.EventApproved, t0.Add(time.Minute))
	n2.Status = keyserver.StatusApproved
	mustNotify(t, s, op, n2)
	quiet := mustCreate(t, s, map[string]int{"k1": 1})

	byTime := func(ns []*keyserver.Notification) []*keyserver.Notification {
		slices.SortFunc(ns, func(x, y *keyserver.Notification) int { return x.Time.Compare(y.Time) })
		return ns
	}
	mustSameNotifications(t, "PendingNotifications", byTime(mustPending(t, s, op.ID)), []*keyserver.Notification{n1, n2})
	mustSameNotifications(t, "PendingNotifications of an operation without any", mustPending(t, s, quiet.ID), nil)

	mustAck(t, s, op.ID, n1.ID)
	mustSameNotifications(t, "PendingNotifications after one ack", mustPending(t, s, op.ID), []*keyserver.Notification{n2})
	mustAck(t, s, op.ID, n1.ID) // a second delivery acknowledges again
	mustSameNotifications(t, "PendingNotifications after acking twice", mustPending(t, s, op.ID), []*keyserver.Notification{n2})
	mustAck(t, s, op.ID, n2.ID)
	mustSameNotifications(t, "PendingNotifications after acking all", mustPending(t, s, op.ID), nil)
}

func testOutboxScanner(t *testing.T, s Stores) {
	sc, ok := s.Ops.(keyserver.OutboxScanner)
	if !ok {
		t.Logf("%T is no keyserver.OutboxScanner: nothing to check", s.Ops)
		return
	}
	ctx := context.Background()
	mustAll := func(what string, want ...*keyserver.Notification) {
		t.Helper()
		all, err := sc.AllPendingNotifications(ctx)
		if err != nil {
			t.Fatalf("AllPendingNotifications: %v", err)
		}
		mustSameNotifications(t, what, all, want)
	}
	mustAll("AllPendingNotifications of an empty store")
	a, b := mustCreate(t, s, map[string]int{"k1": 1}), mustCreate(t, s, map[string]int{"k1": 1})
	// Written out of order, so that "oldest first" is the store's doing.
	a2 := notification(a, keyserver.EventApproved, t0.Add(3*time.Minute))
	b1 := notification(b, keyserver.EventCreated, t0.Add(1*time.Minute))
	a1 := notification(a, keyserver.EventCreated, t0.Add(2*time.Minute))
	for _, x := range []struct {
		op *keyserver.Operation
		n  *keyserver.Notification
	}{{a, a2}, {b, b1}, {a, a1}} {
		mustNotify(t, s, x.op, x.n)
	}
	mustAll("AllPendingNotifications", b1, a1, a2)
	mustAck(t, s, a.ID, a1.ID)
	mustAll("AllPendingNotifications after an ack", b1, a2)
	mustAck(t, s, b.ID, b1.ID)
	mustAck(t, s, a.ID, a2.ID)
	mustAll("AllPendingNotifications after acking all")
}
