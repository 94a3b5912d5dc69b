package azuritetests

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"keyserver/internal/auditexport"
	"keyserver/internal/auditlog"
	"keyserver/internal/auditwire"
	"keyserver/internal/hsmfake"
)

// TestAuditTamperingIsCaught changes stored records directly through the
// Table API, as anyone with write access to the storage account could, and
// checks that ks audit verify names each change, and passes on the log
// untouched (and again once each change is undone).
func TestAuditTamperingIsCaught(t *testing.T) {
	since := clock.Now().Add(-time.Second).UTC()
	keyID, orderer := mustSigningKey(t, hsmfake.KeySpec{Name: "audited", Kty: "EC-HSM", Crv: "P-256"}, 0)
	op := mustOpenOp(t, orderer, 120000, map[string]int{keyID: 4})
	for i := 0; i < 3; i++ {
		o, _ := ecOrder(op.ID, keyID, "audited build "+strconv.Itoa(i))
		// The answer names the signature's record: the operation's create
		// record is #1, its signatures follow.
		if res := mustSign(t, orderer, o); res.AuditRecord != auditlog.RecordID(auditlog.OperationChain(op.ID), uint64(i+2)) {
			t.Fatalf("signature %d names audit record %q", i, res.AuditRecord)
		}
	}
	mustSeal(t)
	mustSubject(t, uniqueName("audited"), "orderer:key1") // an admin change, in its subject's chain
	mustSeal(t)

	env := auditorEnv(t)
	dir := t.TempDir()
	export := func(name string) string {
		out := filepath.Join(dir, name)
		mustKSExit(t, 0, dir, env, "audit", "export", "--since", since.Format(time.RFC3339Nano), out)
		return out
	}
	verify := func(out string) toolRun {
		return ks(t, dir, env, "audit", "verify", out)
	}
	untouched := export("untouched")
	if r := mustKSExit(t, 0, dir, env, "audit", "verify", untouched); !strings.HasPrefix(r.Stdout, "OK: ") {
		t.Fatalf("verify of the untouched log: %s%s", r.Stdout, r.Stderr)
	}
	// The HSM's signature of the latest checkpoint verifies with openssl
	// alone, as docs/AUDIT.md shows.
	exported, err := auditexport.Read(untouched)
	mustNil(t, err)
	n := exported.Checkpoints[len(exported.Checkpoints)-1].Checkpoint.N
	if r := mustTool(t, untouched, toolEnv(nil), "sh", "-c", auditexport.OpenSSLCommands(auditexport.CheckpointName(n))); !strings.Contains(r.Stdout, "Verified OK") {
		t.Fatalf("openssl did not verify checkpoint %d: %s%s", n, r.Stdout, r.Stderr)
	}

	ops, audit := tables(t, "Operations"), tables(t, "Audit")
	chain := auditlog.OperationChain(op.ID)
	var latest auditwire.Checkpoint
	mustAudit(t, orderer, "/api/audit/checkpoints/latest", nil, &latest)
	cases := []struct {
		name   string
		tamper func(t *testing.T) (undo func())
		want   string
	}{
		{"edit a field", func(t *testing.T) func() {
			orig := entity(t, ops, op.ID, recordKey(2))
			edited := copyMap(orig)
			edited["Result"] = "refused: not_approved"
			upsert(t, ops, edited)
			return func() { upsert(t, ops, orig) }
		}, "record " + chain + "#2 edited"},
		{"delete a record", func(t *testing.T) func() {
			orig := entity(t, ops, op.ID, recordKey(3))
			remove(t, ops, op.ID, recordKey(3))
			return func() { upsert(t, ops, orig) }
		}, "record " + chain + "#3 deleted"},
		{"swap two records", func(t *testing.T) func() {
			a, b := entity(t, ops, op.ID, recordKey(2)), entity(t, ops, op.ID, recordKey(3))
			upsert(t, ops, withKeys(b, a))
			upsert(t, ops, withKeys(a, b))
			return func() { upsert(t, ops, a); upsert(t, ops, b) }
		}, "record " + chain + "#2 reordered"},
		{"insert a forged record", func(t *testing.T) func() {
			forged := copyMap(entity(t, ops, op.ID, recordKey(2)))
			forged["RowKey"] = recordKey(2) + "~"
			forged["Digest"] = strings.Repeat("00", 32)
			upsert(t, ops, forged)
			return func() { remove(t, ops, op.ID, recordKey(2)+"~") }
		}, "record " + chain + "#2 inserted"},
		{"drop a checkpoint", func(t *testing.T) func() {
			n := latest.N - 1
			orig := entity(t, audit, "seal", checkpointKey(n))
			remove(t, audit, "seal", checkpointKey(n))
			return func() { upsert(t, audit, orig) }
		}, "checkpoint " + strconv.FormatUint(latest.N-1, 10) + ": checkpoint missing"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			undo := tc.tamper(t)
			out := export("tampered" + strconv.Itoa(i))
			undo()
			r := verify(out)
			if code := exitCode(r); code != 11 || !strings.HasPrefix(r.Stdout, "FAILED: "+tc.want) {
				t.Fatalf("ks audit verify exited %d and said %q; want 11 and FAILED: %s", code, r.Stdout, tc.want)
			}
			if r := mustKSExit(t, 0, dir, env, "audit", "verify", export("undone"+strconv.Itoa(i))); !strings.HasPrefix(r.Stdout, "OK: ") {
				t.Fatalf("verify once undone: %s", r.Stdout)
			}
		})
	}
}

