package azuritetests

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"keyserver/internal/api"
	"keyserver/internal/hsmfake"
	"keyserver/internal/keyserver"
)

// algOrder is one sign order of the matrix and how openssl checks its answer.
type algOrder struct {
	name     string
	order    api.SignOrder
	digest   []byte
	pkeyopts []string
}

var hashNames = map[crypto.Hash]string{crypto.SHA256: "SHA256", crypto.SHA384: "SHA384", crypto.SHA512: "SHA512"}

var allHashes = []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512}

// rsaOrders are PKCS#1 v1.5 over a DigestInfo and PSS for every hash.
func rsaOrders(tb testing.TB) []algOrder {
	tb.Helper()
	var out []algOrder
	for i, h := range allHashes {
		digest := hashOf(h, []byte("firmware image "+hashNames[h]))
		md := "digest:" + strings.ToLower(hashNames[h])
		format := []string{keyserver.InputHex, keyserver.InputBase64}[i%2]
		out = append(out, algOrder{
			name:     "digestinfo-" + hashNames[h] + "-" + format,
			order:    api.SignOrder{InputData: encodeInput(format, mustDigestInfo(tb, h, digest)), InputFormat: format, InputPadding: "digestinfo", SignatureFormat: "asn1"},
			digest:   digest,
			pkeyopts: []string{md},
		})
		format = []string{keyserver.InputBase64, keyserver.InputHex}[i%2]
		out = append(out, algOrder{
			name:     "pss-" + hashNames[h] + "-" + format,
			order:    api.SignOrder{InputData: encodeInput(format, digest), InputFormat: format, InputPadding: "pss", SignatureFormat: "asn1", HashAlgorithm: hashNames[h]},
			digest:   digest,
			pkeyopts: []string{md, "rsa_padding_mode:pss", "rsa_pss_saltlen:digest"},
		})
	}
	return out
}

// ecOrders are raw digests of 32, 48 and 64 bytes in both signature formats.
func ecOrders() []algOrder {
	var out []algOrder
	for i, h := range allHashes {
		digest := hashOf(h, []byte("firmware image "+hashNames[h]))
		for j, sf := range []string{"p1363", "asn1"} {
			format := []string{keyserver.InputHex, keyserver.InputBase64}[(i+j)%2]
			out = append(out, algOrder{
				name:   fmt.Sprintf("%s-%d-bytes-%s", sf, len(digest), format),
				order:  api.SignOrder{InputData: encodeInput(format, digest), InputFormat: format, InputPadding: "none", SignatureFormat: sf},
				digest: digest,
			})
		}
	}
	return out
}

// TestSignEveryAlgorithm signs with fresh HSM keys of every supported type
// and verifies each signature with the openssl CLI against the key's certificate.
func TestSignEveryAlgorithm(t *testing.T) {
	t.Parallel()
	st := mustStack(t)
	specs := []struct {
		spec      hsmfake.KeySpec
		algorithm string
	}{
		{hsmfake.KeySpec{Name: "rsa2048", Kty: "RSA-HSM", Size: 2048}, "RSA-2048"},
		{hsmfake.KeySpec{Name: "rsa3072", Kty: "RSA-HSM", Size: 3072}, "RSA-3072"},
		{hsmfake.KeySpec{Name: "rsa4096", Kty: "RSA-HSM", Size: 4096}, "RSA-4096"},
		{hsmfake.KeySpec{Name: "p256", Kty: "EC-HSM", Crv: "P-256"}, "EC-P256"},
		{hsmfake.KeySpec{Name: "p384", Kty: "EC-HSM", Crv: "P-384"}, "EC-P384"},
		{hsmfake.KeySpec{Name: "p521", Kty: "EC-HSM", Crv: "P-521"}, "EC-P521"},
	}
	for i, s := range specs {
		approvals := i % 2
		t.Run(s.algorithm, func(t *testing.T) {
			t.Parallel()
			spec := s.spec
			spec.Name = uniqueName("sig-" + spec.Name)
			if _, _, err := st.HSM.EnsureKey(context.Background(), spec); err != nil {
				t.Fatalf("creating HSM key: %v", err)
			}
			keyID := spec.Name
			if k := mustRegisterKey(t, keyID, spec.Name, approvals); k.Algorithm != s.algorithm {
				t.Fatalf("registered key has algorithm %q, want %q", k.Algorithm, s.algorithm)
			}
			token := mustSubject(t, uniqueName("signer"), "orderer:"+keyID)
			orders := ecOrders()
			if strings.HasPrefix(s.algorithm, "RSA") {
				orders = rsaOrders(t)
			}
			op := mustOpenOp(t, token, 600000, map[string]int{keyID: len(orders)})
			if approvals > 0 {
				if !mustApprove(t, mustToken(t, "adminclient"), op.ID).Approved {
					t.Fatalf("operation not approved after the one approval its key needs")
				}
			} else if !op.Approved {
				t.Fatalf("operation for a key needing no approval is not approved")
			}
			var key struct {
				Certificate string `json:"certificate"`
				Algorithm   string `json:"algorithm"`
			}
			mustDo(t, "GET", "/api/keys/"+keyID, token, nil).mustDecode(t, http.StatusOK, &key)
			cert := mustParseCertificate(t, key.Certificate)
			v := mustVerifier(t, key.Certificate)
			for n, ao := range orders {
				o := ao.order
				o.OperationID, o.KeyID, o.Description = op.ID, keyID, "matrix "+ao.name
				res := mustSign(t, token, o)
				sig := mustDecodeResult(t, o.InputFormat, res.Result)
				switch pub := cert.PublicKey.(type) {
				case *rsa.PublicKey:
					if len(sig) != pub.Size() {
						t.Fatalf("%s: RSA signature is %d bytes, want %d", ao.name, len(sig), pub.Size())
					}
				case *ecdsa.PublicKey:
					if o.SignatureFormat == "p1363" {
						if want := 2 * ((pub.Curve.Params().BitSize + 7) / 8); len(sig) != want {
							t.Fatalf("%s: p1363 signature is %d bytes, want %d", ao.name, len(sig), want)
						}
						sig = mustP1363ToDER(t, sig)
					}
				}
				if err := v.verify(ao.digest, sig, ao.pkeyopts...); err != nil {
					t.Fatalf("%s: openssl does not verify the signature: %v", ao.name, err)
				}
				if n == 0 {
					// The check can fail: a changed signature does not verify.
					bad := append([]byte(nil), sig...)
					bad[len(bad)/2] ^= 0x01
					if err := v.verify(ao.digest, bad, ao.pkeyopts...); err == nil {
						t.Fatalf("%s: openssl verified a corrupted signature", ao.name)
					}
				}
			}
			got := mustGetOp(t, token, op.ID)
			if g := got.grant(t, keyID); g.UsageCount != len(orders) || got.Status != string(keyserver.StatusExhausted) {
				t.Fatalf("after %d signatures: usagecount %d, status %s", len(orders), g.UsageCount, got.Status)
			}
		})
	}
}
