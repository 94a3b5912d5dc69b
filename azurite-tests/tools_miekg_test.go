package azuritetests

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"testing"

	"github.com/miekg/pkcs11"

	"keyserver/internal/keyserver"
)

// p11 is the module loaded into the test binary with miekg/pkcs11. It is
// loaded once and never unloaded: unloading a Go runtime is unsafe.
type p11 struct{ ctx *pkcs11.Ctx }

var (
	p11Once sync.Once
	p11Ctx  *pkcs11.Ctx
)

// mustP11 initialises the module with the KSC_* variables of vars. The module
// reads the process environment at its first use after C_Initialize, so the
// variables go through t.Setenv (no t.Parallel); C_Finalize runs at cleanup.
func mustP11(t *testing.T, vars map[string]string) *p11 {
	t.Helper()
	module := mustModule(t)
	p11Once.Do(func() { p11Ctx = pkcs11.New(module) })
	if p11Ctx == nil {
		t.Fatalf("loading %s with miekg/pkcs11 failed", module)
	}
	for _, k := range []string{"KSC_API_SERVER", "KSC_ID_TOKEN", "KSC_ID_TOKEN_FILE", "KSC_OPERATION_ID", "KSC_OPERATION_DESCRIPTION", "KSC_HTTP_CLIENT_TIMEOUT", "KSC_DEBUG"} {
		t.Setenv(k, vars[k])
	}
	if err := p11Ctx.Initialize(); err != nil {
		t.Fatalf("C_Initialize: %v", err)
	}
	t.Cleanup(func() {
		if err := p11Ctx.Finalize(); err != nil {
			t.Errorf("C_Finalize: %v", err)
		}
	})
	return &p11{p11Ctx}
}

func (p *p11) mustSession(tb testing.TB) pkcs11.SessionHandle {
	tb.Helper()
	sh, err := p.ctx.OpenSession(1, pkcs11.CKF_SERIAL_SESSION)
	if err != nil {
		tb.Fatalf("C_OpenSession: %v", err)
	}
	return sh
}

// mustObject finds the one object of class labelled label.
func (p *p11) mustObject(tb testing.TB, sh pkcs11.SessionHandle, label string, class uint) pkcs11.ObjectHandle {
	tb.Helper()
	tmpl := []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_LABEL, label), pkcs11.NewAttribute(pkcs11.CKA_CLASS, class)}
	if err := p.ctx.FindObjectsInit(sh, tmpl); err != nil {
		tb.Fatalf("C_FindObjectsInit: %v", err)
	}
	hs, _, err := p.ctx.FindObjects(sh, 10)
	if err != nil {
		tb.Fatalf("C_FindObjects: %v", err)
	}
	if err := p.ctx.FindObjectsFinal(sh); err != nil {
		tb.Fatalf("C_FindObjectsFinal: %v", err)
	}
	if len(hs) != 1 {
		tb.Fatalf("found %d objects of class %d labelled %s, want 1", len(hs), class, label)
	}
	return hs[0]
}

// sign signs data in one C_SignInit and C_Sign.
func (p *p11) sign(sh pkcs11.SessionHandle, key pkcs11.ObjectHandle, mech uint, data []byte) ([]byte, error) {
	if err := p.ctx.SignInit(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(mech, nil)}, key); err != nil {
		return nil, fmt.Errorf("C_SignInit: %w", err)
	}
	sig, err := p.ctx.Sign(sh, data)
	if err != nil {
		return nil, fmt.Errorf("C_Sign: %w", err)
	}
	return sig, nil
}

// p11Vars are the module's variables for operation opID with token.
func p11Vars(tb testing.TB, token, opID string) map[string]string {
	tb.Helper()
	return map[string]string{"KSC_API_SERVER": mustStack(tb).HandlerURL, "KSC_ID_TOKEN": token,
		"KSC_OPERATION_ID": opID, "KSC_OPERATION_DESCRIPTION": toolsOpDesc}
}

// ckrTokenResourceExceeded is PKCS#11 3.0's CKR_TOKEN_RESOURCE_EXCEEDED, which
// miekg/pkcs11 does not define.
const ckrTokenResourceExceeded = 0x201

