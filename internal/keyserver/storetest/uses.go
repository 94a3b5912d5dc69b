package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"keyserver/internal/keyserver"
)

func mustReserve(tb testing.TB, s Stores, opID, keyID string, max int) *keyserver.Reservation {
	tb.Helper()
	r, err := s.Ops.ReserveUse(context.Background(), opID, keyID, max)
	if err != nil {
		tb.Fatalf("ReserveUse(%s, max %d): %v", keyID, max, err)
	}
	if r.OperationID != opID || r.KeyID != keyID || r.Seq < 1 {
		tb.Fatalf("ReserveUse = %+v, want operation %s, key %s, a positive number", r, opID, keyID)
	}
	return r
}

func mustUsage(tb testing.TB, s Stores, opID, keyID string, want int) {
	tb.Helper()
	if got := mustOperation(tb, s, opID).Grant(keyID).UsageCount; got != want {
		tb.Fatalf("usage count of %s = %d, want %d", keyID, got, want)
	}
}

func useEvent(opID, result string, at time.Time) keyserver.AuditEvent {
	return keyserver.AuditEvent{Time: at, Actor: requester, Action: keyserver.ActionSign, OperationID: opID, KeyID: "k1", Digest: "ab12", Result: result}
}

func testReserveUpToMax(t *testing.T, s Stores) {
	ctx := context.Background()
	op := mustCreate(t, s, map[string]int{"k1": 2, "k2": 1})
	r1 := mustReserve(t, s, op.ID, "k1", 2)
	r2 := mustReserve(t, s, op.ID, "k1", 2)
	if r1.Seq == r2.Seq {
		t.Fatalf("two reservations share number %d", r1.Seq)
	}
	_, err := s.Ops.ReserveUse(ctx, op.ID, "k1", 2)
	mustCode(t, err, keyserver.EEXHAUSTED)
	mustReserve(t, s, op.ID, "k2", 1) // uses are counted per key
	mustUsage(t, s, op.ID, "k1", 2)
	mustUsage(t, s, op.ID, "k2", 1)
	if st := mustOperation(t, s, op.ID).Status(t0); st != keyserver.StatusExhausted {
		t.Fatalf("status with every use reserved = %s, want exhausted", st)
	}
}

func testReleaseGivesUseBack(t *testing.T, s Stores) {
	ctx := context.Background()
	op := mustCreate(t, s, map[string]int{"k1": 2})
	r1 := mustReserve(t, s, op.ID, "k1", 2)
	mustReserve(t, s, op.ID, "k1", 2)
	ev := useEvent(op.ID, "failed: unavailable", t0.Add(time.Second))
	if err := s.Ops.ReleaseUse(ctx, r1, ev); err != nil {
		t.Fatalf("ReleaseUse: %v", err)
	}
	mustUsage(t, s, op.ID, "k1", 1)
	mustSameEvents(t, s, op.ID, createEvent(op), ev)
	r3 := mustReserve(t, s, op.ID, "k1", 2)
	_, err := s.Ops.ReserveUse(ctx, op.ID, "k1", 2)
	mustCode(t, err, keyserver.EEXHAUSTED)
	if err := s.Ops.CompleteUse(ctx, r3, useEvent(op.ID, "ok", t0.Add(2*time.Second))); err != nil {
		t.Fatalf("CompleteUse of the use given back: %v", err)
	}
	mustUsage(t, s, op.ID, "k1", 2)
}

// testFinishedReservationConflicts finishes a reservation and then tries to
// finish it again: the second try is ECONFLICT and writes nothing.
func testFinishedReservationConflicts(t *testing.T, s Stores) {
	ctx := context.Background()
	complete := func(r *keyserver.Reservation, ev keyserver.AuditEvent) error { return s.Ops.CompleteUse(ctx, r, ev) }
	release := func(r *keyserver.Reservation, ev keyserver.AuditEvent) error { return s.Ops.ReleaseUse(ctx, r, ev) }
	tests := []struct {
		name          string
		first, second func(*keyserver.Reservation, keyserver.AuditEvent) error
		usage         int // after the first
	}{
		{"complete twice", complete, complete, 1},
		{"release after complete", complete, release, 1},
		{"release twice", release, release, 0},
		{"complete after release", release, complete, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := mustCreate(t, s, map[string]int{"k1": 3})
			r := mustReserve(t, s, op.ID, "k1", 3)
			ev1 := useEvent(op.ID, "first", t0.Add(time.Second))
			if err := tt.first(r, ev1); err != nil {
				t.Fatalf("first finish: %v", err)
			}
			mustCode(t, tt.second(r, useEvent(op.ID, "second", t0.Add(2*time.Second))), keyserver.ECONFLICT)
			mustUsage(t, s, op.ID, "k1", tt.usage)
			mustSameEvents(t, s, op.ID, createEvent(op), ev1)
		})
	}
}

