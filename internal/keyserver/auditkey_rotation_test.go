package keyserver_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"testing"
	"time"

	"keyserver/internal/auditlog"
	"keyserver/internal/auditlog/audittest"
	"keyserver/internal/keyserver"
)

// failingTrail fails every checkpoint write while fail is set.
type failingTrail struct {
	*keyserver.MemTrail
	fail bool
}

func (f *failingTrail) PutCheckpoint(ctx context.Context, s *auditlog.Sealed, st auditlog.SealState) error {
	if f.fail {
		return errors.New("storage unavailable")
	}
	return f.MemTrail.PutCheckpoint(ctx, s, st)
}

// verifyTrail verifies everything trail holds, as an export would.
func verifyTrail(t *testing.T, svc *keyserver.Service, trail *keyserver.MemTrail) *auditlog.Report {
	t.Helper()
	ctx := context.Background()
	certs, err := svc.AuditCertificates(ctx)
	mustDo(t, err)
	l := &auditlog.Log{Records: trail.All()}
	for i, c := range certs {
		cert := mustParseCert(t, c.PEM)
		if i == 0 {
			l.Certificate = cert
		}
		l.Certificates = append(l.Certificates, cert)
	}
	l.Checkpoints, err = trail.Checkpoints(ctx, 1, 1000)
	mustDo(t, err)
	return auditlog.Verify(l)
}

// The audit key is rotated twice before the record introducing the first
// rotation's certificate is sealed (its seal failed), with more records
// pending than one checkpoint holds: checkpoints are signed by the version
// whose certificate's record is sealed until the new one's is, and the log
// verifies.
func TestAuditKeyRotatedTwiceBeforeASeal(t *testing.T) {
	ctx := context.Background()
	key, _ := audittest.NewKey(t)
	now := time.Now()
	trail := &failingTrail{MemTrail: keyserver.NewMemTrail(func() time.Time { return now })}
	svc := &keyserver.Service{Trail: trail, Audit: trail, HSM: key, AuditKey: "https://vault.test/keys/audit", Now: func() time.Time { return now }}
	write := func(n int) {
		for i := 0; i < n; i++ {
			ev := keyserver.AuditEvent{Time: now, Action: keyserver.ActionAdminKey, Target: "key1", Result: "ok"}
			_, err := trail.Append(ctx, ev.Record(auditlog.KeysChain))
			mustDo(t, err)
		}
	}
	seal := func() {
		t.Helper()
		now = now.Add(time.Minute)
		if _, err := svc.SealAudit(ctx); err != nil {
			t.Fatalf("SealAudit: %v", err)
		}
	}
	write(1)
	seal()
	key.Rotate(t)
	write(1)
	trail.fail = true
	if _, err := svc.SealAudit(ctx); err == nil {
		t.Fatal("SealAudit wrote a checkpoint into failing storage")
	}
	trail.fail = false
	key.Rotate(t)
	write(auditlog.MaxLeavesPerCheckpoint + 1) // admin/keys seals before auditkey
	seal()
	write(1)
	seal()
	if rep := verifyTrail(t, svc, trail.MemTrail); !rep.OK() || rep.Certificates != 2 {
		t.Fatalf("verify: %v; %d certificates trusted", rep.Problems, rep.Certificates)
	}
}

func mustParseCert(t *testing.T, pemText string) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode([]byte(pemText))
	if b == nil {
		t.Fatalf("not PEM: %q", pemText)
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	mustDo(t, err)
	return cert
}