// TestToolsMiekgErrorCodes checks the Cryptoki codes of the server's refusals.
func TestToolsMiekgErrorCodes(t *testing.T) {
	orderer := mustToken(t, "orderer-client")
	unapproved := mustOpenOp(t, orderer, 120000, map[string]int{"key2": 1})
	spent := mustToolOp(t, 120000, map[string]int{"key1": 1})
	mustSign(t, orderer, key1Order(t, spent.ID, "spent"))
	cases := []struct {
		name, opID, key string
		mech            uint
		want            uint
	}{
		{"unknown operation", keyserver.NewID(), "key1", pkcs11.CKM_SHA256_RSA_PKCS, pkcs11.CKR_KEY_HANDLE_INVALID},
		{"not approved", unapproved.ID, "key2", pkcs11.CKM_ECDSA_SHA256, pkcs11.CKR_FUNCTION_REJECTED},
		{"uses exhausted", spent.ID, "key1", pkcs11.CKM_SHA256_RSA_PKCS, ckrTokenResourceExceeded},
		{"no operation id", "", "key1", pkcs11.CKM_SHA256_RSA_PKCS, pkcs11.CKR_FUNCTION_FAILED},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := mustP11(t, p11Vars(t, orderer, c.opID))
			sh := p.mustSession(t)
			_, err := p.sign(sh, p.mustObject(t, sh, c.key, pkcs11.CKO_PRIVATE_KEY), c.mech, []byte("refused"))
			var e pkcs11.Error
			if !errors.As(err, &e) || uint(e) != c.want {
				t.Fatalf("signing = %v, want 0x%x", err, c.want)
			}
		})
	}
	t.Run("rejected token", func(t *testing.T) {
		p := mustP11(t, p11Vars(t, "not-a-token", ""))
		if slots, err := p.ctx.GetSlotList(true); err != nil || len(slots) != 0 {
			t.Fatalf("C_GetSlotList(present) = %v, %v; want no slot", slots, err)
		}
		var e pkcs11.Error
		if _, err := p.ctx.OpenSession(1, pkcs11.CKF_SERIAL_SESSION); !errors.As(err, &e) || uint(e) != pkcs11.CKR_TOKEN_NOT_PRESENT {
			t.Fatalf("C_OpenSession = %v, want CKR_TOKEN_NOT_PRESENT", err)
		}
	})
	mustUsage(t, orderer, unapproved.ID, map[string]int{"key2": 0})
	mustUsage(t, orderer, spent.ID, map[string]int{"key1": 1})
}

// TestToolsMiekgConcurrentSigning checks attributes against the keys'
// certificates and signs from 8 goroutines, each with its own session.
func TestToolsMiekgConcurrentSigning(t *testing.T) {
	const workers, rounds = 8, 3
	dir := t.TempDir()
	key1, key2 := mustDemoKey(t, dir, "key1"), mustDemoKey(t, dir, "key2")
	op := mustToolOp(t, 300000, map[string]int{"key1": workers * rounds, "key2": workers * rounds})
	p := mustP11(t, p11Vars(t, mustToken(t, "orderer-client"), op.ID))
	rsaKey, ecKey := mustP11Attributes(t, p, key1, key2)

	rsaPub, ecPub := key1.Cert.PublicKey.(*rsa.PublicKey), key2.Cert.PublicKey.(*ecdsa.PublicKey)
	errs := make(chan error, workers*rounds*2)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sh, err := p.ctx.OpenSession(1, pkcs11.CKF_SERIAL_SESSION)
			if err != nil {
				errs <- fmt.Errorf("worker %d: C_OpenSession: %w", w, err)
				return
			}
			defer p.ctx.CloseSession(sh)
			for r := range rounds {
				msg := []byte(fmt.Sprintf("firmware part %d of worker %d", r, w))
				if sig, err := p.sign(sh, rsaKey, pkcs11.CKM_SHA256_RSA_PKCS, msg); err != nil {
					errs <- fmt.Errorf("worker %d, key1: %w", w, err)
				} else if err := rsa.VerifyPKCS1v15(rsaPub, crypto.SHA256, hashOf(crypto.SHA256, msg), sig); err != nil {
					errs <- fmt.Errorf("worker %d, key1: signature does not verify: %w", w, err)
				}
				digest := hashOf(crypto.SHA256, msg)
				sig, err := p.sign(sh, ecKey, pkcs11.CKM_ECDSA, digest)
				if err != nil {
					errs <- fmt.Errorf("worker %d, key2: %w", w, err)
					continue
				}
				n := len(sig) / 2
				if len(sig) != 64 || !ecdsa.Verify(ecPub, digest, new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])) {
					errs <- fmt.Errorf("worker %d, key2: %d-byte signature does not verify", w, len(sig))
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	mustUsage(t, mustToken(t, "orderer-client"), op.ID, map[string]int{"key1": workers * rounds, "key2": workers * rounds})
}

