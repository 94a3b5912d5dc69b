package harness

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"math/big"
	"sync"
	"testing"

	"github.com/miekg/pkcs11"

	"keyserver/internal/ksfake"
)

func TestSlotTokenAndMechanisms(t *testing.T) {
	s := mustStack(t)
	slots, err := s.p.GetSlotList(true)
	if err != nil || len(slots) != 1 || slots[0] != 1 {
		t.Fatalf("C_GetSlotList = %v, %v", slots, err)
	}
	ti, err := s.p.GetTokenInfo(1)
	if err != nil || ti.Label != "Keyserver" || ti.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 || ti.Flags&pkcs11.CKF_LOGIN_REQUIRED != 0 {
		t.Fatalf("C_GetTokenInfo = %+v, %v", ti, err)
	}
	mechs, err := s.p.GetMechanismList(1)
	if err != nil || len(mechs) != 12 {
		t.Fatalf("C_GetMechanismList = %d mechanisms, %v; want 12", len(mechs), err)
	}
	mi, err := s.p.GetMechanismInfo(1, []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil)})
	if err != nil || mi.MinKeySize != 256 || mi.MaxKeySize != 384 || mi.Flags&pkcs11.CKF_SIGN == 0 || mi.Flags&pkcs11.CKF_HW == 0 {
		t.Fatalf("C_GetMechanismInfo(ECDSA) = %+v, %v", mi, err)
	}
	if _, err := s.p.GetTokenInfo(2); !isRV(err, pkcs11.CKR_SLOT_ID_INVALID) {
		t.Fatalf("C_GetTokenInfo(2) = %v", err)
	}
	if keys, _ := s.fake.Calls(); keys != 1 {
		t.Fatalf("key listings = %d, want 1", keys)
	}
}

func isRV(err error, rv uint) bool {
	var e pkcs11.Error
	return errors.As(err, &e) && uint(e) == rv
}

func TestObjectsAndAttributes(t *testing.T) {
	s := mustStack(t)
	sh := s.mustSession(t)
	if all := s.mustFind(t, sh); len(all) != 9 {
		t.Fatalf("found %d objects, want 9", len(all))
	}
	if got := s.mustFind(t, sh, pkcs11.NewAttribute(pkcs11.CKA_LABEL, "key1")); len(got) != 3 {
		t.Fatalf("label key1 matches %d objects, want 3", len(got))
	}
	cert := s.mustKey(t, sh, "key1", pkcs11.CKO_CERTIFICATE)
	attrs, err := s.p.GetAttributeValue(sh, cert, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_VALUE, nil), pkcs11.NewAttribute(pkcs11.CKA_ID, nil)})
	if err != nil || !bytes.Equal(attrs[0].Value, s.fake.Keys[0].Cert.Raw) {
		t.Fatalf("certificate CKA_VALUE: %v", err)
	}
	priv := s.mustKey(t, sh, "key1", pkcs11.CKO_PRIVATE_KEY)
	pattrs, err := s.p.GetAttributeValue(sh, priv, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_ID, nil), pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, nil),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, nil), pkcs11.NewAttribute(pkcs11.CKA_MODULUS, nil)})
	if err != nil || !bytes.Equal(pattrs[0].Value, attrs[1].Value) || pattrs[1].Value[0] != 1 || pattrs[2].Value[0] != 0 {
		t.Fatalf("private key attributes: %v", err)
	}
	if !bytes.Equal(pattrs[3].Value, s.fake.Keys[0].Signer.Public().(*rsa.PublicKey).N.Bytes()) {
		t.Fatalf("CKA_MODULUS differs from the certificate's key")
	}
	if _, err := s.p.GetAttributeValue(sh, priv, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_PRIVATE_EXPONENT, nil)}); !isRV(err, pkcs11.CKR_ATTRIBUTE_SENSITIVE) {
		t.Fatalf("CKA_PRIVATE_EXPONENT = %v, want CKR_ATTRIBUTE_SENSITIVE", err)
	}
	if _, err := s.p.GetAttributeValue(sh, 999, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil)}); !isRV(err, pkcs11.CKR_OBJECT_HANDLE_INVALID) {
		t.Fatalf("bad object handle = %v", err)
	}
	if _, err := s.p.GetAttributeValue(999, priv, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil)}); !isRV(err, pkcs11.CKR_SESSION_HANDLE_INVALID) {
		t.Fatalf("bad session handle = %v", err)
	}
}

