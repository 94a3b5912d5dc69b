package storetest

import (
	"context"
	"testing"
	"time"

	"keyserver/internal/keyserver"
)

func mustSpent(tb testing.TB, s Stores, opID, keyID string, used, spent int) {
	tb.Helper()
	g := mustOperation(tb, s, opID).Grant(keyID)
	if g.UsageCount != used || g.SpentCount != spent {
		tb.Fatalf("uses of %s: %d held, %d spent; want %d held, %d spent", keyID, g.UsageCount, g.SpentCount, used, spent)
	}
}

// testSpentAndExhausted: a grant counts its spent uses apart from those
// only reserved; the operation is exhausted once every use of every key is
// spent; the flag noting it is kept.
func testSpentAndExhausted(t *testing.T, s Stores) {
	op := mustCreate(t, s, map[string]int{"k1": 2, "k2": 1})
	r1 := mustReserve(t, s, op.ID, "k1", 2)
	mustComplete(t, s, r1, t0.Add(time.Second))
	r2 := mustReserve(t, s, op.ID, "k1", 2)
	mustSpent(t, s, op.ID, "k1", 2, 1)
	mustComplete(t, s, r2, t0.Add(2*time.Second))
	mustSpent(t, s, op.ID, "k1", 2, 2)
	if mustOperation(t, s, op.ID).Exhausted() {
		t.Fatal("exhausted with k2 unused")
	}
	r3 := mustReserve(t, s, op.ID, "k2", 1)
	if mustOperation(t, s, op.ID).Exhausted() {
		t.Fatal("exhausted with k2 only reserved")
	}
	mustComplete(t, s, r3, t0.Add(3*time.Second))
	mustSpent(t, s, op.ID, "k2", 1, 1)
	got := mustOperation(t, s, op.ID)
	if !got.Exhausted() || got.ExhaustedNoted {
		t.Fatalf("exhausted %v, noted %v; want exhausted, not noted yet", got.Exhausted(), got.ExhaustedNoted)
	}
	mustFlag(t, s, op, t0.Add(4*time.Second), keyserver.ActionExhaust, func(o *keyserver.Operation) { o.ExhaustedNoted = true })
	if got := mustOperation(t, s, op.ID); !got.ExhaustedNoted || got.Reminded || got.ExpiryNoted {
		t.Fatalf("flags: exhausted noted %v, reminded %v, expiry noted %v", got.ExhaustedNoted, got.Reminded, got.ExpiryNoted)
	}
}

func mustComplete(tb testing.TB, s Stores, r *keyserver.Reservation, at time.Time) {
	tb.Helper()
	if err := s.Ops.CompleteUse(context.Background(), r, useEvent(r.OperationID, "ok", at)); err != nil {
		tb.Fatalf("CompleteUse(%s use %d): %v", r.KeyID, r.Seq, err)
	}
}

// testCompleteNotesExhaustion: every store is an ExhaustingCompleter and notes
// the exhaustion with the completion that spends the last use, not before
// (uses reserved are not spent) and once; the events it wrote are unsent.
func testCompleteNotesExhaustion(t *testing.T, s Stores) {
	ec, ok := s.Ops.(keyserver.ExhaustingCompleter)
	if !ok {
		t.Fatalf("%T is no keyserver.ExhaustingCompleter: it cannot note the exhaustion with the last use", s.Ops)
	}
	ctx := context.Background()
	op := mustCreate(t, s, map[string]int{"k1": 2, "k2": 1})
	calls := 0
	noted := func(o *keyserver.Operation) *keyserver.Update {
		calls++
		if !o.Exhausted() || !o.ExhaustedNoted || o.ID != op.ID {
			t.Errorf("noted with exhausted %v, flag %v, id %s", o.Exhausted(), o.ExhaustedNoted, o.ID)
		}
		return &keyserver.Update{
			Audit:  keyserver.AuditEvent{Time: t0.Add(time.Hour), Actor: requester, Action: keyserver.ActionExhaust, OperationID: o.ID, Result: "ok"},
			Events: []*keyserver.Event{{Type: keyserver.EventExhausted, Time: t0.Add(time.Hour), Operation: keyserver.Summarize(o, t0)}},
		}
	}
	complete := func(r *keyserver.Reservation) []*keyserver.Event {
		t.Helper()
		evs, err := ec.CompleteUseNoting(ctx, r, useEvent(op.ID, "ok", t0.Add(time.Second)), noted)
		if err != nil {
			t.Fatalf("CompleteUseNoting(%s use %d): %v", r.KeyID, r.Seq, err)
		}
		return evs
	}
	r1, r2, r3 := mustReserve(t, s, op.ID, "k1", 2), mustReserve(t, s, op.ID, "k1", 2), mustReserve(t, s, op.ID, "k2", 1)
	if evs := complete(r1); len(evs) != 0 {
		t.Fatalf("noted %v with uses left", evs)
	}
	if evs := complete(r3); len(evs) != 0 {
		t.Fatalf("noted %v with a use still reserved", evs)
	}
	evs := complete(r2)
	if len(evs) != 1 || evs[0].Type != keyserver.EventExhausted || calls != 1 {
		t.Fatalf("last completion noted %v (noted called %d times)", evs, calls)
	}
	if got := mustOperation(t, s, op.ID); !got.ExhaustedNoted || !got.Exhausted() {
		t.Fatalf("after the last use: noted %v, exhausted %v", got.ExhaustedNoted, got.Exhausted())
	}
	mustSameEventList(t, "UnsentEvents", mustUnsent(t, s, op.ID), evs)
	if _, err := s.Ops.ReserveUse(ctx, op.ID, "k1", 2); keyserver.ErrorCode(err) != keyserver.EEXHAUSTED {
		t.Fatalf("ReserveUse after exhaustion: %v", err)
	}
	if calls != 1 {
		t.Fatalf("noted called %d times", calls)
	}
}