// mustP11Attributes checks attributes of key1 and key2 against their
// certificates and returns the handles of their private keys.
func mustP11Attributes(t *testing.T, p *p11, key1, key2 demoKey) (pkcs11.ObjectHandle, pkcs11.ObjectHandle) {
	t.Helper()
	sh := p.mustSession(t)
	defer p.ctx.CloseSession(sh)
	get := func(o pkcs11.ObjectHandle, typ uint) []byte {
		t.Helper()
		attrs, err := p.ctx.GetAttributeValue(sh, o, []*pkcs11.Attribute{pkcs11.NewAttribute(typ, nil)})
		if err != nil || len(attrs) != 1 {
			t.Fatalf("C_GetAttributeValue(0x%x) of object %d: %v", typ, o, err)
		}
		return attrs[0].Value
	}
	ulong := func(v uint) []byte { return pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, v).Value }
	p256, _ := asn1.Marshal(asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7})
	priv1, pub1 := p.mustObject(t, sh, "key1", pkcs11.CKO_PRIVATE_KEY), p.mustObject(t, sh, "key1", pkcs11.CKO_PUBLIC_KEY)
	priv2, cert2 := p.mustObject(t, sh, "key2", pkcs11.CKO_PRIVATE_KEY), p.mustObject(t, sh, "key2", pkcs11.CKO_CERTIFICATE)
	id1, _ := hex.DecodeString(key1.ckaID(t))
	cases := []struct {
		name string
		obj  pkcs11.ObjectHandle
		typ  uint
		want []byte
	}{
		{"key1 label", priv1, pkcs11.CKA_LABEL, []byte("key1")},
		{"key1 key type", priv1, pkcs11.CKA_KEY_TYPE, ulong(pkcs11.CKK_RSA)},
		{"key1 id", priv1, pkcs11.CKA_ID, id1},
		{"key1 modulus", priv1, pkcs11.CKA_MODULUS, key1.Cert.PublicKey.(*rsa.PublicKey).N.Bytes()},
		{"key1 public modulus", pub1, pkcs11.CKA_MODULUS, key1.Cert.PublicKey.(*rsa.PublicKey).N.Bytes()},
		{"key1 sign", priv1, pkcs11.CKA_SIGN, []byte{1}},
		{"key1 extractable", priv1, pkcs11.CKA_EXTRACTABLE, []byte{0}},
		{"key2 key type", priv2, pkcs11.CKA_KEY_TYPE, ulong(pkcs11.CKK_EC)},
		{"key2 curve", priv2, pkcs11.CKA_EC_PARAMS, p256},
		{"key2 certificate", cert2, pkcs11.CKA_VALUE, key2.Cert.Raw},
	}
	for _, c := range cases {
		if got := get(c.obj, c.typ); !bytes.Equal(got, c.want) {
			t.Errorf("%s = %x, want %x", c.name, got, c.want)
		}
	}
	var e pkcs11.Error
	if _, err := p.ctx.GetAttributeValue(sh, priv1, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_PRIVATE_EXPONENT, nil)}); !errors.As(err, &e) || uint(e) != pkcs11.CKR_ATTRIBUTE_SENSITIVE {
		t.Errorf("CKA_PRIVATE_EXPONENT = %v, want CKR_ATTRIBUTE_SENSITIVE", err)
	}
	return priv1, priv2
}
