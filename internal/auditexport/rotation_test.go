package auditexport_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"keyserver/internal/api"
	"keyserver/internal/auditexport"
	"keyserver/internal/auditlog"
	"keyserver/internal/auditlog/audittest"
	"keyserver/internal/auditwire"
	"keyserver/internal/keyserver"
	"keyserver/internal/keyserver/memstore"
	"keyserver/internal/ksc"
)

// rotationFlow seals checkpoint 1 with the audit key's first version, then
// rotates the key: checkpoint 2, still signed by the first version, seals the
// record introducing the new version's certificate, which checkpoint 3 names.
func rotationFlow(t *testing.T) (*keyserver.MemTrail, *ksc.Client) {
	key, _ := audittest.NewKey(t)
	store := memstore.New()
	trail := keyserver.NewMemTrail(time.Now)
	svc := &keyserver.Service{Ops: store, Keys: store, Subjects: store, Audit: trail, Trail: trail, HSM: key, AuditKey: "https://vault.test/keys/audit", Limits: keyserver.DefaultLimits}
	ctx := context.Background()
	mustNil(t, store.PutSubject(ctx, &keyserver.Subject{Principal: keyserver.Principal{Issuer: "https://issuer.test", Subject: "carol"}, Roles: []string{"auditor"}}, keyserver.AuditEvent{}))
	write := func(n int) {
		for i := 0; i < n; i++ {
			if _, err := trail.RecordOperationEvent(ctx, "aaaa", keyserver.AuditEvent{Time: time.Now(), Action: keyserver.ActionSign, OperationID: "aaaa", Result: "ok"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(2)
	mustSeal(t, svc)
	key.Rotate(t)
	write(2)
	mustSeal(t, svc)
	write(1)
	mustSeal(t, svc)
	srv := httptest.NewServer((&api.Server{Service: svc, Verifier: auditorTokens{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler())
	t.Cleanup(srv.Close)
	base, _ := url.Parse(srv.URL)
	return trail, &ksc.Client{Base: base, HTTP: srv.Client(), Tokens: staticToken("carol")}
}

func exportTo(t *testing.T, src *ksc.Client, since time.Time) string {
	t.Helper()
	e, err := auditexport.Fetch(context.Background(), src, since, time.Now(), src.Base.String())
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	dir := t.TempDir()
	if err := auditexport.Write(dir, e); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return dir
}

func verifyDir(t *testing.T, dir string) (*auditlog.Report, string) {
	t.Helper()
	var out strings.Builder
	rep, err := auditexport.VerifyDir(dir, nil, &out)
	if err != nil {
		t.Fatalf("VerifyDir: %v", err)
	}
	return rep, out.String()
}

// TestRotatedAuditKeyKeepsVerifying: checkpoints signed before a rotation
// verify with the first certificate and those after with the new one, which
// the first one's key issued and an audit.key record introduced; openssl
// verifies each with the certificate its body names.
func TestRotatedAuditKeyKeepsVerifying(t *testing.T) {
	_, src := rotationFlow(t)
	key, err := src.AuditKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(key.Certificates) != 2 || key.Certificate != key.Certificates[0].Certificate || key.Certificates[1].Record != auditlog.AuditKeyChain+"#2" {
		t.Fatalf("GET /api/audit/key = %+v; want the first certificate, then the rotated version's", key)
	}
	for _, since := range []time.Time{{}, time.Now().Add(-time.Millisecond)} {
		dir := exportTo(t, src, since)
		if rep, out := verifyDir(t, dir); !rep.OK() || rep.Checkpoints != 3 || !strings.HasSuffix(out, "; signed with the first audit certificate and 1 more, each issued by one before it\n") {
			t.Fatalf("since %v: verify = %q", since, out)
		}
		l, err := auditexport.Read(dir)
		if err != nil {
			t.Fatal(err)
		}
		names := []auditlog.Hash{l.Checkpoints[0].Checkpoint.Certificate, l.Checkpoints[1].Checkpoint.Certificate, l.Checkpoints[2].Checkpoint.Certificate}
		if names[0].String() != key.Certificates[0].SHA256 || names[1] != names[0] || names[2].String() != key.Certificates[1].SHA256 {
			t.Fatalf("the checkpoints name certificates %v; want the first twice (the second sealing the new one's record), then the new one", names)
		}
		for _, stem := range []string{"00000001", "00000002", "00000003"} {
			cmd := exec.Command("sh", "-c", auditexport.OpenSSLCommands(stem))
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "Verified OK") {
				t.Fatalf("openssl did not verify checkpoint %s: %v\n%s", stem, err, out)
			}
		}
	}
}

// TestRotationForgeriesAreRefused: a checkpoint naming a certificate the
// trusted key did not issue, or one whose introducing record is gone, fails.
func TestRotationForgeriesAreRefused(t *testing.T) {
	t.Run("a certificate no trusted key issued", func(t *testing.T) {
		_, src := rotationFlow(t)
		dir := exportTo(t, src, time.Time{})
		forgeCheckpoint(t, dir, 3)
		rep, out := verifyDir(t, dir)
		if rep.OK() || !strings.HasPrefix(out, "FAILED: checkpoint 3: checkpoint invalid: it names audit certificate") || !strings.Contains(out, "which no audit certificate trusted before it issued") {
			t.Fatalf("verify = %q", out)
		}
	})
	t.Run("the record introducing the certificate deleted", func(t *testing.T) {
		trail, src := rotationFlow(t)
		c := trail.Chains()
		c[auditlog.AuditKeyChain] = slices.Delete(c[auditlog.AuditKeyChain], 1, 2)
		rep, out := verifyDir(t, exportTo(t, src, time.Time{}))
		if rep.OK() || !strings.HasPrefix(out, "FAILED: checkpoint 3: checkpoint invalid: it is the first to name audit certificate") {
			t.Fatalf("verify = %q", out)
		}
	})
	t.Run("the new certificate left out of the export", func(t *testing.T) {
		_, src := rotationFlow(t)
		dir := exportTo(t, src, time.Time{})
		l, _ := auditexport.Read(dir)
		mustNil(t, os.Remove(filepath.Join(dir, auditexport.CertificatePath(l.Checkpoints[2].Checkpoint.Certificate))))
		rep, out := verifyDir(t, dir)
		if rep.OK() || !strings.HasPrefix(out, "FAILED: checkpoint 3: checkpoint invalid: it names audit certificate") || !strings.Contains(out, "which the export does not hold") {
			t.Fatalf("verify = %q", out)
		}
	})
}

// forgeCheckpoint re-signs checkpoint n of an export with a key and a
// self-signed certificate of the forger's, which the body names.
func forgeCheckpoint(t *testing.T, dir string, n uint64) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mustNil(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "keyserver audit"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	mustNil(t, err)
	cert, err := x509.ParseCertificate(der)
	mustNil(t, err)
	mustNil(t, os.WriteFile(filepath.Join(dir, auditexport.CertificatePath(auditlog.CertificateHash(cert))), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
	stem := filepath.Join(dir, auditexport.CheckpointDir, auditexport.CheckpointName(n))
	b, err := os.ReadFile(stem + ".json")
	mustNil(t, err)
	var c auditwire.Checkpoint
	mustNil(t, json.Unmarshal(b, &c))
	sealed, err := c.Sealed()
	mustNil(t, err)
	sealed.Checkpoint.Certificate = auditlog.CertificateHash(cert)
	sig, err := auditlog.Sign(context.Background(), softSigner{k}, cert, &sealed.Checkpoint)
	mustNil(t, err)
	sealed.Signature = sig
	c = auditwire.CheckpointOf(sealed)
	b, err = json.Marshal(c)
	mustNil(t, err)
	mustNil(t, os.WriteFile(stem+".json", b, 0o644))
	mustNil(t, os.WriteFile(stem+".body", []byte(c.Body), 0o644))
	mustNil(t, os.WriteFile(stem+".sig", sig, 0o644))
}

type softSigner struct{ k *ecdsa.PrivateKey }

func (s softSigner) Public() crypto.PublicKey { return &s.k.PublicKey }

func (s softSigner) SignContext(_ context.Context, digest []byte, _ crypto.SignerOpts) ([]byte, error) {
	return ecdsa.SignASN1(rand.Reader, s.k, digest)
}

func mustNil(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// TestUpgradedLogKeepsVerifying: a log whose certificate and v1 checkpoint
// were written before certificates were recorded goes on with v2
// checkpoints, its certificate recorded at the first seal, and through a
// rotation; the whole log verifies.
func TestUpgradedLogKeepsVerifying(t *testing.T) {
	ctx := context.Background()
	key, _ := audittest.NewKey(t)
	store := memstore.New()
	trail := keyserver.NewMemTrail(time.Now)
	mustNil(t, store.PutSubject(ctx, &keyserver.Subject{Principal: keyserver.Principal{Issuer: "https://issuer.test", Subject: "carol"}, Roles: []string{"auditor"}}, keyserver.AuditEvent{}))
	svc := &keyserver.Service{Ops: store, Keys: store, Subjects: store, Audit: trail, Trail: trail, HSM: key, AuditKey: "https://vault.test/keys/audit", Limits: keyserver.DefaultLimits}
	signer, err := key.Open(ctx, "")
	mustNil(t, err)
	certPEM, err := keyserver.SelfSign(ctx, signer, "keyserver audit", time.Now())
	mustNil(t, err)
	blk, _ := pem.Decode([]byte(certPEM))
	cert, err := x509.ParseCertificate(blk.Bytes)
	mustNil(t, err)
	trail.PutLegacyCertificate(certPEM, keyserver.CertificateSHA256(cert.Raw))

	// Checkpoint 1 as it was sealed before: a v1 body.
	tree := auditlog.NewTree(nil)
	var leaves []auditlog.Leaf
	for i := 0; i < 2; i++ {
		id, err := trail.RecordOperationEvent(ctx, "aaaa", keyserver.AuditEvent{Time: time.Now(), Action: keyserver.ActionSign, OperationID: "aaaa", Result: "ok"})
		mustNil(t, err)
		recs, _ := trail.ChainRecords(ctx, auditlog.OperationChain("aaaa"), 1)
		r := recs[len(recs)-1].Record
		if r.ID() != id {
			t.Fatalf("record %s, want %s", r.ID(), id)
		}
		leaves = append(leaves, auditlog.Leaf{Chain: r.Chain, Seq: r.Seq, Time: r.Time, Hash: r.LeafHash()})
		tree.Append(r.LeafHash())
	}
	root, _ := tree.Root(tree.Size())
	cp := &auditlog.Checkpoint{N: 1, Size: tree.Size(), Root: root, Time: time.Now()}
	sig, err := auditlog.Sign(ctx, signer, cert, cp)
	mustNil(t, err)
	mustNil(t, trail.PutOldCheckpoint(&auditlog.Sealed{Checkpoint: *cp, Signature: sig, Leaves: leaves}))

	if _, err := trail.RecordOperationEvent(ctx, "aaaa", keyserver.AuditEvent{Time: time.Now(), Action: keyserver.ActionSign, OperationID: "aaaa", Result: "ok"}); err != nil {
		t.Fatal(err)
	}
	mustSeal(t, svc)
	key.Rotate(t)
	mustSeal(t, svc) // still signed by the first version: it seals the new certificate's record
	if _, err := trail.RecordOperationEvent(ctx, "aaaa", keyserver.AuditEvent{Time: time.Now(), Action: keyserver.ActionSign, OperationID: "aaaa", Result: "ok"}); err != nil {
		t.Fatal(err)
	}
	mustSeal(t, svc)
	certs, err := trail.AuditCertificates(ctx)
	mustNil(t, err)
	if len(certs) != 2 || certs[0].SHA256 != keyserver.CertificateSHA256(cert.Raw) || certs[0].Record != auditlog.AuditKeyChain+"#1" || certs[1].Record != auditlog.AuditKeyChain+"#2" {
		t.Fatalf("certificates = %+v; want the stored one, recorded, then the rotated version's", certs)
	}
	srv := httptest.NewServer((&api.Server{Service: svc, Verifier: auditorTokens{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler())
	t.Cleanup(srv.Close)
	base, _ := url.Parse(srv.URL)
	dir := exportTo(t, &ksc.Client{Base: base, HTTP: srv.Client(), Tokens: staticToken("carol")}, time.Time{})
	if rep, out := verifyDir(t, dir); !rep.OK() || rep.Checkpoints != 4 {
		t.Fatalf("verify = %q", out)
	}
	for _, stem := range []string{"00000001", "00000004"} {
		cmd := exec.Command("sh", "-c", auditexport.OpenSSLCommands(stem))
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "Verified OK") {
			t.Fatalf("openssl did not verify checkpoint %s: %v\n%s", stem, err, out)
		}
	}
}

// TestRotationNeedsTheOldVersion: when the version that signed so far can no
// longer sign, the new version's certificate cannot be issued: sealing
// fails saying so, and records nothing, until the old version is enabled.
func TestRotationNeedsTheOldVersion(t *testing.T) {
	ctx := context.Background()
	key, _ := audittest.NewKey(t)
	store := memstore.New()
	trail := keyserver.NewMemTrail(time.Now)
	svc := &keyserver.Service{Ops: store, Keys: store, Subjects: store, Audit: trail, Trail: trail, HSM: key, AuditKey: "https://vault.test/keys/audit", Limits: keyserver.DefaultLimits}
	mustSeal(t, svc)
	key.Rotate(t)
	key.SetEnabled(1, false)
	if _, err := svc.SealAudit(ctx); keyserver.ErrorCode(err) != keyserver.EUNAVAILABLE || !strings.Contains(keyserver.ErrorMessage(err), "Keep the old version enabled") {
		t.Fatalf("SealAudit with the old version disabled = %v", err)
	}
	if certs, _ := trail.AuditCertificates(ctx); len(certs) != 1 || len(trail.Chains()[auditlog.AuditKeyChain]) != 1 {
		t.Fatalf("a failed rotation left certificates %+v", certs)
	}
	key.SetEnabled(1, true)
	mustSeal(t, svc)
	if certs, _ := trail.AuditCertificates(ctx); len(certs) != 2 {
		t.Fatalf("certificates after the old version came back: %+v", certs)
	}
}
