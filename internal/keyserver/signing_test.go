package keyserver_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"keyserver/internal/keyserver"
	"keyserver/internal/keyserver/memhsm"
)

func TestDigestInfoRoundTrip(t *testing.T) {
	for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		t.Run(h.String(), func(t *testing.T) {
			d := digestOf(h)
			di := keyserver.DigestInfo(h, d)
			// The DER must be what Go's PKCS #1 v1.5 signer pads.
			var parsed struct {
				Alg struct {
					OID    asn1.ObjectIdentifier
					Params asn1.RawValue
				}
				Digest []byte
			}
			if rest, err := asn1.Unmarshal(di, &parsed); err != nil || len(rest) != 0 || !bytes.Equal(parsed.Digest, d) {
				t.Fatalf("DigestInfo is not DER over the digest: %v", err)
			}
			gotH, gotD, err := keyserver.ParseDigestInfo(di)
			if err != nil || gotH != h || !bytes.Equal(gotD, d) {
				t.Fatalf("ParseDigestInfo = %v, %x, %v", gotH, gotD, err)
			}
			for _, bad := range [][]byte{di[:len(di)-1], append(bytes.Clone(di), 0), d, nil} {
				_, _, err := keyserver.ParseDigestInfo(bad)
				wantCode(t, err, keyserver.EINVALID)
			}
		})
	}
}

func derSig(tb testing.TB, r, s *big.Int) []byte {
	tb.Helper()
	b, err := asn1.Marshal(struct{ R, S *big.Int }{r, s})
	if err != nil {
		tb.Fatalf("marshalling signature: %v", err)
	}
	return b
}

func TestECDSAToP1363(t *testing.T) {
	one, small := big.NewInt(1), new(big.Int).SetBytes([]byte{0x00, 0x7f, 0xff})
	tooBig := new(big.Int).Lsh(big.NewInt(1), 256)
	tests := []struct {
		name  string
		curve elliptic.Curve
		der   func(tb testing.TB) []byte
		want  []byte // nil when an error is expected
	}{
		{"leading zero r", elliptic.P256(), func(tb testing.TB) []byte { return derSig(tb, one, small) },
			append(append(make([]byte, 31), 1), append(make([]byte, 30), 0x7f, 0xff)...)},
		{"P-521 sizes", elliptic.P521(), func(tb testing.TB) []byte { return derSig(tb, small, one) },
			append(append(make([]byte, 64), 0x7f, 0xff), append(make([]byte, 65), 1)...)},
		{"r too large", elliptic.P256(), func(tb testing.TB) []byte { return derSig(tb, tooBig, one) }, nil},
		{"zero s", elliptic.P256(), func(tb testing.TB) []byte { return derSig(tb, one, big.NewInt(0)) }, nil},
		{"negative r", elliptic.P256(), func(tb testing.TB) []byte { return derSig(tb, big.NewInt(-1), one) }, nil},
		{"trailing bytes", elliptic.P256(), func(tb testing.TB) []byte { return append(derSig(tb, one, one), 0) }, nil},
		{"not DER", elliptic.P256(), func(tb testing.TB) []byte { return []byte{1, 2, 3} }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := keyserver.ECDSAToP1363(tt.der(t), tt.curve)
			if tt.want == nil {
				if err == nil {
					t.Fatalf("ECDSAToP1363 = %x, want an error", got)
				}
				return
			}
			if err != nil || !bytes.Equal(got, tt.want) {
				t.Fatalf("ECDSAToP1363 = %x, %v; want %x", got, err, tt.want)
			}
		})
	}
	// A real signature converts to r||s that verifies.
	for _, name := range []string{"p256", "p384", "p521"} {
		k := mustTestKey(t, name).(*ecdsa.PrivateKey)
		d := digestOf(crypto.SHA256)
		der, err := ecdsa.SignASN1(rand.Reader, k, d)
		if err != nil {
			t.Fatalf("signing: %v", err)
		}
		p, err := keyserver.ECDSAToP1363(der, k.Curve)
		if err != nil {
			t.Fatalf("ECDSAToP1363: %v", err)
		}
		mustVerify(t, k.Public(), crypto.SHA256, d, p, keyserver.PaddingNone, keyserver.FormatP1363)
	}
}

