package tablestore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"keyserver/internal/auditlog"
	"keyserver/internal/keyserver"
)

// The sealer reads the chains the index lists, never the tables: a record
// whose chain the index does not list stays unsealed until it is listed.
func TestSealerReadsTheIndexNotTheTables(t *testing.T) {
	ss := newSealStore(t, "")
	ctx := context.Background()
	mustOperation(t, ss.Store, 1)
	refused := keyserver.AuditEvent{Actor: requester, Action: keyserver.ActionSign, OperationID: "unknown", Result: "refused: not_found"}
	if err := ss.RecordAudit(ctx, refused); err != nil {
		t.Fatal(err)
	}
	if n := ss.seal(t); n != 1 {
		t.Fatalf("Seal = %d, want 1", n)
	}
	if recs, sealed := ss.verify(t); recs != 2 || sealed != 2 {
		t.Fatalf("%d records, %d sealed; want 2 and 2", recs, sealed)
	}
	caller := refused.Chain()
	if err := ss.RecordAudit(ctx, refused); err != nil {
		t.Fatal(err)
	}
	ss.unlist(t, caller)
	ss.seal(t)
	if recs, sealed := ss.verify(t); recs != 3 || sealed != 2 {
		t.Fatalf("%d records, %d sealed; want the record of an unlisted chain unsealed", recs, sealed)
	}
	// A sealer removes a row only once it is quiet for orphanGrace; a writer
	// that listed the chain itself lists it again after half of that.
	ss.clock = ss.clock.Add(6 * time.Minute)
	if err := ss.RecordAudit(ctx, refused); err != nil { // lists it again
		t.Fatal(err)
	}
	ss.seal(t)
	if recs, sealed := ss.verify(t); recs != 4 || sealed != 4 {
		t.Fatalf("%d records, %d sealed; want all 4", recs, sealed)
	}
}

// A finished operation's chain stays listed while a writer may still add
// to it unlisted, leaves the index once idle and sealed, and comes back
// with the next record written to it.
func TestFinishedChainLeavesTheIndexWhenIdleAndSealed(t *testing.T) {
	ss := newSealStore(t, "")
	ctx := context.Background()
	ss.caughtUp(t)
	op := mustOperation(t, ss.Store, 1)
	chain := auditlog.OperationChain(op.ID)
	ss.seal(t)
	ss.clock = time.Now().Add(time.Hour)
	ss.seal(t)
	if ss.indexed(t)[chain] {
		t.Fatal("an open operation's chain has an s~ row: its o~ row lists it")
	}
	ss.clock = time.Now()
	ss.cancel(t, op)
	if !ss.indexed(t)[chain] {
		t.Fatal("finishing an operation did not list its chain")
	}
	ss.seal(t)
	if !ss.indexed(t)[chain] {
		t.Fatal("the chain left the index within the grace of its finishing")
	}
	// A refusal soon after the finish is sealed before the chain leaves.
	if err := ss.RecordEvent(ctx, op.ID, refusal(op.ID)); err != nil {
		t.Fatal(err)
	}
	ss.clock = time.Now().Add(11 * time.Minute)
	ss.seal(t)
	if ss.indexed(t)[chain] {
		t.Fatal("an idle chain sealed to its head stayed in the index")
	}
	if recs, sealed := ss.verify(t); recs != sealed || recs != 3 {
		t.Fatalf("%d records, %d sealed; want 3 and 3", recs, sealed)
	}
	// A refusal on the finished operation, from a new process that knows
	// nothing of it, lists the chain again first.
	other := ss.process(t)
	if err := other.RecordEvent(ctx, op.ID, refusal(op.ID)); err != nil {
		t.Fatal(err)
	}
	if !ss.indexed(t)[chain] {
		t.Fatal("a record to a chain the index no longer lists did not list it")
	}
	ss.seal(t)
	if recs, sealed := ss.verify(t); recs != sealed || recs != 4 {
		t.Fatalf("%d records, %d sealed; want 4 and 4", recs, sealed)
	}
}

