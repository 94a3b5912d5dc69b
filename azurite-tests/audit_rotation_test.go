package azuritetests

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"keyserver/internal/auditexport"
	"keyserver/internal/auditlog"
	"keyserver/internal/auditwire"
	"keyserver/internal/keyserver"
	"keyserver/internal/localstack"
)

// TestAuditKeyRotation rotates the stack's audit key in the HSM fake
// between two checkpoints: upkeep's next seal records the new version's
// certificate, issued by the old version, in a checkpoint the old version
// signs, and the seal after signs with the new version;
// GET /api/audit/key serves both certificates, ks audit export writes both,
// ks audit verify and openssl verify each checkpoint with the certificate
// it names.
func TestAuditKeyRotation(t *testing.T) {
	since := clock.Now().Add(-time.Second).UTC()
	auditor := mustSubject(t, uniqueName("auditor"), "auditor")
	mustSeal(t)
	var before auditwire.Checkpoint
	mustAudit(t, auditor, "/api/audit/checkpoints/latest", nil, &before)
	if before.Certificate == "" {
		t.Fatalf("checkpoint %d names no certificate: %q", before.N, before.Body)
	}

	if _, err := mustStack(t).HSM.RotateKey(context.Background(), localstack.AuditKeySpec.Name); err != nil {
		t.Fatal(err)
	}
	mustSubject(t, uniqueName("rotated"), "orderer:key1") // a record for the next checkpoint
	mustSeal(t)
	// The old version signs the checkpoint that seals the new certificate's
	// record; the next one is signed by the new version.
	var handover auditwire.Checkpoint
	mustAudit(t, auditor, "/api/audit/checkpoints/latest", nil, &handover)
	if handover.N <= before.N || handover.Certificate != before.Certificate {
		t.Fatalf("the first checkpoint after the rotation, %d, names certificate %q; want the old one, %s", handover.N, handover.Certificate, before.Certificate)
	}
	mustSubject(t, uniqueName("rotated"), "orderer:key1")
	mustSeal(t)
	var after auditwire.Checkpoint
	mustAudit(t, auditor, "/api/audit/checkpoints/latest", nil, &after)
	if after.N <= before.N || after.Certificate == "" || after.Certificate == before.Certificate {
		t.Fatalf("after the rotation checkpoint %d names certificate %q; before it, checkpoint %d named %q", after.N, after.Certificate, before.N, before.Certificate)
	}

	var key auditwire.Key
	mustAudit(t, auditor, "/api/audit/key", nil, &key)
	certs := map[string]auditwire.KeyCertificate{}
	for _, c := range key.Certificates {
		certs[c.SHA256] = c
	}
	oldCert, newCert := certs[before.Certificate], certs[after.Certificate]
	if oldCert.Certificate == "" || newCert.Certificate == "" || key.Certificates[len(key.Certificates)-1].SHA256 != after.Certificate {
		t.Fatalf("GET /api/audit/key serves %d certificates, without both checkpoints' (%s, %s) or not the new one last", len(key.Certificates), before.Certificate, after.Certificate)
	}
	issued := mustCert(t, newCert.Certificate)
	if err := mustCert(t, oldCert.Certificate).CheckSignature(issued.SignatureAlgorithm, issued.RawTBSCertificate, issued.Signature); err != nil {
		t.Fatalf("the new certificate is not signed by the old version: %v", err)
	}
	// The change is an audit record, sealed before any checkpoint names the new certificate.
	var page auditwire.Page
	mustAudit(t, auditor, "/api/audit", url.Values{"event": {keyserver.ActionAuditKey}, "subject": {after.Certificate}}, &page)
	if len(page.Records) != 1 || page.Records[0].ID != newCert.Record || page.Records[0].Chain != auditlog.AuditKeyChain {
		t.Fatalf("the audit.key records of %s: %+v; want %s", after.Certificate, page.Records, newCert.Record)
	}
	var inc auditwire.Inclusion
	mustAudit(t, auditor, "/api/audit/inclusion", url.Values{"record": {newCert.Record}, "checkpoint": {strconv.FormatUint(handover.N, 10)}}, &inc)

	env, dir := auditorEnv(t), t.TempDir()
	mustKSExit(t, 0, dir, env, "audit", "export", "--since", since.Format(time.RFC3339Nano), "log")
	if r := mustKSExit(t, 0, dir, env, "audit", "verify", "log"); !strings.HasPrefix(r.Stdout, "OK: ") {
		t.Fatalf("verify: %s%s", r.Stdout, r.Stderr)
	}
	for _, n := range []uint64{before.N, handover.N, after.N} {
		script := auditexport.OpenSSLCommands(auditexport.CheckpointName(n))
		if r := mustTool(t, filepath.Join(dir, "log"), toolEnv(nil), "sh", "-c", script); !strings.Contains(r.Stdout, "Verified OK") {
			t.Fatalf("openssl did not verify checkpoint %d: %s%s", n, r.Stdout, r.Stderr)
		}
	}
}

func mustCert(tb testing.TB, pemText string) *x509.Certificate {
	tb.Helper()
	b, _ := pem.Decode([]byte(pemText))
	if b == nil {
		tb.Fatalf("not PEM: %q", pemText)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	mustNil(tb, err)
	return c
}
