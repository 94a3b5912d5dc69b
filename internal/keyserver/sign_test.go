package keyserver_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"math/big"
	"strings"
	"sync"
	"testing"

	"keyserver/internal/auditlog"
	"keyserver/internal/keyserver"
)

// digestOf returns a fixed digest of h's size.
func digestOf(h crypto.Hash) []byte {
	d := h.New()
	d.Write([]byte("firmware image"))
	return d.Sum(nil)
}

func encode(format string, b []byte) string {
	if format == keyserver.InputBase64 {
		return base64.StdEncoding.EncodeToString(b)
	}
	return hex.EncodeToString(b)
}

func mustDecode(tb testing.TB, format, s string) []byte {
	tb.Helper()
	var b []byte
	var err error
	if format == keyserver.InputBase64 {
		b, err = base64.StdEncoding.DecodeString(s)
	} else {
		b, err = hex.DecodeString(s)
	}
	if err != nil {
		tb.Fatalf("result %q is not %s: %v", s, format, err)
	}
	return b
}

// order builds a sign order for key over input.
func order(opID, keyID string, input []byte, padding, sigFormat, inputFormat string) *keyserver.SignOrder {
	return &keyserver.SignOrder{
		OperationID: opID, KeyID: keyID, InputData: encode(inputFormat, input), InputFormat: inputFormat,
		InputPadding: padding, SignatureFormat: sigFormat, Description: "sign firmware",
	}
}