// racing writes a record to chain between the sealer's listing and its
// removal of the index row: while the sealer reads the chain.
type racing struct {
	*sealStore
	write func()
	done  bool
}

func (r *racing) UnsealedRecords(ctx context.Context, chain string, after auditlog.Head) ([]auditlog.Stored, error) {
	recs, err := r.sealStore.UnsealedRecords(ctx, chain, after)
	if !r.done {
		r.done = true
		r.write()
	}
	return recs, err
}

// A writer that lists the chain after the sealer listed it keeps the row:
// the sealer's delete is If-Match the ETag it listed.
func TestWriterDuringSealingKeepsTheChainListed(t *testing.T) {
	ss := newSealStore(t, "")
	ctx := context.Background()
	refused := keyserver.AuditEvent{Actor: requester, Action: keyserver.ActionSign, OperationID: "unknown", Result: "refused: not_found"}
	if err := ss.RecordAudit(ctx, refused); err != nil {
		t.Fatal(err)
	}
	ss.clock = time.Now().Add(11 * time.Minute)
	r := &racing{sealStore: ss, write: func() {
		if err := ss.RecordAudit(ctx, refused); err != nil {
			t.Error(err)
		}
	}}
	ss.sealer.Store = r
	ss.seal(t)
	if !r.done || !ss.indexed(t)[refused.Chain()] {
		t.Fatal("the chain left the index though a writer listed it while the sealer read it")
	}
	if recs, sealed := ss.verify(t); recs != 2 || sealed != 1 {
		t.Fatalf("%d records, %d sealed; want 2 and 1", recs, sealed)
	}
	ss.sealer.Store = ss.Store
	ss.seal(t)
	if recs, sealed := ss.verify(t); recs != 2 || sealed != 2 {
		t.Fatalf("%d records, %d sealed; want both sealed", recs, sealed)
	}
}

// Crashes between any two steps strand no record.
func TestSealIndexCrashes(t *testing.T) {
	ctx := context.Background()
	t.Run("writer stops between listing the chain and its record", func(t *testing.T) {
		ss := newSealStore(t, "")
		refused := keyserver.AuditEvent{Actor: requester, Action: keyserver.ActionSign, Result: "refused: not_found"}
		ss.f.auditInserts.Store(true)
		if err := ss.RecordAudit(ctx, refused); err == nil {
			t.Fatal("RecordAudit succeeded through the crash")
		}
		ss.f.auditInserts.Store(false)
		if !ss.indexed(t)[refused.Chain()] {
			t.Fatal("the chain was not listed before its record")
		}
		ss.seal(t)
		if !ss.indexed(t)[refused.Chain()] {
			t.Fatal("the row left within the grace: the record may still be coming")
		}
		ss.clock = time.Now().Add(11 * time.Minute)
		ss.seal(t)
		if ss.indexed(t)[refused.Chain()] {
			t.Fatal("a row that lists nothing stayed after the grace")
		}
	})
	t.Run("sealer stops between its checkpoint and removing idle rows", func(t *testing.T) {
		ss := newSealStore(t, "")
		refused := keyserver.AuditEvent{Actor: requester, Action: keyserver.ActionSign, Result: "refused: not_found"}
		if err := ss.RecordAudit(ctx, refused); err != nil {
			t.Fatal(err)
		}
		ss.clock = time.Now().Add(11 * time.Minute)
		ss.f.deletes.Store(true)
		if _, err := ss.sealer.Seal(ctx); err == nil {
			t.Fatal("Seal succeeded through the crash")
		}
		ss.f.deletes.Store(false)
		if recs, sealed := ss.verify(t); recs != 1 || sealed != 1 || !ss.indexed(t)[refused.Chain()] {
			t.Fatalf("%d records, %d sealed, listed %v; want the record sealed and its chain listed", recs, sealed, ss.indexed(t))
		}
		if n := ss.seal(t); n != 0 || ss.indexed(t)[refused.Chain()] {
			t.Fatalf("the next Seal wrote %d checkpoints and left %v listed; want none and none", n, ss.indexed(t))
		}
		if recs, sealed := ss.verify(t); recs != 1 || sealed != 1 {
			t.Fatalf("%d records, %d sealed", recs, sealed)
		}
	})
	t.Run("operation finished but its index rows not settled", func(t *testing.T) {
		ss := newSealStore(t, "")
		op := mustOperation(t, ss.Store, 1)
		ss.f.indexBatches.Store(true)
		ss.cancel(t, op) // committed; its d~ and s~ rows are not written, its o~ row stays
		ss.f.indexBatches.Store(false)
		chain := auditlog.OperationChain(op.ID)
		if ss.indexed(t)[chain] {
			t.Fatal("the s~ row was written through the crash")
		}
		ss.clock = time.Now().Add(11 * time.Minute)
		ss.seal(t)
		if recs, sealed := ss.verify(t); recs != 2 || sealed != 2 {
			t.Fatalf("%d records, %d sealed: the o~ row keeps the chain listed", recs, sealed)
		}
		if err := ss.Settle(ctx, op.ID, ss.clock); err != nil { // upkeep
			t.Fatal(err)
		}
		if !ss.indexed(t)[chain] {
			t.Fatal("settling a finished operation did not list its chain")
		}
	})
}