// TestAuditTracesAModuleSignature signs through the PKCS#11 module, finds
// the signature's record by its digest, and checks the record's inclusion
// proof under a checkpoint signed by the audit key.
func TestAuditTracesAModuleSignature(t *testing.T) {
	dir := t.TempDir()
	op := mustToolOp(t, 120000, map[string]int{"key2": 1})
	env := toolEnv(withVars(ksVars(t, op.ID), "OPENSSL_CONF", mustEngineConf(t, dir)))
	firmware := "Firmware image traced to the audit log\n"
	mustWriteFile(t, dir, "firmware.bin", firmware)
	mustTool(t, dir, env, "openssl", "dgst", "-engine", "pkcs11", "-keyform", "engine", "-sign", "pkcs11:object=key2", "-sha256", "-out", "firmware.sig", "firmware.bin")
	mustSeal(t)

	requester := mustToken(t, "orderer-client")
	digest := sha256.Sum256([]byte(firmware))
	var rec *auditwire.Record
	for _, r := range signRecords(t, requester, op.ID) {
		if r.Digest == hex.EncodeToString(digest[:]) && r.Result == "ok" {
			rec = &r
		}
	}
	if rec == nil {
		t.Fatalf("no sign record of operation %s has the digest of firmware.bin", op.ID)
	}
	stored, err := rec.Stored()
	mustNil(t, err)
	var inc auditwire.Inclusion
	mustAudit(t, requester, "/api/audit/inclusion", url.Values{"record": {rec.ID}}, &inc)
	var cp auditwire.Checkpoint
	mustAudit(t, requester, "/api/audit/checkpoints/"+strconv.FormatUint(inc.Checkpoint, 10), nil, &cp)
	var key auditwire.Key
	mustAudit(t, requester, "/api/audit/key", nil, &key)
	// The checkpoint names the certificate that signed it (the first one
	// until the audit key was rotated).
	certPEM := key.Certificate
	for _, c := range key.Certificates {
		if c.SHA256 == cp.Certificate {
			certPEM = c.Certificate
		}
	}
	cert, err := auditexport.ParseCertificate([]byte(certPEM))
	mustNil(t, err)
	sealed, err := cp.Sealed()
	mustNil(t, err)
	mustNil(t, auditlog.VerifySignature(cert, &sealed.Checkpoint, sealed.Signature))
	proof, err := auditwire.ParseHashes(inc.Proof)
	mustNil(t, err)
	// The leaf is the hash of the record as read, not as the server says.
	mustNil(t, auditlog.VerifyInclusion(inc.LeafIndex, sealed.Checkpoint.Size, stored.Record.LeafHash(), proof, sealed.Checkpoint.Root))
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// withKeys is content stored under where's keys.
func withKeys(content, where map[string]any) map[string]any {
	out := copyMap(content)
	out["PartitionKey"], out["RowKey"] = where["PartitionKey"], where["RowKey"]
	return out
}

func exitCode(r toolRun) int {
	if r.Err == nil {
		return 0
	}
	type coder interface{ ExitCode() int }
	if c, ok := r.Err.(coder); ok {
		return c.ExitCode()
	}
	return -1
}

func mustNil(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}
