package tablestore_test

import (
	"context"
	"encoding/pem"
	"errors"
	"strconv"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"keyserver/internal/auditlog"
	"keyserver/internal/keyserver"
)

// A segment row is unsigned: the server maps a record id to a leaf through
// it, so an edited segment would serve a verifying proof of another record
// for a record the log does not hold. The proof reads the record by one
// point read and refuses a leaf that is not its hash.
func TestProofForARecordTheLogDoesNotHoldIsRefused(t *testing.T) {
	ss := newSealStore(t, "")
	ctx := context.Background()
	cert := ss.sealer.Certificate
	c := keyserver.AuditCertificate{PEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})),
		SHA256: keyserver.CertificateSHA256(cert.Raw), HSMKey: "https://vault.example/keys/audit/v1"}
	if _, err := ss.AddAuditCertificate(ctx, c, keyserver.AuditEvent{Action: keyserver.ActionAuditKey, Target: c.SHA256, Result: "ok"}); err != nil {
		t.Fatal(err)
	}
	var chain string
	var first uint64
	for range 3 {
		mustOperation(t, ss.Store, 1)
	}
	ss.seal(t)
	pending, err := ss.PendingChains(ctx) // the chains sealed
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pending { // the chain sealed first: the record after its last is another chain's leaf
		seg, err := ss.SealedAt(ctx, p.Chain, 1)
		if err != nil {
			t.Fatal(err)
		}
		if chain == "" || seg.Leaf < first {
			chain, first = p.Chain, seg.Leaf
		}
	}
	rk := "seg~" + base64url(chain) + "~" + strconv.FormatUint(1<<63-1-1, 10)
	e, err := aztables.EDMEntity{Entity: aztables.Entity{PartitionKey: "seal", RowKey: rk}, Properties: map[string]any{"Last": aztables.EDMInt64(2)}}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ss.audit.UpdateEntity(ctx, e, &aztables.UpdateEntityOptions{UpdateMode: aztables.UpdateModeMerge}); err != nil {
		t.Fatal(err)
	}
	svc := &keyserver.Service{Trail: ss.Store, Ops: ss.Store}
	auditor := keyserver.Caller{Roles: []string{keyserver.RoleAuditor}}
	p, err := svc.InclusionProof(ctx, auditor, auditlog.RecordID(chain, 2), 0)
	if err == nil {
		verr := auditlog.VerifyInclusion(p.LeafIndex, p.Checkpoint.Size, p.LeafHash, p.Proof, p.Checkpoint.Root)
		t.Fatalf("served an inclusion proof for %s, which the log does not hold (leaf %d, verifies: %v)", p.Record, p.LeafIndex, verr == nil)
	}
	if keyserver.ErrorCode(err) != keyserver.EINTERNAL {
		t.Fatalf("proof of a record the log does not hold: %v; want an internal error that says to verify the log", err)
	}
	if _, err := svc.InclusionProof(ctx, auditor, auditlog.RecordID(chain, 1), 0); err != nil {
		t.Fatalf("proof of a record the log holds: %v", err)
	}
}

// Record reads one record by one point read.
func TestRecordIsOnePointRead(t *testing.T) {
	ss := newSealStore(t, "")
	ctx := context.Background()
	op := mustOperation(t, ss.Store, 1)
	chain := auditlog.OperationChain(op.ID)
	if err := ss.RecordEvent(ctx, op.ID, refusal(op.ID)); err != nil {
		t.Fatal(err)
	}
	all, err := ss.ChainRecords(ctx, chain, 1)
	if err != nil || len(all) != 2 {
		t.Fatalf("ChainRecords = %d records, %v", len(all), err)
	}
	gets := ss.f.gets.Load()
	got, err := ss.Record(ctx, chain, 2)
	if err != nil {
		t.Fatal(err)
	}
	if n := ss.f.gets.Load() - gets; n != 1 {
		t.Errorf("Record read %d times; want one point read", n)
	}
	if got != all[1] {
		t.Errorf("Record = %+v; want %+v", got, all[1])
	}
	if _, err := ss.Record(ctx, chain, 3); !errors.Is(err, auditlog.ErrNotFound) {
		t.Errorf("Record of a record not written: %v; want ErrNotFound", err)
	}
}
