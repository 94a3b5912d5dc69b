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

// mustBelieveFree checks a FreeUseHinter's belief, when the store has one,
// in a single process where it must be the truth.
func mustBelieveFree(tb testing.TB, s Stores, opID, keyID string, want int) {
	tb.Helper()
	h, ok := s.Ops.(keyserver.FreeUseHinter)
	if !ok {
		return
	}
	if free, known := h.FreeUses(opID, keyID); !known || free != want {
		tb.Fatalf("FreeUses(%s) = %d, %v; want %d, true", keyID, free, known, want)
	}
}

// testSpentAndExhausted: a grant counts its spent uses apart from those
// only reserved; the operation is exhausted once every use of every key is
// spent; the flag noting it is kept.
func testSpentAndExhausted(t *testing.T, s Stores) {
	op := mustCreate(t, s, map[string]int{"k1": 2, "k2": 1})
	r1 := mustReserve(t, s, op.ID, "k1", 2, 0)
	mustBelieveFree(t, s, op.ID, "k1", 1)
	mustComplete(t, s, r1, t0.Add(time.Second))
	r2 := mustReserve(t, s, op.ID, "k1", 2, 1)
	mustBelieveFree(t, s, op.ID, "k1", 0)
	mustSpent(t, s, op.ID, "k1", 2, 1)
	mustComplete(t, s, r2, t0.Add(2*time.Second))
	mustSpent(t, s, op.ID, "k1", 2, 2)
	if mustOperation(t, s, op.ID).Exhausted() {
		t.Fatal("exhausted with k2 unused")
	}
	r3 := mustReserve(t, s, op.ID, "k2", 1, 0)
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
		tb.Fatalf("CompleteUse(%s slot %d): %v", r.KeyID, r.Slot, err)
	}
}
