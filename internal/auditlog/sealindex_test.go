package auditlog

import (
	"context"
	"testing"
	"time"
)

// racingStore appends a record to chain while the sealer reads it: a
// writer between the sealer's listing and its removal of the index row.
type racingStore struct {
	*MemStore
	chain string
	done  bool
}

func (r *racingStore) UnsealedRecords(ctx context.Context, chain string, after Head) ([]Stored, error) {
	recs, err := r.MemStore.UnsealedRecords(ctx, chain, after)
	if chain == r.chain && !r.done {
		r.done = true
		if _, err := r.Append(ctx, Record{Chain: chain, Time: r.Now(), Event: EventSign, Result: "refused: closed"}); err != nil {
			return nil, err
		}
	}
	return recs, err
}

func TestSealerReleasesOnlyIdleChainsSealedToTheirHeads(t *testing.T) {
	st, s, c := sealerFixture(t)
	ctx := context.Background()
	chain := OperationChain("op001")
	appendN(t, st, c, 2, 2)
	if n, err := s.Seal(ctx); err != nil || n != 1 {
		t.Fatalf("Seal = %d, %v", n, err)
	}
	if !st.Indexed(chain) {
		t.Fatal("a chain written within the grace left the index")
	}
	c.t = c.t.Add(IndexGrace + time.Second)
	if n, err := s.Seal(ctx); err != nil || n != 0 {
		t.Fatalf("Seal with nothing new = %d, %v", n, err)
	}
	if st.Indexed(chain) {
		t.Fatal("an idle chain sealed to its head stayed in the index")
	}
	if pending, _ := st.PendingChains(ctx); len(pending) != 0 {
		t.Fatalf("index after sealing idle chains = %v, want empty", pending)
	}
	// A record to a chain the index no longer lists lists it again.
	if _, err := st.Append(ctx, Record{Chain: chain, Time: c.now(), Event: EventSign, Result: "refused: closed"}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Seal(ctx); err != nil || n != 1 {
		t.Fatalf("Seal after a record to a released chain = %d, %v; want 1", n, err)
	}
	if rep := Verify(exportOf(t, st, s)); !rep.OK() {
		t.Fatalf("verify: %v", rep.Problems)
	}
}

func TestSealerKeepsAChainWrittenWhileItSeals(t *testing.T) {
	st, s, c := sealerFixture(t)
	ctx := context.Background()
	chain := OperationChain("op000")
	appendN(t, st, c, 1, 1)
	c.t = c.t.Add(IndexGrace + time.Second)
	race := &racingStore{MemStore: st, chain: chain}
	s.Store = race
	if n, err := s.Seal(ctx); err != nil || n != 1 {
		t.Fatalf("Seal = %d, %v", n, err)
	}
	if !race.done || !st.Indexed(chain) {
		t.Fatal("a chain written between the listing and the release left the index")
	}
	s.Store = st
	if n, err := s.Seal(ctx); err != nil || n != 1 {
		t.Fatalf("Seal of the record written meanwhile = %d, %v; want 1", n, err)
	}
	rep := Verify(exportOf(t, st, s))
	if !rep.OK() || rep.Latest.Size != 2 {
		t.Fatalf("verify: %v (latest %+v); want both records sealed", rep.Problems, rep.Latest)
	}
}
