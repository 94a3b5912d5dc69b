package module

import (
	"bytes"
	"crypto"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"keyserver/internal/ksfake"
)

func TestDigestInfoMatchesGoPKCS1(t *testing.T) {
	priv, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		d := h.New()
		d.Write([]byte("data"))
		digest := d.Sum(nil)
		want, _ := rsa.SignPKCS1v15(nil, priv, h, digest)
		got, _ := rsa.SignPKCS1v15(nil, priv, 0, DigestInfo(h, digest))
		if !bytes.Equal(got, want) {
			t.Fatalf("DigestInfo(%v) differs from Go's encoding", h)
		}
		if ph, ok := ParseDigestInfo(DigestInfo(h, digest)); !ok || ph != h {
			t.Fatalf("ParseDigestInfo(%v) = %v, %v", h, ph, ok)
		}
	}
	if _, ok := ParseDigestInfo(make([]byte, 51)); ok {
		t.Fatalf("ParseDigestInfo accepted zeros")
	}
}

func pssParam(hashAlg, mgf, sLen uint) []byte {
	return append(append(ULong(hashAlg), ULong(mgf)...), ULong(sLen)...)
}

func mustKeyOf(tb testing.TB, fk *ksfake.Key) *Key {
	tb.Helper()
	k, err := ParseKey(KeyInfo{KeyID: fk.ID, Certificate: fk.PEM})
	if err != nil {
		tb.Fatalf("ParseKey: %v", err)
	}
	return k
}

// mustRSAAndECKeys makes an RSA-2048 key and an EC key on curve.
func mustRSAAndECKeys(tb testing.TB, curve elliptic.Curve) (rsaKey, ecKey *Key) {
	tb.Helper()
	return mustKeyOf(tb, ksfake.MustRSAKey(tb, "r", 2048)), mustKeyOf(tb, ksfake.MustECKey(tb, "e", curve))
}

func TestNewSignOpChecks(t *testing.T) {
	rsaKey, ecKey := mustRSAAndECKeys(t, elliptic.P256())
	cases := []struct {
		name  string
		key   *Key
		mech  uint
		param []byte
		want  RV
	}{
		{"rsa pkcs", rsaKey, CKM_RSA_PKCS, nil, CKR_OK},
		{"rsa pss sha256", rsaKey, CKM_RSA_PKCS_PSS, pssParam(CKM_SHA256, CKG_MGF1_SHA256, 32), CKR_OK},
		{"rsa pss no params", rsaKey, CKM_RSA_PKCS_PSS, nil, CKR_MECHANISM_PARAM_INVALID},
		{"rsa pss wrong salt", rsaKey, CKM_RSA_PKCS_PSS, pssParam(CKM_SHA256, CKG_MGF1_SHA256, 20), CKR_MECHANISM_PARAM_INVALID},
		{"rsa pss wrong mgf", rsaKey, CKM_RSA_PKCS_PSS, pssParam(CKM_SHA384, CKG_MGF1_SHA256, 48), CKR_MECHANISM_PARAM_INVALID},
		{"rsa pss sha1", rsaKey, CKM_RSA_PKCS_PSS, pssParam(0x220, 1, 20), CKR_MECHANISM_PARAM_INVALID},
		{"sha384 pss mismatched hash", rsaKey, CKM_SHA384_RSA_PKCS_PSS, pssParam(CKM_SHA256, CKG_MGF1_SHA256, 32), CKR_MECHANISM_PARAM_INVALID},
		{"sha384 pss default params", rsaKey, CKM_SHA384_RSA_PKCS_PSS, nil, CKR_OK},
		{"ecdsa on rsa", rsaKey, CKM_ECDSA, nil, CKR_KEY_TYPE_INCONSISTENT},
		{"rsa on ec", ecKey, CKM_SHA256_RSA_PKCS, nil, CKR_KEY_TYPE_INCONSISTENT},
		{"unknown mech", ecKey, 0x1234, nil, CKR_MECHANISM_INVALID},
		{"ecdsa with param", ecKey, CKM_ECDSA, []byte{1}, CKR_MECHANISM_PARAM_INVALID},
	}
	for _, c := range cases {
		_, err := NewSignOp(c.key, c.mech, c.param)
		if got := RVOf(err); got != c.want {
			t.Errorf("%s: NewSignOp = 0x%x (%v), want 0x%x", c.name, got, err, c.want)
		}
	}
}

