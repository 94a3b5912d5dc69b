package keyvault

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"keyserver/internal/keyserver"
)

func TestRSAAlgorithm(t *testing.T) {
	pss := func(h crypto.Hash, salt int) *rsa.PSSOptions { return &rsa.PSSOptions{Hash: h, SaltLength: salt} }
	cases := []struct {
		name    string
		size    int
		opts    crypto.SignerOpts
		want    azkeys.SignatureAlgorithm
		wantErr string
	}{
		{"RS256", 32, crypto.SHA256, azkeys.SignatureAlgorithmRS256, ""},
		{"RS384", 48, crypto.SHA384, azkeys.SignatureAlgorithmRS384, ""},
		{"RS512", 64, crypto.SHA512, azkeys.SignatureAlgorithmRS512, ""},
		{"PS256", 32, pss(crypto.SHA256, rsa.PSSSaltLengthEqualsHash), azkeys.SignatureAlgorithmPS256, ""},
		{"PS384 explicit salt", 48, pss(crypto.SHA384, 48), azkeys.SignatureAlgorithmPS384, ""},
		{"PS512", 64, pss(crypto.SHA512, rsa.PSSSaltLengthEqualsHash), azkeys.SignatureAlgorithmPS512, ""},
		{"PSS auto salt", 32, pss(crypto.SHA256, rsa.PSSSaltLengthAuto), "", keyserver.EINVALID},
		{"PSS other salt", 32, pss(crypto.SHA256, 20), "", keyserver.EINVALID},
		{"PSS no hash", 32, pss(0, rsa.PSSSaltLengthEqualsHash), "", keyserver.EINVALID},
		{"SHA-1", 20, crypto.SHA1, "", keyserver.EINVALID},
		{"SHA-224", 28, crypto.SHA224, "", keyserver.EINVALID},
		{"no hash", 32, crypto.Hash(0), "", keyserver.EINVALID},
		{"nil opts", 32, nil, "", keyserver.EINVALID},
		{"short digest", 31, crypto.SHA256, "", keyserver.EINVALID},
		{"long digest", 64, crypto.SHA256, "", keyserver.EINVALID},
		{"PSS wrong digest", 32, pss(crypto.SHA512, rsa.PSSSaltLengthEqualsHash), "", keyserver.EINVALID},
	}
	for _, c := range cases {
		got, err := rsaAlgorithm(make([]byte, c.size), c.opts)
		if code := keyserver.ErrorCode(err); code != c.wantErr {
			t.Fatalf("%s: error code %q (%v), want %q", c.name, code, err, c.wantErr)
		}
		if got != c.want {
			t.Fatalf("%s: algorithm %q, want %q", c.name, got, c.want)
		}
	}
}

func TestECDigest(t *testing.T) {
	d64 := bytes.Repeat([]byte{0xab}, 64)
	cases := []struct {
		name    string
		curve   elliptic.Curve
		digest  []byte
		opts    crypto.SignerOpts
		want    []byte
		wantErr string
	}{
		{"P-256 SHA-256", elliptic.P256(), d64[:32], crypto.SHA256, d64[:32], ""},
		{"P-256 SHA-512 keeps leftmost", elliptic.P256(), seq(64), crypto.SHA512, seq(64)[:32], ""},
		{"P-384 SHA-256 pads left", elliptic.P384(), seq(32), crypto.SHA256, append(make([]byte, 16), seq(32)...), ""},
		{"P-521 SHA-384 pads left", elliptic.P521(), seq(48), crypto.SHA384, append(make([]byte, 16), seq(48)...), ""},
		{"P-521 SHA-512", elliptic.P521(), seq(64), crypto.SHA512, seq(64), ""},
		{"no hash in opts", elliptic.P256(), seq(48), crypto.Hash(0), seq(48)[:32], ""},
		{"nil opts", elliptic.P256(), seq(28), nil, append(make([]byte, 4), seq(28)...), ""},
		{"hash mismatch", elliptic.P256(), seq(32), crypto.SHA512, nil, keyserver.EINVALID},
		{"SHA-1 length", elliptic.P256(), seq(20), crypto.SHA1, nil, keyserver.EINVALID},
		{"empty", elliptic.P256(), nil, nil, nil, keyserver.EINVALID},
		{"PSS opts", elliptic.P256(), seq(32), &rsa.PSSOptions{Hash: crypto.SHA256}, nil, keyserver.EINVALID},
	}
	for _, c := range cases {
		p, _ := ecParamsFor(c.curve)
		got, err := ecDigest(p, c.digest, c.opts)
		if code := keyserver.ErrorCode(err); code != c.wantErr {
			t.Fatalf("%s: error code %q (%v), want %q", c.name, code, err, c.wantErr)
		}
		if !bytes.Equal(got, c.want) {
			t.Fatalf("%s: got %x, want %x", c.name, got, c.want)
		}
	}
}