// testConcurrentReserve has 50 callers reserve one of 5 uses at once.
func testConcurrentReserve(t *testing.T, s Stores) {
	const callers, max = 50, 5
	ctx := context.Background()
	op := mustCreate(t, s, map[string]int{"k1": max})
	res := make([]*keyserver.Reservation, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() { res[i], errs[i] = s.Ops.ReserveUse(ctx, op.ID, "k1", max) })
	}
	wg.Wait()
	taken := map[int]bool{}
	for i, err := range errs {
		switch keyserver.ErrorCode(err) {
		case "":
			if r := res[i]; taken[r.Seq] || r.Seq < 1 {
				t.Fatalf("reservation number %d: given twice or not positive", r.Seq)
			}
			taken[res[i].Seq] = true
		case keyserver.EEXHAUSTED, keyserver.ECONFLICT: // ECONFLICT: too many at once, try again
		default:
			t.Fatalf("concurrent ReserveUse: %v", err)
		}
	}
	if len(taken) == 0 || len(taken) > max {
		t.Fatalf("%d concurrent reservations succeeded, want 1..%d", len(taken), max)
	}
	mustUsage(t, s, op.ID, "k1", len(taken))
	for range max - len(taken) {
		mustReserve(t, s, op.ID, "k1", max)
	}
	_, err := s.Ops.ReserveUse(ctx, op.ID, "k1", max)
	mustCode(t, err, keyserver.EEXHAUSTED)
	mustUsage(t, s, op.ID, "k1", max)
}

func testRecordEvent(t *testing.T, s Stores) {
	op := mustCreate(t, s, map[string]int{"k1": 1})
	ev := keyserver.AuditEvent{Time: t0.Add(time.Second), Actor: requester, Action: keyserver.ActionSign, OperationID: op.ID,
		KeyID: "k1", Digest: "ab12", Result: "refused: not_approved", Detail: "Operation is not approved yet."}
	if err := s.Ops.RecordEvent(context.Background(), op.ID, ev); err != nil {
		t.Fatalf("RecordEvent: %v", err)
	}
	mustSameEvents(t, s, op.ID, createEvent(op), ev)
	mustSameOp(t, "Operation after RecordEvent", mustOperation(t, s, op.ID), op)
}

// testStaleReservationConflicts gives a use back and reserves one again:
// the old reservation must not finish the new one's use.
func testStaleReservationConflicts(t *testing.T, s Stores) {
	ctx := context.Background()
	op := mustCreate(t, s, map[string]int{"k1": 1})
	old := mustReserve(t, s, op.ID, "k1", 1)
	if err := s.Ops.ReleaseUse(ctx, old, useEvent(op.ID, "released", t0.Add(time.Second))); err != nil {
		t.Fatalf("ReleaseUse: %v", err)
	}
	cur := mustReserve(t, s, op.ID, "k1", 1)
	if cur.Seq == old.Seq {
		t.Fatalf("reservation number %d given twice", cur.Seq)
	}
	mustCode(t, s.Ops.CompleteUse(ctx, old, useEvent(op.ID, "stale", t0.Add(2*time.Second))), keyserver.ECONFLICT)
	mustCode(t, s.Ops.ReleaseUse(ctx, old, useEvent(op.ID, "stale", t0.Add(2*time.Second))), keyserver.ECONFLICT)
	mustUsage(t, s, op.ID, "k1", 1)
	if err := s.Ops.CompleteUse(ctx, cur, useEvent(op.ID, "ok", t0.Add(3*time.Second))); err != nil {
		t.Fatalf("CompleteUse of the new reservation: %v", err)
	}
}
