package tablestore_test

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"keyserver/internal/keyserver"
	"keyserver/internal/keyserver/memhsm"
)

// BenchmarkSign makes signatures through the domain on the tables of an
// Azurite, with an in-memory HSM behind the verifying wrapper: the sign
// path's work in the Keyserver's own code, less HTTP in front of it. Its
// allocations are the figure to watch; its time includes Azurite's.
func BenchmarkSign(b *testing.B) {
	s := mustStores(b, 1)[0]
	ctx := context.Background()
	svc := &keyserver.Service{
		Ops: s, Keys: s, Subjects: s, Policies: s, Audit: s, Trail: s, AuditKey: "https://vault.test/keys/audit",
		HSM: keyserver.Verified(memhsm.New()), Limits: keyserver.DefaultLimits, CacheTTL: 10 * time.Second,
	}
	if err := s.PutKey(ctx, &keyserver.Key{KeyID: "k1", HSMKey: "rsa2048", Algorithm: "RS256", Enabled: true}, keyserver.AuditEvent{}); err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	op := &keyserver.Operation{
		ID: keyserver.NewID(), Requester: requester, Description: "benchmark", Created: now, Expires: now.Add(time.Hour),
		Keys: []*keyserver.KeyGrant{{KeyID: "k1", MaxUsageCount: 1 << 20}},
	}
	if err := s.CreateOperation(ctx, op, keyserver.AuditEvent{Time: now, Actor: requester, Action: keyserver.ActionCreate, OperationID: op.ID, Result: "ok"}, nil); err != nil {
		b.Fatal(err)
	}
	digest := sha256.Sum256([]byte("benchmark"))
	order := &keyserver.SignOrder{OperationID: op.ID, KeyID: "k1", InputFormat: "hex", Description: "benchmark",
		InputData: hex.EncodeToString(keyserver.DigestInfo(crypto.SHA256, digest[:])), InputPadding: "digestinfo", SignatureFormat: "asn1"}
	c := keyserver.Caller{Principal: requester, Roles: []string{keyserver.RoleAdmin}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.Sign(ctx, c, order); err != nil {
			b.Fatal(err)
		}
	}
}
