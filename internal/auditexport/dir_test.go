package auditexport

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"keyserver/internal/auditlog"
	"keyserver/internal/auditwire"
)

type softSigner struct{ crypto.Signer }

func (s softSigner) SignContext(_ context.Context, d []byte, o crypto.SignerOpts) ([]byte, error) {
	return s.Sign(rand.Reader, d, o)
}

func mustSigner(tb testing.TB, rsaKey bool) (softSigner, string, *x509.Certificate) {
	tb.Helper()
	var k crypto.Signer
	var err error
	if rsaKey {
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "keyserver audit"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		tb.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return softSigner{k}, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), cert
}

// sampleExport writes two checkpoints over one chain and a record after them.
func sampleExport(tb testing.TB, rsaKey bool) *Export {
	return sampleExportOf(tb, rsaKey, false)
}

// sampleExportOf is sampleExport with v1 checkpoint bodies, as checkpoints
// were signed before they named their certificate, when v1 is true.
func sampleExportOf(tb testing.TB, rsaKey, v1 bool) *Export {
	s, certPEM, cert := mustSigner(tb, rsaKey)
	e := &Export{Manifest: Manifest{Exported: time.Now().UTC().Format(time.RFC3339)}, Certificate: certPEM, Certificates: []string{certPEM}}
	tree := auditlog.NewTree(nil)
	var head auditlog.Head
	var prev *auditlog.Checkpoint
	now := time.Now().Add(-time.Hour)
	for n := 1; n <= 2; n++ {
		var leaves []auditlog.Leaf
		for i := 0; i < 3; i++ {
			now = now.Add(time.Second)
			var r auditlog.Record
			r, head = head.Chain(auditlog.Record{Chain: auditlog.OperationChain("ab"), Time: now, Event: auditlog.EventSign, Result: "ok"})
			e.Records = append(e.Records, auditwire.RecordOf(auditlog.Stored{Row: r.Seq, Record: r}))
			leaves = append(leaves, auditlog.Leaf{Chain: r.Chain, Seq: r.Seq, Time: r.Time, Hash: r.LeafHash()})
			tree.Append(r.LeafHash())
		}
		cp, sig, err := auditlog.Seal(context.Background(), s, cert, prev, tree, now)
		if err == nil && v1 {
			cp.Certificate = auditlog.Hash{}
			sig, err = auditlog.Sign(context.Background(), s, cert, cp)
		}
		if err != nil {
			tb.Fatal(err)
		}
		e.Checkpoints = append(e.Checkpoints, auditwire.CheckpointOf(&auditlog.Sealed{Checkpoint: *cp, Signature: sig, Leaves: leaves}))
		if prev != nil {
			p, _ := tree.ConsistencyProof(prev.Size, cp.Size)
			e.Proofs = append(e.Proofs, auditwire.Consistency{From: prev.N, To: cp.N, FromSize: prev.Size, ToSize: cp.Size, Proof: auditwire.HexHashes(p)})
		}
		prev = cp
	}
	return e
}

func TestWriteReadVerify(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir, sampleExport(t, false)); err != nil {
		t.Fatal(err)
	}
	l, err := Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	rep := auditlog.Verify(l)
	if !rep.OK() || rep.Records != 6 || rep.Checkpoints != 2 || len(l.Proofs) != 1 {
		t.Fatalf("verify: %v, %d records, %d checkpoints, %d proofs", rep.Problems, rep.Records, rep.Checkpoints, len(l.Proofs))
	}
	// A server proof that does not verify is named.
	e := sampleExport(t, false)
	e.Proofs[0].Proof[0] = strings.Repeat("0", 64)
	if err := Write(dir, e); err != nil {
		t.Fatal(err)
	}
	if l, err = Read(dir); err != nil {
		t.Fatal(err)
	}
	if rep := auditlog.Verify(l); rep.OK() || rep.Problems[0].Checkpoint != 2 {
		t.Fatalf("a broken consistency proof verified: %v", rep.Problems)
	}
}

// TestOpenSSLVerifiesCheckpoints runs the commands docs/AUDIT.md gives.
func TestOpenSSLVerifiesCheckpoints(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl is needed (scripts/install-deps.sh installs it)")
	}
	for i, rsaKey := range []bool{false, true, false} {
		v1 := i == 2
		dir := t.TempDir()
		if err := Write(dir, sampleExportOf(t, rsaKey, v1)); err != nil {
			t.Fatal(err)
		}
		if l, err := Read(dir); err != nil || !auditlog.Verify(l).OK() {
			t.Fatalf("rsa=%v v1=%v: the export does not verify: %v", rsaKey, v1, err)
		}
		run := func(script string) (string, error) {
			cmd := exec.Command("sh", "-c", script)
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			return string(out), err
		}
		if out, err := run(OpenSSLCommands("00000002")); err != nil || !strings.Contains(out, "Verified OK") {
			t.Fatalf("rsa=%v: openssl did not verify the checkpoint: %v\n%s", rsaKey, err, out)
		}
		body := filepath.Join(dir, CheckpointDir, "00000002.body")
		b, _ := os.ReadFile(body)
		if err := os.WriteFile(body, []byte(strings.Replace(string(b), "\n6\n", "\n5\n", 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := run(OpenSSLCommands("00000002")); err == nil || strings.Contains(out, "Verified OK") {
			t.Fatalf("rsa=%v: openssl verified a changed checkpoint:\n%s", rsaKey, out)
		}
	}
}