// TestNormalisedDigestKeepsECDSAInteger signs the normalised digest and
// verifies against the original one: ECDSA must see the same integer.
func TestNormalisedDigestKeepsECDSAInteger(t *testing.T) {
	msg := []byte("firmware image")
	s256, s384, s512 := sha256.Sum256(msg), sha512.Sum384(msg), sha512.Sum512(msg)
	for _, curve := range []elliptic.Curve{elliptic.P256(), elliptic.P384(), elliptic.P521()} {
		priv := mustECKey(t, curve)
		p, _ := ecParamsFor(curve)
		for _, d := range [][]byte{s256[:], s384[:], s512[:]} {
			sig, err := ecdsa.SignASN1(rand.Reader, priv, normaliseDigest(d, p.digestSize))
			if err != nil {
				t.Fatal(err)
			}
			if !ecdsa.VerifyASN1(&priv.PublicKey, d, sig) {
				t.Fatalf("%s with a %d-byte digest: signature of the normalised digest does not verify", curve.Params().Name, len(d))
			}
		}
	}
}

func TestRawDERRoundTrip(t *testing.T) {
	for _, curve := range []elliptic.Curve{elliptic.P256(), elliptic.P384(), elliptic.P521()} {
		priv := mustECKey(t, curve)
		p, _ := ecParamsFor(curve)
		digest := seq(p.digestSize)
		der, err := ecdsa.SignASN1(rand.Reader, priv, digest)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := derToRaw(der, p.coordSize)
		if err != nil {
			t.Fatal(err)
		}
		if len(raw) != 2*p.coordSize {
			t.Fatalf("%s: raw signature is %d bytes, want %d", curve.Params().Name, len(raw), 2*p.coordSize)
		}
		back, err := rawToDER(raw, p.coordSize)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(back, der) {
			t.Fatalf("%s: DER round trip differs", curve.Params().Name)
		}
		if !ecdsa.VerifyASN1(&priv.PublicKey, digest, back) {
			t.Fatalf("%s: converted signature does not verify", curve.Params().Name)
		}
	}
}

func TestRawToDERRejects(t *testing.T) {
	ones := bytes.Repeat([]byte{1}, 32)
	cases := []struct {
		name string
		raw  []byte
	}{
		{"empty", nil},
		{"short", make([]byte, 63)},
		{"long", make([]byte, 65)},
		{"zero r", append(make([]byte, 32), ones...)},
		{"zero s", append(append([]byte{}, ones...), make([]byte, 32)...)},
	}
	for _, c := range cases {
		if _, err := rawToDER(c.raw, 32); err == nil {
			t.Fatalf("%s: rawToDER accepted it", c.name)
		}
	}
}

func TestPublicKeyFromJWK(t *testing.T) {
	ecKey := mustECKey(t, elliptic.P384())
	cases := []struct {
		name    string
		jwk     *azkeys.JSONWebKey
		wantErr string
	}{
		{"RSA 2048", rsaJWK(mustRSAKey(t, 2048)), ""},
		{"RSA 1024", rsaJWK(mustRSAKey(t, 1024)), keyserver.EINVALID},
		{"EC P-384", ecJWK(t, ecKey), ""},
		{"EC-HSM P-384", withKty(ecJWK(t, ecKey), azkeys.KeyTypeECHSM), ""},
		{"P-256K", withCrv(ecJWK(t, ecKey), azkeys.CurveNameP256K), keyserver.EINVALID},
		{"P-384 point on wrong curve", withCrv(ecJWK(t, mustECKey(t, elliptic.P256())), azkeys.CurveNameP384), keyserver.EINVALID},
		{"oct", &azkeys.JSONWebKey{Kty: ptr(azkeys.KeyTypeOctHSM)}, keyserver.EINVALID},
		{"no kty", &azkeys.JSONWebKey{}, keyserver.EINVALID},
	}
	for _, c := range cases {
		pub, err := publicKey(c.jwk)
		if code := keyserver.ErrorCode(err); code != c.wantErr {
			t.Fatalf("%s: error code %q (%v), want %q", c.name, code, err, c.wantErr)
		}
		if err == nil && pub == nil {
			t.Fatalf("%s: no public key", c.name)
		}
	}
	pub, err := publicKey(ecJWK(t, ecKey))
	if err != nil || !ecKey.PublicKey.Equal(pub) {
		t.Fatalf("EC public key differs from the JWK's (err %v)", err)
	}
}

func withKty(j *azkeys.JSONWebKey, kty azkeys.KeyType) *azkeys.JSONWebKey {
	j.Kty = &kty
	return j
}

func withCrv(j *azkeys.JSONWebKey, crv azkeys.CurveName) *azkeys.JSONWebKey {
	j.Crv = &crv
	return j
}

func seq(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i + 1)
	}
	return b
}
