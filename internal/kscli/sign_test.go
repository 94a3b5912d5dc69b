package kscli

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"keyserver/internal/ksfake"
)

// approvedOp opens and approves an operation over keys.
func (h *harness) approvedOp(keys ...string) string {
	h.tb.Helper()
	var args []string
	for _, k := range keys {
		args = append(args, "--key", k)
	}
	id := h.mustCreate(args...)
	h.fake.Approve(id, "alice")
	h.fake.Approve(id, "bob")
	h.env["KSC_OPERATION_ID"] = id
	return id
}

func (h *harness) key(id string) *ksfake.Key {
	for _, k := range h.fake.Keys {
		if k.ID == id {
			return k
		}
	}
	h.tb.Fatalf("no key %s", id)
	return nil
}

// mustBeOpenSSLSignature checks that sig is what openssl dgst -sign writes
// for data: a full-length PKCS#1 v1.5 signature, or minimal DER ECDSA.
func mustBeOpenSSLSignature(tb testing.TB, k *ksfake.Key, h crypto.Hash, data, sig []byte) {
	tb.Helper()
	w := h.New()
	w.Write(data)
	digest := w.Sum(nil)
	switch pub := k.Signer.Public().(type) {
	case *rsa.PublicKey:
		if len(sig) != pub.Size() || rsa.VerifyPKCS1v15(pub, h, digest, sig) != nil {
			tb.Fatalf("%d-byte signature is not a PKCS#1 v1.5 signature of the file", len(sig))
		}
	case *ecdsa.PublicKey:
		var v struct{ R, S *big.Int }
		rest, err := asn1.Unmarshal(sig, &v)
		again, _ := asn1.Marshal(v)
		if err != nil || len(rest) != 0 || string(again) != string(sig) || !ecdsa.VerifyASN1(pub, digest, sig) {
			tb.Fatalf("signature is not a minimal DER ECDSA signature of the file")
		}
	}
}

func TestSignWritesWhatOpenSSLWrites(t *testing.T) {
	for _, c := range []struct {
		key  string
		hash string
		h    crypto.Hash
	}{{"key1", "sha256", crypto.SHA256}, {"key2", "sha256", crypto.SHA256}, {"key3", "sha384", crypto.SHA384}, {"key1", "sha512", crypto.SHA512}} {
		t.Run(c.key+"-"+c.hash, func(t *testing.T) {
			h := newHarness(t)
			files := h.files(50)
			id := h.approvedOp(c.key + ":50")
			r := h.mustRun(0, append([]string{"sign", "--key", c.key, "--hash", c.hash, "--json"}, files...)...)
			var m manifest
			if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
				t.Fatalf("--json printed %q: %v", r.stdout, err)
			}
			if m.Operation != id || m.Key != c.key || m.Hash != c.hash || len(m.Files) != 50 {
				t.Fatalf("manifest = %+v", m)
			}
			for i, e := range m.Files {
				data, _ := os.ReadFile(filepath.Join(h.dir, files[i]))
				sig, err := os.ReadFile(filepath.Join(h.dir, files[i]+".sig"))
				w := c.h.New()
				w.Write(data)
				if err != nil || e.File != files[i] || e.Signature != files[i]+".sig" || e.Key != c.key || e.Digest != hex.EncodeToString(w.Sum(nil)) {
					t.Fatalf("entry %d = %+v (%v)", i, e, err)
				}
				mustBeOpenSSLSignature(t, h.key(c.key), c.h, data, sig)
			}
			if op := h.fake.Operation(id); op.Keys[0].Used != 50 {
				t.Fatalf("%d uses spent, want 50", op.Keys[0].Used)
			}
			h.mustRun(0, append([]string{"verify", "--key", c.key, "--hash", c.hash}, files...)...)
		})
	}
}

// TestSignBoundsParallelism: never more than --parallel orders in flight.
func TestSignBoundsParallelism(t *testing.T) {
	h := newHarness(t)
	var mu sync.Mutex
	inFlight, most := 0, 0
	h.server.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		mu.Unlock()
		time.Sleep(2 * time.Millisecond)
		h.fake.ServeHTTP(w, r)
		mu.Lock()
		inFlight--
		mu.Unlock()
	})
	h.approvedOp("key2:40")
	h.mustRun(0, append([]string{"sign", "--key", "key2", "--parallel", "3"}, h.files(40)...)...)
	if most > 3 {
		t.Fatalf("%d requests in flight, want at most 3", most)
	}
}

