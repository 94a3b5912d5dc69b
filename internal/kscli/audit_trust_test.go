package kscli

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// certSHA256 is the SHA-256 of DIR/audit-certificate.pem's DER, in hex.
func certSHA256(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "audit-certificate.pem"))
	mustOK(t, err)
	blk, _ := pem.Decode(b)
	sum := sha256.Sum256(blk.Bytes)
	return hex.EncodeToString(sum[:])
}

// A log rewritten and signed by another key verifies on its own; --trust
// with the first certificate's SHA-256 kept apart, or --known with an
// earlier export, refuses it. The OK line prints the first certificate's
// SHA-256.
func TestAuditVerifyTrust(t *testing.T) {
	h, _ := auditHarness(t)
	h.mustRun(0, "audit", "export", "log")
	sum := certSHA256(t, filepath.Join(h.dir, "log"))
	if r := h.mustRun(0, "audit", "verify", "log"); !strings.Contains(r.stdout, "first audit certificate SHA-256 "+sum+": compare it") {
		t.Fatalf("verify said %q; want the first certificate's SHA-256 %s", r.stdout, sum)
	}
	var colons []string
	for i := 0; i < len(sum); i += 2 {
		colons = append(colons, strings.ToUpper(sum[i:i+2]))
	}
	for _, trust := range []string{sum, "sha256 Fingerprint=" + strings.Join(colons, ":")} {
		if r := h.mustRun(0, "audit", "verify", "--trust", trust, "log"); !strings.Contains(r.stdout, "first audit certificate SHA-256 "+sum+", as given") {
			t.Fatalf("verify --trust %s said %q", trust, r.stdout)
		}
	}

	// Another Keyserver's log (another audit key): a storage writer's rewrite.
	forger, _ := auditHarness(t)
	forger.mustRun(0, "audit", "export", "forged")
	forged := filepath.Join(forger.dir, "forged")
	forger.mustRun(0, "audit", "verify", forged)
	forger.mustFail(ExitTampered, "first audit certificate untrusted: it is "+certSHA256(t, forged)+", but --trust gives "+sum, "audit", "verify", "--trust", sum, forged)
	forger.mustFail(ExitTampered, "first audit certificate untrusted", "audit", "verify", "--known", filepath.Join(h.dir, "log"), forged)

	h.mustFail(ExitUsage, "--trust", "audit", "verify", "--trust", "abcd", "log")
	h.mustFail(ExitUsage, "--trust", "audit", "verify", "--trust", strings.Repeat("zz", 32), "log")
}