// What a process wrote it seals without reading it back: a seal reads the
// index, and for each listed chain its latest segment and its head row.
func TestSealReadsTheHeadsNotTheRecords(t *testing.T) {
	ss := newSealStore(t, "")
	ctx := context.Background()
	ss.seal(t)
	op := mustOperation(t, ss.Store, 1)
	for range 60 {
		if err := ss.RecordEvent(ctx, op.ID, refusal(op.ID)); err != nil {
			t.Fatal(err)
		}
	}
	before := ss.f.rows.Load()
	if n := ss.seal(t); n != 1 {
		t.Fatalf("Seal = %d", n)
	}
	if rows := ss.f.rows.Load() - before; rows > 6 {
		t.Fatalf("sealing 61 records this process wrote read %d rows; want the index, the checkpoint and two rows a chain", rows)
	}
	if recs, sealed := ss.verify(t); recs != 61 || sealed != 61 {
		t.Fatalf("%d records, %d sealed", recs, sealed)
	}
	// Another process's records are read from the chain.
	other := ss.process(t)
	if n := other.seal(t); n != 0 {
		t.Fatalf("Seal = %d", n)
	}
	if err := ss.RecordEvent(ctx, op.ID, refusal(op.ID)); err != nil {
		t.Fatal(err)
	}
	if n := other.seal(t); n != 1 {
		t.Fatalf("Seal by another process = %d", n)
	}
	if recs, sealed := ss.verify(t); recs != 62 || sealed != 62 {
		t.Fatalf("%d records, %d sealed", recs, sealed)
	}
	// The first process's memory of where chains stand is as of a
	// checkpoint another one has since passed: it reads them again.
	if err := ss.RecordEvent(ctx, op.ID, refusal(op.ID)); err != nil {
		t.Fatal(err)
	}
	if n := ss.seal(t); n != 1 {
		t.Fatalf("Seal = %d", n)
	}
	if recs, sealed := ss.verify(t); recs != 63 || sealed != 63 {
		t.Fatalf("%d records, %d sealed", recs, sealed)
	}
	before = ss.f.rows.Load()
	if n := ss.seal(t); n != 0 {
		t.Fatalf("Seal = %d", n)
	}
	if rows := ss.f.rows.Load() - before; rows > 5 {
		t.Fatalf("a seal with nothing new read %d rows; want the checkpoint, the tree's mark, the chain's o~ and s~ rows and its head", rows)
	}
}