type signCase struct {
	name  string
	label string
	mech  *pkcs11.Mechanism
	input func(data []byte) []byte
	hash  crypto.Hash
	pss   bool
}

func digestOf(h crypto.Hash) func([]byte) []byte {
	return func(b []byte) []byte { d := h.New(); d.Write(b); return d.Sum(nil) }
}

func same(b []byte) []byte { return b }

func digestInfoSHA256(b []byte) []byte {
	d := sha256.Sum256(b)
	prefix := []byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}
	return append(prefix, d[:]...)
}

var signCases = []signCase{
	{"RSA_PKCS", "key1", pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS, nil), digestInfoSHA256, crypto.SHA256, false},
	{"SHA256_RSA_PKCS", "key1", pkcs11.NewMechanism(pkcs11.CKM_SHA256_RSA_PKCS, nil), same, crypto.SHA256, false},
	{"SHA384_RSA_PKCS", "key1", pkcs11.NewMechanism(pkcs11.CKM_SHA384_RSA_PKCS, nil), same, crypto.SHA384, false},
	{"SHA512_RSA_PKCS", "key1", pkcs11.NewMechanism(pkcs11.CKM_SHA512_RSA_PKCS, nil), same, crypto.SHA512, false},
	{"RSA_PKCS_PSS", "key1", pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_PSS, pkcs11.NewPSSParams(pkcs11.CKM_SHA384, pkcs11.CKG_MGF1_SHA384, 48)), digestOf(crypto.SHA384), crypto.SHA384, true},
	{"SHA256_RSA_PKCS_PSS", "key1", pkcs11.NewMechanism(pkcs11.CKM_SHA256_RSA_PKCS_PSS, pkcs11.NewPSSParams(pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256, 32)), same, crypto.SHA256, true},
	{"SHA384_RSA_PKCS_PSS", "key1", pkcs11.NewMechanism(pkcs11.CKM_SHA384_RSA_PKCS_PSS, pkcs11.NewPSSParams(pkcs11.CKM_SHA384, pkcs11.CKG_MGF1_SHA384, 48)), same, crypto.SHA384, true},
	{"SHA512_RSA_PKCS_PSS", "key1", pkcs11.NewMechanism(pkcs11.CKM_SHA512_RSA_PKCS_PSS, pkcs11.NewPSSParams(pkcs11.CKM_SHA512, pkcs11.CKG_MGF1_SHA512, 64)), same, crypto.SHA512, true},
	{"ECDSA P-256", "key2", pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil), digestOf(crypto.SHA256), crypto.SHA256, false},
	{"ECDSA P-384", "key3", pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil), digestOf(crypto.SHA384), crypto.SHA384, false},
	{"ECDSA_SHA256", "key2", pkcs11.NewMechanism(pkcs11.CKM_ECDSA_SHA256, nil), same, crypto.SHA256, false},
	{"ECDSA_SHA384", "key3", pkcs11.NewMechanism(pkcs11.CKM_ECDSA_SHA384, nil), same, crypto.SHA384, false},
	{"ECDSA_SHA512", "key2", pkcs11.NewMechanism(pkcs11.CKM_ECDSA_SHA512, nil), same, crypto.SHA512, false},
}

