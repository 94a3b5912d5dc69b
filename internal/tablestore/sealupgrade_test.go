package tablestore_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"keyserver/internal/auditlog"
	"keyserver/internal/keyserver"
)

// deleteRows deletes the rows of partition pk whose row keys start with one
// of prefixes, behind the store's back.
func deleteRows(t *testing.T, c *aztables.Client, pk string, prefixes ...string) int {
	t.Helper()
	ctx := context.Background()
	n := 0
	for _, e := range listEntities(t, c, "PartitionKey eq '"+pk+"'") {
		for _, p := range prefixes {
			if strings.HasPrefix(e.RowKey, p) {
				if _, err := c.DeleteEntity(ctx, pk, e.RowKey, nil); err != nil {
					t.Fatal(err)
				}
				n++
				break
			}
		}
	}
	return n
}

// A store whose records were written before the index: the first seal
// lists their chains once (one read of the record rows, by their Time), and
// never again: a record whose chain is not listed afterwards stays unsealed.
func TestUpgradeListsOldChainsOnce(t *testing.T) {
	ss := newSealStore(t, "")
	ctx := context.Background()
	op := mustOperation(t, ss.Store, 1)
	ss.cancel(t, op)
	refused := keyserver.AuditEvent{Actor: requester, Action: keyserver.ActionSign, Result: "refused: not_found"}
	if err := ss.RecordAudit(ctx, refused); err != nil {
		t.Fatal(err)
	}
	// As the store was: no s~ row, no mark that the chains are indexed.
	if n := deleteRows(t, ss.ops, "~idx", "s~", "o~"); n < 2 {
		t.Fatalf("deleted %d index rows, want the chains' rows", n)
	}
	up := ss.process(t)
	if n := up.seal(t); n != 1 {
		t.Fatalf("Seal = %d, want 1", n)
	}
	if recs, sealed := up.verify(t); recs != 3 || sealed != 3 {
		t.Fatalf("%d records, %d sealed: the first seal must list the chains written before the index", recs, sealed)
	}
	if err := up.RecordAudit(ctx, refused); err != nil {
		t.Fatal(err)
	}
	up.unlist(t, refused.Chain())
	again := ss.process(t)
	again.seal(t)
	if recs, sealed := again.verify(t); recs != 4 || sealed != 3 {
		t.Fatalf("%d records, %d sealed: a later seal must not read the tables again", recs, sealed)
	}
}

// Checkpoints written before the tree was stored: the first seal stores
// their segments and tiles once, from their leaves, checking each signed
// root; proofs then come from them.
func TestUpgradeStoresTheTreeOfOldCheckpoints(t *testing.T) {
	ss := newSealStore(t, "")
	ctx := context.Background()
	var last *keyserver.Operation
	for i := range 5 {
		last = mustOperation(t, ss.Store, 1)
		if i%2 == 0 {
			ss.seal(t)
		}
	}
	ss.seal(t)
	latest, err := ss.LatestCheckpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n := deleteRows(t, ss.audit, "seal", "seg~", "tile~", "tree"); n < 4 {
		t.Fatalf("deleted %d rows of the tree, want them all", n)
	}
	up := ss.process(t)
	if _, err := up.SealedAt(ctx, auditlog.OperationChain(last.ID), 1); err != auditlog.ErrNotFound {
		t.Fatalf("SealedAt before the upgrade = %v", err)
	}
	if n := up.seal(t); n != 0 {
		t.Fatalf("Seal = %d, want 0", n)
	}
	if through, err := up.TreeStored(ctx); err != nil || through != latest.Checkpoint.N {
		t.Fatalf("TreeStored = %d, %v; want %d", through, err, latest.Checkpoint.N)
	}
	leaves := []auditlog.Hash{}
	cps, _ := up.Checkpoints(ctx, 1, 100)
	for _, c := range cps {
		for _, l := range c.Leaves {
			leaves = append(leaves, l.Hash)
		}
	}
	seg, err := up.SealedAt(ctx, auditlog.OperationChain(last.ID), 1)
	if err != nil {
		t.Fatal(err)
	}
	proof, leaf, err := auditlog.ProveInclusion(ctx, up.Store, &auditlog.TileCache{}, &latest.Checkpoint, seg.Leaf)
	want, _ := auditlog.NewTree(leaves).InclusionProof(seg.Leaf, latest.Checkpoint.Size)
	if err != nil || leaf != leaves[seg.Leaf] || len(proof) != len(want) {
		t.Fatalf("ProveInclusion after the upgrade = %v, %v", proof, err)
	}
}