func TestSignSucceeds(t *testing.T) {
	rsaOrder := func(h crypto.Hash, padding, inputFormat string) (*keyserver.SignOrder, []byte) {
		in := digestOf(h)
		if padding == keyserver.PaddingDigestInfo {
			in = keyserver.DigestInfo(h, in)
		}
		return order("", "key1", in, padding, keyserver.FormatASN1, inputFormat), digestOf(h)
	}
	ecOrder := func(key string, h crypto.Hash, sigFormat, inputFormat string) (*keyserver.SignOrder, []byte) {
		return order("", key, digestOf(h), keyserver.PaddingNone, sigFormat, inputFormat), digestOf(h)
	}
	tests := []struct {
		name   string
		who    string
		build  func() (*keyserver.SignOrder, []byte)
		hash   crypto.Hash
		format string // expected signatureformat
		size   int    // expected signature size, 0 for DER
	}{
		{"RSA digestinfo SHA-256 hex", "orderer", func() (*keyserver.SignOrder, []byte) {
			return rsaOrder(crypto.SHA256, keyserver.PaddingDigestInfo, keyserver.InputHex)
		}, crypto.SHA256, keyserver.FormatASN1, 256},
		{"RSA digestinfo SHA-384 base64", "orderer", func() (*keyserver.SignOrder, []byte) {
			return rsaOrder(crypto.SHA384, keyserver.PaddingDigestInfo, keyserver.InputBase64)
		}, crypto.SHA384, keyserver.FormatASN1, 256},
		{"RSA digestinfo SHA-512 hex by an admin", "admin", func() (*keyserver.SignOrder, []byte) {
			return rsaOrder(crypto.SHA512, keyserver.PaddingDigestInfo, keyserver.InputHex)
		}, crypto.SHA512, keyserver.FormatASN1, 256},
		{"RSA pss SHA-256 hex", "orderer", func() (*keyserver.SignOrder, []byte) {
			return rsaOrder(crypto.SHA256, keyserver.PaddingPSS, keyserver.InputHex)
		}, crypto.SHA256, keyserver.FormatASN1, 256},
		{"RSA pss SHA-512 base64 named", "orderer", func() (*keyserver.SignOrder, []byte) {
			o, d := rsaOrder(crypto.SHA512, keyserver.PaddingPSS, keyserver.InputBase64)
			o.HashAlgorithm = "SHA-512"
			return o, d
		}, crypto.SHA512, keyserver.FormatASN1, 256},
		{"EC P-256 p1363 hex", "orderer", func() (*keyserver.SignOrder, []byte) {
			return ecOrder("ec256", crypto.SHA256, keyserver.FormatP1363, keyserver.InputHex)
		}, crypto.SHA256, keyserver.FormatP1363, 64},
		{"EC P-384 p1363 base64", "orderer", func() (*keyserver.SignOrder, []byte) {
			return ecOrder("ec384", crypto.SHA384, keyserver.FormatP1363, keyserver.InputBase64)
		}, crypto.SHA384, keyserver.FormatP1363, 96},
		{"EC P-521 p1363 hex", "orderer", func() (*keyserver.SignOrder, []byte) {
			return ecOrder("ec521", crypto.SHA512, keyserver.FormatP1363, keyserver.InputHex)
		}, crypto.SHA512, keyserver.FormatP1363, 132},
		{"EC P-384 default format", "orderer", func() (*keyserver.SignOrder, []byte) {
			return ecOrder("ec384", crypto.SHA384, "", keyserver.InputHex)
		}, crypto.SHA384, keyserver.FormatP1363, 96},
		{"EC P-256 asn1 hex", "orderer", func() (*keyserver.SignOrder, []byte) {
			return ecOrder("ec256", crypto.SHA256, keyserver.FormatASN1, keyserver.InputHex)
		}, crypto.SHA256, keyserver.FormatASN1, 0},
		{"EC P-521 asn1 base64", "orderer", func() (*keyserver.SignOrder, []byte) {
			return ecOrder("ec521", crypto.SHA512, keyserver.FormatASN1, keyserver.InputBase64)
		}, crypto.SHA512, keyserver.FormatASN1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			o, digest := tt.build()
			op := f.mustCreate(t, "orderer", kr(o.KeyID, 2))
			o.OperationID = op.ID
			res, err := f.svc.Sign(context.Background(), f.mustCaller(t, tt.who), o)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if res.KeyID != o.KeyID || res.InputData != o.InputData || res.SignatureFormat != tt.format {
				t.Fatalf("result = %+v", res)
			}
			if want := auditlog.RecordID(auditlog.OperationChain(op.ID), uint64(len(f.store.Events(op.ID)))); res.AuditRecord != want {
				t.Fatalf("the result names audit record %q, want %q: the signature's", res.AuditRecord, want)
			}
			sig := mustDecode(t, o.InputFormat, res.Result)
			if tt.size != 0 && len(sig) != tt.size {
				t.Fatalf("signature is %d bytes, want %d", len(sig), tt.size)
			}
			mustVerify(t, mustTestKey(t, keyHSM(o.KeyID)).Public(), tt.hash, digest, sig, o.InputPadding, tt.format)
			if n := f.store.HeldUses(op.ID, o.KeyID); n != 1 {
				t.Fatalf("%d uses spent, want 1", n)
			}
			ev := f.lastEvent(t, op.ID)
			if ev.Action != keyserver.ActionSign || ev.Result != "ok" || ev.KeyID != o.KeyID || ev.Digest != hex.EncodeToString(digest) || ev.Actor != principal(tt.who) {
				t.Fatalf("audit event = %+v", ev)
			}
		})
	}
}

func keyHSM(keyID string) string {
	for _, k := range testKeyring {
		if k.id == keyID {
			return k.hsm
		}
	}
	return ""
}

// mustVerify checks sig with Go's crypto, independently of the code under test.
func mustVerify(tb testing.TB, pub crypto.PublicKey, h crypto.Hash, digest, sig []byte, padding, format string) {
	tb.Helper()
	var err error
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if padding == keyserver.PaddingPSS {
			err = rsa.VerifyPSS(k, h, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			err = rsa.VerifyPKCS1v15(k, h, digest, sig)
		}
	case *ecdsa.PublicKey:
		ok := false
		if format == keyserver.FormatP1363 {
			n := len(sig) / 2
			ok = ecdsa.Verify(k, digest, new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:]))
		} else {
			ok = ecdsa.VerifyASN1(k, digest, sig)
		}
		if !ok {
			err = rsa.ErrVerification
		}
	}
	if err != nil {
		tb.Fatalf("signature does not verify: %v", err)
	}
}