// mustVerify checks sig over data with the fake's key for label.
func mustVerify(tb testing.TB, fake *ksfake.Fake, c signCase, data, sig []byte) {
	tb.Helper()
	var key *ksfake.Key
	for _, k := range fake.Keys {
		if k.ID == c.label {
			key = k
		}
	}
	if key == nil {
		tb.Fatalf("%s: the fake serves no key %s", c.name, c.label)
	}
	digest := digestOf(c.hash)(data)
	switch pub := key.Signer.Public().(type) {
	case *rsa.PublicKey:
		var err error
		if c.pss {
			err = rsa.VerifyPSS(pub, c.hash, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			err = rsa.VerifyPKCS1v15(pub, c.hash, digest, sig)
		}
		if err != nil {
			tb.Fatalf("%s: signature does not verify: %v", c.name, err)
		}
	case *ecdsa.PublicKey:
		size := (pub.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*size {
			tb.Fatalf("%s: signature is %d bytes, want %d", c.name, len(sig), 2*size)
		}
		r, s := new(big.Int).SetBytes(sig[:size]), new(big.Int).SetBytes(sig[size:])
		if !ecdsa.Verify(pub, digest, r, s) {
			tb.Fatalf("%s: signature does not verify", c.name)
		}
	default:
		tb.Fatalf("%s: key %s has an unexpected public key %T", c.name, c.label, pub)
	}
}

func TestEveryMechanismSignsOnceAndVerifies(t *testing.T) {
	s := mustStack(t)
	sh := s.mustSession(t)
	data := []byte("firmware image")
	for _, c := range signCases {
		key := s.mustKey(t, sh, c.label, pkcs11.CKO_PRIVATE_KEY)
		_, before := s.fake.Calls()
		if err := s.p.SignInit(sh, []*pkcs11.Mechanism{c.mech}, key); err != nil {
			t.Fatalf("%s: C_SignInit: %v", c.name, err)
		}
		sig, err := s.p.Sign(sh, c.input(data)) // size query, then the signature
		if err != nil {
			t.Fatalf("%s: C_Sign: %v", c.name, err)
		}
		if _, after := s.fake.Calls(); after != before+1 {
			t.Fatalf("%s: %d sign orders, want 1", c.name, after-before)
		}
		mustVerify(t, s.fake, c, data, sig)
	}
}

func TestMultiPartSigning(t *testing.T) {
	s := mustStack(t)
	sh := s.mustSession(t)
	data := []byte("a longer payload, signed in parts")
	for _, c := range []signCase{signCases[2], signCases[6], signCases[11]} {
		key := s.mustKey(t, sh, c.label, pkcs11.CKO_PRIVATE_KEY)
		if err := s.p.SignInit(sh, []*pkcs11.Mechanism{c.mech}, key); err != nil {
			t.Fatalf("%s: C_SignInit: %v", c.name, err)
		}
		for _, part := range [][]byte{data[:5], data[5:20], data[20:]} {
			if err := s.p.SignUpdate(sh, part); err != nil {
				t.Fatalf("%s: C_SignUpdate: %v", c.name, err)
			}
		}
		sig, err := s.p.SignFinal(sh)
		if err != nil {
			t.Fatalf("%s: C_SignFinal: %v", c.name, err)
		}
		mustVerify(t, s.fake, c, data, sig)
	}
}

func TestSigningErrors(t *testing.T) {
	s := mustStack(t)
	sh := s.mustSession(t)
	rsaKey := s.mustKey(t, sh, "key1", pkcs11.CKO_PRIVATE_KEY)
	pub := s.mustKey(t, sh, "key1", pkcs11.CKO_PUBLIC_KEY)
	ecdsaMech := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil)}
	rsaMech := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_SHA256_RSA_PKCS, nil)}
	badPSS := []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_PSS, pkcs11.NewPSSParams(pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256, 20))}
	cases := []struct {
		name string
		err  error
		want uint
	}{
		{"mechanism of another key type", s.p.SignInit(sh, ecdsaMech, rsaKey), pkcs11.CKR_KEY_TYPE_INCONSISTENT},
		{"PSS salt length not the hash length", s.p.SignInit(sh, badPSS, rsaKey), pkcs11.CKR_MECHANISM_PARAM_INVALID},
		{"public key", s.p.SignInit(sh, rsaMech, pub), pkcs11.CKR_KEY_FUNCTION_NOT_PERMITTED},
		{"bad key handle", s.p.SignInit(sh, rsaMech, 4242), pkcs11.CKR_KEY_HANDLE_INVALID},
		{"bad session handle", s.p.SignInit(4242, rsaMech, rsaKey), pkcs11.CKR_SESSION_HANDLE_INVALID},
		{"update without init", s.p.SignUpdate(sh, []byte("x")), pkcs11.CKR_OPERATION_NOT_INITIALIZED},
		{"init", s.p.SignInit(sh, rsaMech, rsaKey), pkcs11.CKR_OK},
		{"init while active", s.p.SignInit(sh, rsaMech, rsaKey), pkcs11.CKR_OPERATION_ACTIVE},
	}
	for _, c := range cases {
		if c.want == pkcs11.CKR_OK && c.err != nil || c.want != pkcs11.CKR_OK && !isRV(c.err, c.want) {
			t.Errorf("%s: %v, want 0x%x", c.name, c.err, c.want)
		}
	}
	s.fake.InjectSignFault(ksfake.Fault{Status: 409, Code: "not_approved", Message: "waiting for 1 approval"})
	if _, err := s.p.Sign(sh, []byte("x")); !isRV(err, pkcs11.CKR_FUNCTION_REJECTED) {
		t.Fatalf("not approved = %v, want CKR_FUNCTION_REJECTED", err)
	}
	s.fake.InjectSignFault(ksfake.Fault{Status: 410, Code: "expired", Message: "expired"})
	if err := s.p.SignInit(sh, rsaMech, rsaKey); err != nil {
		t.Fatalf("C_SignInit after a refused C_Sign: %v", err)
	}
	if _, err := s.p.Sign(sh, []byte("x")); !isRV(err, pkcs11.CKR_PIN_EXPIRED) {
		t.Fatalf("expired = %v, want CKR_PIN_EXPIRED", err)
	}
}

