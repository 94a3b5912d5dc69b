package tablestore_test

import (
	"context"
	"testing"
	"time"

	"keyserver/internal/auditlog"
	"keyserver/internal/keyserver"
)

// noteExpiry finishes op as upkeep does when it expires: ExpiryNoted, with
// its record; the op row's Open flag stays as it was.
func (ss *sealStore) noteExpiry(t *testing.T, op *keyserver.Operation) {
	t.Helper()
	_, err := ss.UpdateOperation(context.Background(), op.ID, func(o *keyserver.Operation) (*keyserver.Update, error) {
		o.ExpiryNoted = true
		return &keyserver.Update{Audit: keyserver.AuditEvent{Time: ss.clock, Action: keyserver.ActionExpire, OperationID: o.ID, Result: "ok"}}, nil
	})
	if err != nil {
		t.Fatalf("noting the expiry: %v", err)
	}
}

// idleOut seals, then seals again 11 minutes later, so that the finished
// chain leaves the index.
func (ss *sealStore) idleOut(t *testing.T, chain string) {
	t.Helper()
	ss.seal(t)
	ss.clock = time.Now().Add(11 * time.Minute)
	ss.seal(t)
	if ss.indexed(t)[chain] {
		t.Fatal("precondition: the idle chain should have left the index")
	}
}

// sealLater seals from both processes, then once more after a new record
// elsewhere, and checks that every record of the log is sealed.
func sealLater(t *testing.T, ss, other *sealStore, chain string) {
	t.Helper()
	ss.clock = time.Now().Add(30 * time.Minute)
	ss.seal(t)
	other.seal(t)
	ss.clock = time.Now().Add(60 * time.Minute)
	mustOperation(t, ss.Store, 1)
	ss.seal(t)
	if recs, sealed := ss.verify(t); recs != sealed {
		t.Fatalf("%d records, %d sealed: a record on the expired operation is stranded (chain listed: %v)", recs, sealed, ss.indexed(t)[chain])
	}
}

// An operation finished by expiry keeps Open in its op row. A process that
// reads that row to sign and records the refusal must list the chain, which
// the sealer may have released since the expiry.
func TestRefusalOnExpiredOperationIsSealed(t *testing.T) {
	ss := newSealStore(t, "")
	ctx := context.Background()
	ss.seal(t)
	op := mustOperation(t, ss.Store, 1)
	chain := auditlog.OperationChain(op.ID)
	ss.noteExpiry(t, op)
	ss.idleOut(t, chain)
	other := ss.process(t)
	if _, err := other.OperationForSigning(ctx, op.ID); err != nil {
		t.Fatal(err)
	}
	ev := keyserver.AuditEvent{Time: ss.clock, Actor: requester, Action: keyserver.ActionSign, OperationID: op.ID, KeyID: "k1", Result: "refused: expired"}
	if err := other.RecordEvent(ctx, op.ID, ev); err != nil {
		t.Fatal(err)
	}
	sealLater(t, ss, other, chain)
}

// A use reserved before the expiry and released after it (the HSM call
// outlived the operation) writes its failed: record to a chain the sealer
// may have released: the release lists it first.
func TestReleaseAfterExpiryIsSealed(t *testing.T) {
	ss := newSealStore(t, "")
	ctx := context.Background()
	ss.seal(t)
	op := mustOperation(t, ss.Store, 2)
	chain := auditlog.OperationChain(op.ID)
	other := ss.process(t)
	res := mustReserve(t, other.Store, op.ID, 2)
	ss.noteExpiry(t, op)
	ss.idleOut(t, chain)
	ev := keyserver.AuditEvent{Time: ss.clock, Actor: requester, Action: keyserver.ActionSign, OperationID: op.ID, KeyID: "k1", Result: "failed: the HSM did not answer"}
	if err := other.ReleaseUse(ctx, res, ev); err != nil {
		t.Fatal(err)
	}
	sealLater(t, ss, other, chain)
}
