package storetest

import (
	"context"
	"sync"
	"testing"

	"keyserver/internal/keyserver"
)

func idemRecord(p keyserver.Principal, key, fingerprint string) keyserver.IdempotencyRecord {
	return keyserver.IdempotencyRecord{Requester: p, Key: key, Fingerprint: fingerprint, OperationID: keyserver.NewID(), Created: t0}
}

func mustClaim(tb testing.TB, s Stores, rec keyserver.IdempotencyRecord, wantFresh bool) *keyserver.IdempotencyRecord {
	tb.Helper()
	stored, fresh, err := s.Ops.ClaimIdempotencyKey(context.Background(), rec)
	if err != nil {
		tb.Fatalf("ClaimIdempotencyKey(%q): %v", rec.Key, err)
	}
	if fresh != wantFresh {
		tb.Fatalf("ClaimIdempotencyKey(%q) fresh = %v, want %v", rec.Key, fresh, wantFresh)
	}
	return stored
}

func mustSameRecord(tb testing.TB, what string, got *keyserver.IdempotencyRecord, want keyserver.IdempotencyRecord) {
	tb.Helper()
	if got == nil || got.Requester != want.Requester || got.Key != want.Key || got.Fingerprint != want.Fingerprint ||
		got.OperationID != want.OperationID || !got.Created.Truncate(Precision).Equal(want.Created.Truncate(Precision)) {
		tb.Fatalf("%s = %+v, want %+v", what, got, want)
	}
}

// testIdempotencyClaims: a requester's key is claimed once; other requesters
// and other keys never meet it.
func testIdempotencyClaims(t *testing.T, s Stores) {
	const key = "github:octo/repo:run/42:attempt#1?job=sign%20it"
	first := idemRecord(requester, key, "fp-1")
	mustSameRecord(t, "first claim", mustClaim(t, s, first, true), first)
	again := idemRecord(requester, key, "fp-2")
	mustSameRecord(t, "second claim", mustClaim(t, s, again, false), first)

	other := idemRecord(approver, key, "fp-1")
	mustSameRecord(t, "another requester's claim", mustClaim(t, s, other, true), other)
	sameSubject := idemRecord(keyserver.Principal{Issuer: "https://elsewhere.example", Subject: requester.Subject}, key, "fp-1")
	mustClaim(t, s, sameSubject, true)
	otherKey := idemRecord(requester, key+"x", "fp-1")
	mustClaim(t, s, otherKey, true)
	mustSameRecord(t, "claim after the others", mustClaim(t, s, again, false), first)
}

// testConcurrentIdempotencyClaims: of claims racing for one key, one wins
// and every one sees the winner.
func testConcurrentIdempotencyClaims(t *testing.T, s Stores) {
	const n = 8
	recs := make([]keyserver.IdempotencyRecord, n)
	stored := make([]*keyserver.IdempotencyRecord, n)
	fresh := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range recs {
		recs[i] = idemRecord(requester, "race", "fp")
		wg.Add(1)
		go func() {
			defer wg.Done()
			stored[i], fresh[i], errs[i] = s.Ops.ClaimIdempotencyKey(context.Background(), recs[i])
		}()
	}
	wg.Wait()
	winner := -1
	for i := range recs {
		if errs[i] != nil {
			t.Fatalf("claim %d: %v", i, errs[i])
		}
		if fresh[i] {
			if winner >= 0 {
				t.Fatalf("claims %d and %d both won", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatalf("no claim won")
	}
	for i := range recs {
		mustSameRecord(t, "a racing claim's record", stored[i], recs[winner])
	}
}
