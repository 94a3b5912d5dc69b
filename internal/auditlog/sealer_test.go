package auditlog

import (
	"context"
	"fmt"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { c.t = c.t.Add(time.Second); return c.t }

func sealerFixture(t *testing.T) (*MemStore, *Sealer, *clock) {
	c := &clock{t: time.Date(2026, 11, 30, 5, 0, 0, 0, time.UTC)}
	st := NewMemStore(c.now)
	signer, cert := mustKey(t)
	return st, &Sealer{Store: st, Signer: signer, Certificate: cert, Now: c.now, Tiles: &TileCache{}}, c
}

func appendN(t *testing.T, st *MemStore, c *clock, chains, each int) {
	t.Helper()
	for i := 0; i < each; i++ {
		for j := 0; j < chains; j++ {
			if _, err := st.Append(context.Background(), Record{Chain: OperationChain(fmt.Sprintf("op%03d", j)), Time: c.now(), Event: EventSign, Result: "ok"}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func exportOf(t *testing.T, st *MemStore, s *Sealer) *Log {
	t.Helper()
	cps, err := st.Checkpoints(context.Background(), 1, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return &Log{Certificate: s.Certificate, Checkpoints: cps, Records: st.All()}
}

func TestSealerSealsEveryRecordOnce(t *testing.T) {
	st, s, c := sealerFixture(t)
	ctx := context.Background()
	if n, err := s.Seal(ctx); err != nil || n != 1 {
		t.Fatalf("first seal of an empty log = %d, %v; want one empty checkpoint", n, err)
	}
	appendN(t, st, c, 120, 3) // 360 records over 120 chains: more than one checkpoint holds
	n, err := s.Seal(ctx)
	if err != nil || n != 2 {
		t.Fatalf("Seal = %d, %v; want 2 checkpoints (200 leaves each at most)", n, err)
	}
	if n, err := s.Seal(ctx); err != nil || n != 0 {
		t.Fatalf("sealing again with nothing new = %d, %v; want 0", n, err)
	}
	appendN(t, st, c, 3, 2)
	s.Tiles = &TileCache{} // a new process
	if n, err := s.Seal(ctx); err != nil || n != 1 {
		t.Fatalf("Seal = %d, %v; want 1", n, err)
	}
	rep := Verify(exportOf(t, st, s))
	if !rep.OK() || rep.Sealed != 366 || rep.Records != 366 {
		t.Fatalf("verify: %v; %d of %d sealed", rep.Problems, rep.Sealed, rep.Records)
	}
}

func TestSealerLeavesABrokenChainUnsealed(t *testing.T) {
	st, s, c := sealerFixture(t)
	ctx := context.Background()
	appendN(t, st, c, 2, 3)
	chain := st.Chains()[OperationChain("op001")]
	chain[1].Record.Detail = "edited before sealing"
	if _, err := s.Seal(ctx); err != nil {
		t.Fatal(err)
	}
	rep := Verify(exportOf(t, st, s))
	if rep.Sealed != 3+1 {
		t.Errorf("%d records sealed; want the 3 of the intact chain and the first of the broken one", rep.Sealed)
	}
	if rep.OK() || rep.Problems[0].Record != OperationChain("op001")+"#2" || rep.Problems[0].Kind != KindEdited {
		t.Errorf("problems = %v; want op001#2 edited", rep.Problems)
	}
}