func TestConcurrentSigning(t *testing.T) {
	s := mustStack(t)
	c := signCases[10] // ECDSA_SHA256 on key2
	data := []byte("concurrent")
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sh, err := s.p.OpenSession(1, pkcs11.CKF_SERIAL_SESSION)
			if err != nil {
				errs <- err
				return
			}
			defer s.p.CloseSession(sh)
			for range 4 {
				if err := s.p.SignInit(sh, []*pkcs11.Mechanism{c.mech}, 4); err != nil {
					errs <- err
					return
				}
				sig, err := s.p.Sign(sh, data)
				if err != nil {
					errs <- err
					return
				}
				mustVerify(t, s.fake, c, data, sig)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent signing: %v", err)
	}
	if _, signs := s.fake.Calls(); signs != 32 {
		t.Fatalf("sign orders = %d, want 32", signs)
	}
}

func TestForkedChildIsRefusedAndParentKeepsWorking(t *testing.T) {
	s := mustStack(t)
	if err := Load(libPath); err != nil {
		t.Fatal(err)
	}
	if code := ForkChild(); code != 0 {
		t.Fatalf("forked child exit status %d, want 0 (clean refusal)", code)
	}
	sh := s.mustSession(t)
	if err := s.p.SignInit(sh, []*pkcs11.Mechanism{signCases[10].mech}, 4); err != nil {
		t.Fatalf("C_SignInit in the parent after fork: %v", err)
	}
	sig, err := s.p.Sign(sh, []byte("after fork"))
	if err != nil {
		t.Fatalf("C_Sign in the parent after fork: %v", err)
	}
	mustVerify(t, s.fake, signCases[10], []byte("after fork"), sig)
}