func TestSignHSMFailureReleasesTheUse(t *testing.T) {
	tests := []struct {
		name    string
		key     string
		failErr error
		corrupt bool
		want    string
	}{
		{"rate limited", "key1", keyserver.Errorf(keyserver.ERATELIMITED, "Too many requests."), false, keyserver.ERATELIMITED},
		{"unavailable", "ec256", keyserver.Errorf(keyserver.EUNAVAILABLE, "HSM down."), false, keyserver.EUNAVAILABLE},
		{"key gone", "ec384", keyserver.Errorf(keyserver.ENOTFOUND, "The HSM key was not found."), false, keyserver.ENOTFOUND},
		{"corrupted RSA signature", "key1", nil, true, keyserver.EUNAVAILABLE},
		{"corrupted EC signature", "ec256", nil, true, keyserver.EUNAVAILABLE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			c := f.mustCaller(t, "orderer")
			op := f.mustCreate(t, "orderer", kr(tt.key, 1))
			o := order(op.ID, tt.key, digestOf(crypto.SHA256), keyserver.PaddingNone, "", keyserver.InputHex)
			if tt.key == "key1" {
				o = order(op.ID, tt.key, keyserver.DigestInfo(crypto.SHA256, digestOf(crypto.SHA256)), keyserver.PaddingDigestInfo, "", keyserver.InputHex)
			}
			f.hsm.Set(tt.failErr, tt.corrupt)
			res, err := f.svc.Sign(ctx, c, o)
			wantCode(t, err, tt.want)
			if res != nil {
				t.Fatalf("a failed signature returned %+v", res)
			}
			if n := f.store.HeldUses(op.ID, tt.key); n != 0 {
				t.Fatalf("the failed signature kept %d uses", n)
			}
			if ev := f.lastEvent(t, op.ID); ev.Action != keyserver.ActionSign || ev.Result != "failed: "+tt.want {
				t.Fatalf("audit event = %+v", ev)
			}
			// The use was given back: the one use still signs, and then none is left.
			f.hsm.Set(nil, false)
			if _, err := f.svc.Sign(ctx, c, o); err != nil {
				t.Fatalf("Sign after the failure: %v", err)
			}
			_, err = f.svc.Sign(ctx, c, o)
			wantCode(t, err, keyserver.EEXHAUSTED)
		})
	}
}

func TestSignNeverPassesMaxUsageCount(t *testing.T) {
	f := newFixture(t)
	c := f.mustCaller(t, "orderer")
	op := f.mustCreate(t, "orderer", kr("ec256", 3))
	o := order(op.ID, "ec256", digestOf(crypto.SHA256), keyserver.PaddingNone, keyserver.FormatP1363, keyserver.InputHex)
	var wg sync.WaitGroup
	codes := make([]string, 8)
	for i := range codes {
		wg.Go(func() {
			_, err := f.svc.Sign(context.Background(), c, o)
			codes[i] = keyserver.ErrorCode(err)
		})
	}
	wg.Wait()
	count := map[string]int{}
	for _, c := range codes {
		count[c]++
	}
	if count[""] != 3 || count[keyserver.EEXHAUSTED] != 5 {
		t.Fatalf("outcomes = %v, want 3 signatures and 5 %s", count, keyserver.EEXHAUSTED)
	}
	if st := f.mustOperation(t, op.ID).Status(f.clock.Now()); st != keyserver.StatusExhausted {
		t.Fatalf("status = %s, want exhausted", st)
	}
}