func TestAlgorithm(t *testing.T) {
	rsaOf := func(bits int) *rsa.PublicKey {
		return &rsa.PublicKey{N: new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), uint(bits-1)), big.NewInt(1)), E: 65537}
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatalf("generating P-224 key: %v", err)
	}
	edPub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatalf("generating Ed25519 key: %v", err)
	}
	tests := []struct {
		name string
		pub  crypto.PublicKey
		want string // "" when EINVALID is expected
	}{
		{"RSA 2048", mustTestKey(t, "rsa2048").Public(), "RSA-2048"},
		{"RSA 3072", rsaOf(3072), "RSA-3072"},
		{"RSA 4096", rsaOf(4096), "RSA-4096"},
		{"RSA 1024", rsaOf(1024), ""},
		{"RSA 2047", rsaOf(2047), ""},
		{"P-256", mustTestKey(t, "p256").Public(), "EC-P256"},
		{"P-384", mustTestKey(t, "p384").Public(), "EC-P384"},
		{"P-521", mustTestKey(t, "p521").Public(), "EC-P521"},
		{"P-224", p224.Public(), ""},
		{"Ed25519", edPub, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := keyserver.Algorithm(tt.pub)
			if tt.want == "" {
				wantCode(t, err, keyserver.EINVALID)
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Algorithm = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func mustSelfSign(tb testing.TB, hsm keyserver.KeyBackend, hsmKey, keyID string, now time.Time) (string, keyserver.ContextSigner) {
	tb.Helper()
	ctx := context.Background()
	signer, err := hsm.Open(ctx, hsmKey)
	if err != nil {
		tb.Fatalf("opening %s: %v", hsmKey, err)
	}
	certPEM, err := keyserver.SelfSign(ctx, signer, keyID, now)
	if err != nil {
		tb.Fatalf("SelfSign(%s): %v", hsmKey, err)
	}
	return certPEM, signer
}

func TestSelfSignAndCheckCertificate(t *testing.T) {
	hsm := memhsm.New()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, name := range []string{"rsa2048", "p256", "p384", "p521"} {
		t.Run(name, func(t *testing.T) {
			certPEM, signer := mustSelfSign(t, keyserver.Verified(hsm), name, "key-"+name, now)
			block, _ := pem.Decode([]byte(certPEM))
			if block == nil || block.Type != "CERTIFICATE" {
				t.Fatalf("SelfSign returned no PEM certificate: %q", certPEM)
			}
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				t.Fatalf("parsing certificate: %v", err)
			}
			if !signer.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(cert.PublicKey) {
				t.Fatalf("certificate's public key differs from the signer's")
			}
			if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
				t.Fatalf("certificate is not self-signed by the key: %v", err)
			}
			if cert.Subject.CommonName != "key-"+name || !cert.NotBefore.Before(now) || !cert.NotAfter.After(now) {
				t.Fatalf("certificate subject %q, valid %s to %s", cert.Subject.CommonName, cert.NotBefore, cert.NotAfter)
			}
			if err := keyserver.CheckCertificate(certPEM, signer.Public()); err != nil {
				t.Fatalf("CheckCertificate with the signer's key: %v", err)
			}
			other := mustTestKey(t, "p256").Public()
			if name == "p256" {
				other = mustTestKey(t, "p384").Public()
			}
			wantCode(t, keyserver.CheckCertificate(certPEM, other), keyserver.EINVALID)
		})
	}
	pub := mustTestKey(t, "p256").Public()
	for name, bad := range map[string]string{
		"empty":        "",
		"not PEM":      "hello",
		"wrong type":   string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}})),
		"garbage cert": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2, 3}})),
	} {
		t.Run(name, func(t *testing.T) {
			wantCode(t, keyserver.CheckCertificate(bad, pub), keyserver.EINVALID)
		})
	}
}

func TestSelfSignPassesHSMFailures(t *testing.T) {
	hsm := &memhsm.HSM{}
	hsm.Add("p256", mustTestKey(t, "p256"))
	ctx := context.Background()
	signer, err := keyserver.Verified(hsm).Open(ctx, "p256")
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	hsm.Set(keyserver.Errorf(keyserver.ERATELIMITED, "Too many requests."), false)
	_, err = keyserver.SelfSign(ctx, signer, "k", time.Now())
	wantCode(t, err, keyserver.ERATELIMITED)
	hsm.Set(nil, true)
	_, err = keyserver.SelfSign(ctx, signer, "k", time.Now())
	wantCode(t, err, keyserver.EUNAVAILABLE)
}