// A new process proves a record with a few reads, however many
// checkpoints there are; a tile changed in storage gives an error.
func TestProofsReadFewRowsAndCatchTamperedTiles(t *testing.T) {
	ss := newSealStore(t, "")
	ctx := context.Background()
	var first *keyserver.Operation
	for i := range 30 {
		op := mustOperation(t, ss.Store, 1)
		if i == 0 {
			first = op
		}
		ss.seal(t)
	}
	up := ss.process(t)
	before := up.f.requests.Load()
	latest, err := up.LatestCheckpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seg, err := up.SealedAt(ctx, auditlog.OperationChain(first.ID), 1)
	if err != nil {
		t.Fatal(err)
	}
	proof, leaf, err := auditlog.ProveInclusion(ctx, up.Store, &auditlog.TileCache{}, &latest.Checkpoint, seg.Leaf)
	if err != nil || auditlog.VerifyInclusion(seg.Leaf, latest.Checkpoint.Size, leaf, proof, latest.Checkpoint.Root) != nil {
		t.Fatalf("ProveInclusion = %v", err)
	}
	if n := up.f.requests.Load() - before; n > 4 {
		t.Fatalf("an inclusion proof under checkpoint %d took %d requests; want at most 4", latest.Checkpoint.N, n)
	}
	// Change one hash of the first tile.
	resp, err := ss.audit.GetEntity(ctx, "seal", "tile~00~000000000000000", nil)
	if err != nil {
		t.Fatal(err)
	}
	var e aztables.EDMEntity
	if err := e.UnmarshalJSON(resp.Value); err != nil {
		t.Fatal(err)
	}
	data, err := base64.StdEncoding.DecodeString(e.Properties["Data"].(string))
	if err != nil {
		t.Fatal(err)
	}
	data[40] ^= 1 // the second leaf's hash
	e.Properties["Data"] = base64.StdEncoding.EncodeToString(data)
	b, _ := e.MarshalJSON()
	if _, err := ss.audit.UpdateEntity(ctx, b, &aztables.UpdateEntityOptions{UpdateMode: aztables.UpdateModeReplace}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := auditlog.ProveInclusion(ctx, up.Store, &auditlog.TileCache{}, &latest.Checkpoint, seg.Leaf); !errors.Is(err, auditlog.ErrTiles) {
		t.Fatal("a proof was made over a tampered tile")
	}
}

// Every record's segment gives its leaf: the leaf the checkpoints list.
func TestSealedAtFindsEveryRecordsLeaf(t *testing.T) {
	ss := newSealStore(t, "")
	ctx := context.Background()
	op := mustOperation(t, ss.Store, 1)
	chain := auditlog.OperationChain(op.ID)
	for round := range 3 {
		for range 4 + round {
			if err := ss.RecordEvent(ctx, op.ID, refusal(op.ID)); err != nil {
				t.Fatal(err)
			}
		}
		mustOperation(t, ss.Store, 1) // another chain between this one's runs
		ss.seal(t)
	}
	cps, err := ss.Checkpoints(ctx, 1, 10)
	if err != nil {
		t.Fatal(err)
	}
	var leaves []auditlog.Leaf
	for _, c := range cps {
		leaves = append(leaves, c.Leaves...)
	}
	found := 0
	for i, l := range leaves {
		if l.Chain != chain {
			continue
		}
		seg, err := ss.SealedAt(ctx, chain, l.Seq)
		if err != nil || seg.Leaf+l.Seq-seg.First != uint64(i) {
			t.Fatalf("SealedAt(%s#%d) = %+v, %v; want leaf %d", chain, l.Seq, seg, err, i)
		}
		found++
	}
	if found != 16 {
		t.Fatalf("%d records of the chain are sealed, want 16", found)
	}
	if _, err := ss.SealedAt(ctx, chain, 17); !errors.Is(err, auditlog.ErrNotFound) {
		t.Fatalf("SealedAt past the sealed head = %v, want not found", err)
	}
}

// caughtUp seals twice, upgradeSettle apart, so that the listing of the
// chains from before the index is over (none, in a new store), then sets
// the clock back to now.
func (ss *sealStore) caughtUp(t *testing.T) {
	t.Helper()
	ss.seal(t)
	ss.clock = time.Now().Add(11 * time.Minute)
	ss.seal(t)
	ss.clock = time.Now()
}

// Processes of the earlier version go on writing, listing nothing, after
// the first seal of the new one: an upgrade does not replace every instance
// at once. The seal 10 minutes after the first lists the chains again, and
// only then are the tables never read again.
func TestUpgradeListsChainsAgainAfterOldProcessesStop(t *testing.T) {
	ss := newSealStore(t, "")
	ctx := context.Background()
	op := mustOperation(t, ss.Store, 1)
	if n := deleteRows(t, ss.ops, "~idx", "s~", "o~"); n < 1 {
		t.Fatalf("deleted %d index rows, want the chain's row", n)
	}
	up := ss.process(t)
	up.seal(t)
	if recs, sealed := up.verify(t); recs != 1 || sealed != 1 {
		t.Fatalf("%d records, %d sealed: the first seal lists the chains written before the index", recs, sealed)
	}
	// An old process, which lists nothing: a record to a chain listed by
	// the first listing and since released, and one to a new chain.
	old := func(ev keyserver.AuditEvent) {
		t.Helper()
		if err := ss.RecordAudit(ctx, ev); err != nil {
			t.Fatal(err)
		}
		ss.unlist(t, ev.Chain())
	}
	ss.cancel(t, op)
	deleteRows(t, ss.ops, "~idx", "s~", "o~", "d~")
	old(keyserver.AuditEvent{Actor: requester, Action: keyserver.ActionSign, Result: "refused: not_found"})
	up.seal(t)
	if recs, sealed := up.verify(t); recs != 3 || sealed != 1 {
		t.Fatalf("%d records, %d sealed; want 3 and 1 before the second listing is due", recs, sealed)
	}
	up.clock = time.Now().Add(11 * time.Minute)
	up.seal(t)
	if recs, sealed := up.verify(t); recs != 3 || sealed != 3 {
		t.Fatalf("%d records, %d sealed: the second listing must take in what old processes wrote after the first", recs, sealed)
	}
	// Done: the tables are not read again.
	old(keyserver.AuditEvent{Actor: requester, Action: keyserver.ActionSign, Result: "refused: forbidden"})
	again := ss.process(t)
	again.clock = time.Now().Add(30 * time.Minute)
	again.seal(t)
	if recs, sealed := again.verify(t); recs != 4 || sealed != 3 {
		t.Fatalf("%d records, %d sealed: once the second listing is done, a seal must not read the tables", recs, sealed)
	}
}

// listEntities reads every entity of c that filter matches, behind the
// store's back.
func listEntities(t *testing.T, c *aztables.Client, filter string) []aztables.EDMEntity {
	t.Helper()
	var out []aztables.EDMEntity
	pager := c.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter})
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range page.Entities {
			var e aztables.EDMEntity
			if err := e.UnmarshalJSON(b); err != nil {
				t.Fatal(err)
			}
			out = append(out, e)
		}
	}
	return out
}