func TestSignUnknownAndForbiddenKeysLookAlike(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	op := f.mustCreate(t, "orderer", kr("key1", 1))
	in := keyserver.DigestInfo(crypto.SHA256, digestOf(crypto.SHA256))
	_, errUnknown := f.svc.Sign(ctx, f.mustCaller(t, "orderer1"), order(op.ID, "nokey", in, keyserver.PaddingDigestInfo, "", ""))
	_, errForbidden := f.svc.Sign(ctx, f.mustCaller(t, "orderer1"), order(op.ID, "key3", in, keyserver.PaddingDigestInfo, "", ""))
	wantCode(t, errUnknown, keyserver.ENOTFOUND)
	wantCode(t, errForbidden, keyserver.ENOTFOUND)
	mu := strings.ReplaceAll(keyserver.ErrorMessage(errUnknown), "nokey", "K")
	mf := strings.ReplaceAll(keyserver.ErrorMessage(errForbidden), "key3", "K")
	if mu != mf {
		t.Fatalf("messages differ: %q for an unknown key, %q for a forbidden one", mu, mf)
	}
}

func TestSignStoreFailureAfterSigningReleasesTheUse(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.mustCaller(t, "orderer")
	op := f.mustCreate(t, "orderer", kr("ec256", 1))
	o := order(op.ID, "ec256", digestOf(crypto.SHA256), keyserver.PaddingNone, keyserver.FormatP1363, keyserver.InputHex)
	f.store.Fail("CompleteUse", keyserver.Errorf(keyserver.EUNAVAILABLE, "Table Storage is down."))
	res, err := f.svc.Sign(ctx, c, o)
	wantCode(t, err, keyserver.EUNAVAILABLE)
	if res != nil {
		t.Fatalf("a signature whose use was not recorded was returned")
	}
	if n := f.store.HeldUses(op.ID, "ec256"); n != 0 {
		t.Fatalf("the failed signature keeps %d uses", n)
	}
	if ev := f.lastEvent(t, op.ID); ev.Action != keyserver.ActionSign || ev.Result != "failed: "+keyserver.EUNAVAILABLE {
		t.Fatalf("audit event = %+v", ev)
	}
	f.store.Fail("CompleteUse", nil)
	if _, err := f.svc.Sign(ctx, c, o); err != nil {
		t.Fatalf("Sign after the store recovered: %v", err)
	}
}

func TestSignExpiringDuringTheHSMCallIsRefused(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.mustCaller(t, "orderer")
	op := f.mustCreate(t, "orderer", kr("ec256", 1))
	o := order(op.ID, "ec256", digestOf(crypto.SHA256), keyserver.PaddingNone, "", keyserver.InputHex)
	f.hsm.During(func() { f.clock.Advance(op.Expires.Sub(op.Created)) })
	res, err := f.svc.Sign(ctx, c, o)
	wantCode(t, err, keyserver.EEXPIRED)
	if res != nil {
		t.Fatalf("a signature made past expiry was returned: %+v", res)
	}
	if n := f.store.HeldUses(op.ID, "ec256"); n != 0 {
		t.Fatalf("the refused signature kept %d uses", n)
	}
}

func TestSignRefusesAKeyRepointedAfterTheOperationOpened(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.mustCaller(t, "orderer")
	op := f.mustCreate(t, "orderer", kr("ec256", 2))
	o := order(op.ID, "ec256", digestOf(crypto.SHA256), keyserver.PaddingNone, "", keyserver.InputHex)
	if _, err := f.svc.Sign(ctx, c, o); err != nil {
		t.Fatalf("Sign before the key moved: %v", err)
	}
	ec384, _ := f.store.StoredKey("ec384")
	f.store.ChangeKey("ec256", func(k *keyserver.Key) { k.HSMKey = ec384.HSMKey })
	_, err := f.svc.Sign(ctx, c, o)
	wantCode(t, err, keyserver.ECONFLICT)
	if n := f.store.HeldUses(op.ID, "ec256"); n != 1 {
		t.Fatalf("uses held = %d, want 1: the refusal must consume nothing", n)
	}
}