func TestSignStopsAtTheFirstRefusal(t *testing.T) {
	h := newHarness(t)
	files := h.files(10)
	h.approvedOp("key1:3")
	line := h.mustFail(ExitRefused, "uses of key \"key1\"", append([]string{"sign", "--key", "key1", "--parallel", "1"}, files...)...)
	if !strings.Contains(line, "3 of 10 files signed") || !strings.Contains(line, "signing "+files[3]) {
		t.Fatalf("refusal %q does not say where it stopped", line)
	}
	for i, f := range files {
		_, err := os.Stat(filepath.Join(h.dir, f+".sig"))
		if (err == nil) != (i < 3) {
			t.Fatalf("%s.sig exists: %v, want only the first three", f, err == nil)
		}
	}
	// A re-run with --skip-signed spends nothing on what is signed.
	h.approvedOp("key1:7")
	r := h.mustRun(0, append([]string{"sign", "--key", "key1", "--skip-signed"}, files...)...)
	if strings.Count(r.stderr, "skipped") != 3 {
		t.Fatalf("stderr does not skip the three signed files:\n%s", r.stderr)
	}
}

func TestSignRefusals(t *testing.T) {
	h := newHarness(t)
	files := h.files(1)
	sign := func(code int, want string) {
		t.Helper()
		h.mustFail(code, want, "sign", "--key", "key2", files[0])
	}
	id := h.mustCreate("--key", "key2")
	h.env["KSC_OPERATION_ID"] = id
	sign(ExitRefused, "run ks wait")
	h.fake.Reject(id, "alice", "wrong")
	sign(ExitRejected, "is rejected")
	h.approvedOp("key1")
	sign(ExitDenied, "does not name key")
	h.env["KSC_OPERATION_ID"] = h.mustCreate("--key", "key2", "--valid", "1m")
	h.fake.Approve(h.env["KSC_OPERATION_ID"], "alice")
	h.clock.Sleep(t.Context(), 2*time.Minute)
	sign(ExitExpired, "expired")
	h.mustFail(ExitDenied, "does not exist", "sign", "--key", "nokey", files[0])
	h.mustFail(ExitUsage, "cannot read missing.bin", "sign", "--key", "key2", "missing.bin")
	h.mustFail(ExitUsage, "--key", "sign", files[0])
	h.mustFail(ExitUsage, "sha256, sha384 or sha512", "sign", "--key", "key2", "--hash", "md5", files[0])
	delete(h.env, "KSC_OPERATION_ID")
	h.mustFail(ExitUsage, "KSC_OPERATION_ID", "sign", "--key", "key2", files[0])
}

func TestVerify(t *testing.T) {
	h := newHarness(t)
	files := h.files(3)
	h.approvedOp("key2:3")
	h.mustRun(0, append([]string{"sign", "--key", "key2"}, files...)...)
	r := h.mustRun(0, append([]string{"verify", "--key", "key2"}, files...)...)
	if strings.Count(r.stdout, ": Verified OK\n") != 3 {
		t.Fatalf("ks verify printed %q", r.stdout)
	}
	// Offline, with the certificate ks cert prints.
	cert := h.mustRun(0, "cert", "key2").stdout
	if !strings.HasPrefix(cert, "-----BEGIN CERTIFICATE-----\n") || cert != h.key("key2").PEM {
		t.Fatalf("ks cert printed %q", cert)
	}
	os.WriteFile(filepath.Join(h.dir, "key2.pem"), []byte(cert), 0o644)
	delete(h.env, "KSC_API_SERVER")
	h.mustRun(0, append([]string{"verify", "--cert", "key2.pem"}, files...)...)
	h.mustFail(ExitBadSignature, "does not verify", append([]string{"verify", "--cert", "key2.pem", "--hash", "sha512"}, files...)...)
	os.WriteFile(filepath.Join(h.dir, files[1]), []byte("tampered"), 0o644)
	line := h.mustFail(ExitBadSignature, files[1]+".sig: the signature does not verify", append([]string{"verify", "--cert", "key2.pem"}, files...)...)
	if !strings.Contains(line, "1 of 3 files failed") {
		t.Fatalf("line %q does not count the failures", line)
	}
	h.mustFail(ExitUsage, "one of them", "verify", files[0])
	h.mustFail(ExitUsage, "name one key", "cert")
}