func TestMechanismToWire(t *testing.T) {
	rsaKey, ecKey := mustRSAAndECKeys(t, elliptic.P384())
	data := []byte("payload")
	d256 := sha256.Sum256(data)
	cases := []struct {
		name                  string
		key                   *Key
		mech                  uint
		param, input          []byte
		padding, format, hash string
		wantInput             []byte
	}{
		{"RSA_PKCS", rsaKey, CKM_RSA_PKCS, nil, DigestInfo(crypto.SHA256, d256[:]), "digestinfo", "asn1", "", DigestInfo(crypto.SHA256, d256[:])},
		{"SHA256_RSA_PKCS", rsaKey, CKM_SHA256_RSA_PKCS, nil, data, "digestinfo", "asn1", "", DigestInfo(crypto.SHA256, d256[:])},
		{"RSA_PKCS_PSS", rsaKey, CKM_RSA_PKCS_PSS, pssParam(CKM_SHA256, CKG_MGF1_SHA256, 32), d256[:], "pss", "asn1", "SHA256", d256[:]},
		{"SHA256_RSA_PKCS_PSS", rsaKey, CKM_SHA256_RSA_PKCS_PSS, pssParam(CKM_SHA256, CKG_MGF1_SHA256, 32), data, "pss", "asn1", "SHA256", d256[:]},
		{"ECDSA", ecKey, CKM_ECDSA, nil, d256[:], "none", "p1363", "", d256[:]},
		{"ECDSA_SHA256", ecKey, CKM_ECDSA_SHA256, nil, data, "none", "p1363", "", d256[:]},
	}
	for _, c := range cases {
		op, err := NewSignOp(c.key, c.mech, c.param)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		req, err := op.Request(op.Input(c.input), "op1", "desc")
		if err != nil {
			t.Fatalf("%s: Request: %v", c.name, err)
		}
		if req.InputPadding != c.padding || req.SignatureFormat != c.format || req.HashAlgorithm != c.hash ||
			req.InputData != hex.EncodeToString(c.wantInput) || req.InputFormat != "hex" || req.OperationID != "op1" || req.Description != "desc" {
			t.Errorf("%s: request = %+v", c.name, req)
		}
	}
}

func TestRequestRejectsBadInput(t *testing.T) {
	rsaKey, ecKey := mustRSAAndECKeys(t, elliptic.P256())
	cases := []struct {
		name  string
		key   *Key
		mech  uint
		param []byte
		input []byte
		want  RV
	}{
		{"raw RSA input not a DigestInfo", rsaKey, CKM_RSA_PKCS, nil, []byte("hello"), CKR_DATA_INVALID},
		{"PSS digest of wrong size", rsaKey, CKM_RSA_PKCS_PSS, pssParam(CKM_SHA256, CKG_MGF1_SHA256, 32), make([]byte, 20), CKR_DATA_LEN_RANGE},
		{"ECDSA empty digest", ecKey, CKM_ECDSA, nil, []byte{}, CKR_DATA_LEN_RANGE},
	}
	for _, c := range cases {
		op, err := NewSignOp(c.key, c.mech, c.param)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		_, err = op.Request(op.Input(c.input), "op", "")
		if got := RVOf(err); got != c.want {
			t.Errorf("%s: Request = 0x%x, want 0x%x", c.name, got, c.want)
		}
	}
}

func TestMultiPartHashesLikeSinglePart(t *testing.T) {
	k := mustKeyOf(t, ksfake.MustECKey(t, "e", elliptic.P256()))
	single, err := NewSignOp(k, CKM_ECDSA_SHA256, nil)
	if err != nil {
		t.Fatalf("NewSignOp: %v", err)
	}
	multi, err := NewSignOp(k, CKM_ECDSA_SHA256, nil)
	if err != nil {
		t.Fatalf("NewSignOp: %v", err)
	}
	for _, part := range []string{"pay", "load"} {
		if err := multi.Update([]byte(part)); err != nil {
			t.Fatalf("Update(%q): %v", part, err)
		}
	}
	if a, b := single.Input([]byte("payload")), multi.Input(nil); !bytes.Equal(a, b) {
		t.Fatalf("multi-part digest %x != single-part %x", b, a)
	}
	if a, b := single.Input([]byte("other")), single.Input(nil); !bytes.Equal(a, b) {
		t.Fatalf("Input is not computed once")
	}
}

func TestECDSARawAcceptsDER(t *testing.T) {
	raw := bytes.Repeat([]byte{7}, 64)
	if got, ok := ecdsaRaw(raw, 64); !ok || !bytes.Equal(got, raw) {
		t.Fatalf("ecdsaRaw(raw) = %x, %v", got, ok)
	}
	der, _ := hex.DecodeString("3006020101020102")
	got, ok := ecdsaRaw(der, 64)
	if !ok || got[31] != 1 || got[63] != 2 || len(got) != 64 {
		t.Fatalf("ecdsaRaw(der) = %x, %v", got, ok)
	}
	if _, ok := ecdsaRaw([]byte{1, 2, 3}, 64); ok {
		t.Fatalf("ecdsaRaw accepted garbage")
	}
}