// A checkpoint of 200 leaves lists more than a string property holds; it is
// written all the same, and read back whole.
func TestFullCheckpointsAreWritten(t *testing.T) {
	ss := newSealStore(t, "")
	ctx := context.Background()
	op := mustOperation(t, ss.Store, 1)
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			for range 50 {
				if err := ss.RecordEvent(ctx, op.ID, refusal(op.ID)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if n := ss.seal(t); n != 2 {
		t.Fatalf("Seal = %d checkpoints, want 2 (200 leaves, then 51)", n)
	}
	cps, err := ss.Checkpoints(ctx, 1, 10)
	if err != nil || len(cps) != 2 || len(cps[0].Leaves) != 200 {
		t.Fatalf("Checkpoints = %d, %v", len(cps), err)
	}
	if recs, sealed := ss.verify(t); recs != 251 || sealed != 251 {
		t.Fatalf("%d records, %d sealed", recs, sealed)
	}
}

// Two processes take turns on one chain: the sealer's memory of what it
// wrote has gaps, and it reads what it lacks from the chain.
func TestSealerFillsGapsInWhatItWrote(t *testing.T) {
	ss := newSealStore(t, "")
	other := ss.process(t)
	ctx := context.Background()
	op := mustOperation(t, ss.Store, 1)
	for round := range 3 {
		for i := range 7 {
			w := ss.Store
			if i%3 == round%3 {
				w = other.Store
			}
			if err := w.RecordEvent(ctx, op.ID, refusal(op.ID)); err != nil {
				t.Fatal(err)
			}
		}
		ss.seal(t)
		if recs, sealed := ss.verify(t); recs != 1+7*(round+1) || sealed != recs {
			t.Fatalf("round %d: %d records, %d sealed", round, recs, sealed)
		}
	}
}

// An update that records something on an operation finished long ago (its
// chain no longer listed) lists the chain first: a crash before the index
// rows are settled after it strands nothing.
func TestUpdateOfAFinishedOperationListsItsChain(t *testing.T) {
	ss := newSealStore(t, "")
	ctx := context.Background()
	op := mustOperation(t, ss.Store, 1)
	chain := auditlog.OperationChain(op.ID)
	ss.cancel(t, op)
	ss.seal(t)
	ss.clock = time.Now().Add(11 * time.Minute)
	ss.seal(t)
	if ss.indexed(t)[chain] {
		t.Fatal("the finished chain is still listed")
	}
	ss.f.indexBatches.Store(true)
	_, err := ss.UpdateOperation(ctx, op.ID, func(o *keyserver.Operation) (*keyserver.Update, error) {
		o.ExhaustedNoted = true
		return &keyserver.Update{Audit: keyserver.AuditEvent{Time: ss.clock, Action: keyserver.ActionExhaust, OperationID: o.ID, Result: "ok"}}, nil
	})
	ss.f.indexBatches.Store(false)
	if err != nil {
		t.Fatal(err)
	}
	ss.seal(t)
	if recs, sealed := ss.verify(t); recs != 3 || sealed != 3 {
		t.Fatalf("%d records, %d sealed; want the update's record sealed", recs, sealed)
	}
}

// An admin change lists its chain (in the keys, subjects or policies
// table) before its transaction, so that it is sealed without any scan.
func TestAdminChangesListTheirChains(t *testing.T) {
	ss := newSealStore(t, "")
	ctx := context.Background()
	ss.seal(t) // lists the chains from before the index: none; never again
	ev := keyserver.AuditEvent{Actor: requester, Action: keyserver.ActionAdminKey, Target: "k9", Result: "ok", Detail: "put key k9"}
	if err := ss.PutKey(ctx, &keyserver.Key{KeyID: "k9", HSMKey: "https://vault.example/keys/k9", Enabled: true}, ev); err != nil {
		t.Fatal(err)
	}
	if !ss.indexed(t)[auditlog.KeysChain] {
		t.Fatal("an admin change did not list its chain")
	}
	if n := ss.seal(t); n != 1 {
		t.Fatalf("Seal = %d, want 1", n)
	}
	if recs, sealed := ss.verify(t); recs != 1 || sealed != 1 {
		t.Fatalf("%d records, %d sealed; want the admin record sealed", recs, sealed)
	}
}
