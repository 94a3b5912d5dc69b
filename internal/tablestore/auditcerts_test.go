package tablestore_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"keyserver/internal/auditlog"
	"keyserver/internal/auditlog/audittest"
	"keyserver/internal/keyserver"
)

// A deployment whose audit certificate was stored before certificates were
// recorded (the seal partition's "certificate" row): the first seal records
// it, with the key version that carries it, and a rotation after that is
// handed over by that version. The whole log verifies from the old
// certificate, as kept apart.
func TestStoredAuditCertificateIsRecordedThenRotated(t *testing.T) {
	ctx := context.Background()
	s := mustStores(t, 1)[0]
	key, _ := audittest.NewKey(t)
	signer, err := key.Open(ctx, "")
	mustDo(t, err)
	legacyPEM, err := keyserver.SelfSign(ctx, signer, "keyserver audit", s.Now())
	mustDo(t, err)
	svc, err := aztables.NewServiceClientFromConnectionString(azuriteSrv.ConnectionString(), nil)
	mustDo(t, err)
	row, _ := json.Marshal(map[string]any{"PartitionKey": "seal", "RowKey": "certificate", "Certificate": legacyPEM})
	_, err = svc.NewClient(s.Prefix()+"Audit").AddEntity(ctx, row, nil)
	mustDo(t, err)
	legacy := parsePEM(t, legacyPEM)

	ks := &keyserver.Service{Ops: s, Keys: s, Subjects: s, Audit: s, Trail: s, HSM: key, AuditKey: "https://vault.test/keys/audit", Limits: keyserver.DefaultLimits}
	seal := func() {
		t.Helper()
		mustOperation(t, s, 1) // a record to seal
		if n, err := ks.SealAudit(ctx); err != nil || n != 1 {
			t.Fatalf("SealAudit = %d, %v", n, err)
		}
	}
	seal()
	certs, err := s.AuditCertificates(ctx)
	mustDo(t, err)
	if len(certs) != 1 || certs[0].SHA256 != keyserver.CertificateSHA256(legacy.Raw) || certs[0].Record != auditlog.AuditKeyChain+"#1" || certs[0].HSMKey != "https://vault.test/keys/audit/v1" {
		t.Fatalf("after the first seal the certificates are %+v; want the stored one, recorded with version 1", certs)
	}
	key.Rotate(t)
	seal() // handed over by version 1
	seal() // signed by version 2
	certs, err = s.AuditCertificates(ctx)
	mustDo(t, err)
	if len(certs) != 2 || certs[1].HSMKey != "https://vault.test/keys/audit/v2" || certs[1].Record != auditlog.AuditKeyChain+"#2" {
		t.Fatalf("after the rotation the certificates are %+v", certs)
	}
	l := exportAll(t, s, legacy)
	for _, c := range certs {
		l.Certificates = append(l.Certificates, parsePEM(t, c.PEM))
	}
	rep := auditlog.Verify(l)
	if !rep.OK() || rep.Certificates != 2 || rep.Checkpoints != 3 {
		t.Fatalf("verify: %v; %d certificates, %d checkpoints", rep.Problems, rep.Certificates, rep.Checkpoints)
	}
	names := []string{l.Checkpoints[0].Checkpoint.Certificate.String(), l.Checkpoints[1].Checkpoint.Certificate.String(), l.Checkpoints[2].Checkpoint.Certificate.String()}
	if names[0] != certs[0].SHA256 || names[1] != certs[0].SHA256 || names[2] != certs[1].SHA256 {
		t.Fatalf("the checkpoints name %v; want the stored certificate twice, then the new one", names)
	}
}

func parsePEM(tb testing.TB, s string) *x509.Certificate {
	tb.Helper()
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		tb.Fatalf("not PEM: %q", s)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	mustDo(tb, err)
	return c
}

func mustDo(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}
