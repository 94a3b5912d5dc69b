package hsmfake

import (
	"context"
	"crypto"
	_ "crypto/sha256"
	_ "crypto/sha512"
	"net/http"
	"testing"
)

func TestSignEveryAlgorithm(t *testing.T) {
	f := mustServer(t, t.TempDir(), FlavourVault)
	mustCreate(t, f, "rsa", map[string]any{"kty": "RSA", "key_size": 2048})
	mustCreate(t, f, "p256", map[string]any{"kty": "EC", "crv": "P-256"})
	mustCreate(t, f, "p384", map[string]any{"kty": "EC-HSM", "crv": "P-384"})
	mustCreate(t, f, "p521", map[string]any{"kty": "EC-HSM", "crv": "P-521"})

	cases := []struct {
		key, alg string
		hash     crypto.Hash
		sigLen   int
	}{
		{"rsa", "RS256", crypto.SHA256, 256},
		{"rsa", "RS384", crypto.SHA384, 256},
		{"rsa", "RS512", crypto.SHA512, 256},
		{"rsa", "PS256", crypto.SHA256, 256},
		{"rsa", "PS384", crypto.SHA384, 256},
		{"rsa", "PS512", crypto.SHA512, 256},
		{"p256", "ES256", crypto.SHA256, 64},
		{"p384", "ES384", crypto.SHA384, 96},
		{"p521", "ES512", crypto.SHA512, 132},
	}
	for _, c := range cases {
		t.Run(c.alg, func(t *testing.T) {
			bundle := mustDecode[keyBundle](t, f.call(t, http.MethodGet, "/keys/"+c.key+"?api-version=7.4", nil, http.StatusOK))
			pub := mustPublicKey(t, bundle.Key)
			h := c.hash.New()
			h.Write([]byte("message for " + c.alg))
			digest := h.Sum(nil)

			path := "/keys/" + c.key + "/" + versionOf(bundle.Key.KID)
			res := mustDecode[operationResult](t, f.call(t, http.MethodPost, path+"/sign?api-version=7.4",
				map[string]string{"alg": c.alg, "value": b64.EncodeToString(digest)}, http.StatusOK))
			if res.KID != bundle.Key.KID {
				t.Fatalf("kid = %q, want %q", res.KID, bundle.Key.KID)
			}
			sig, err := decodeB64URL(res.Value)
			if err != nil {
				t.Fatalf("signature is not base64url: %v", err)
			}
			if len(sig) != c.sigLen {
				t.Fatalf("signature length = %d, want %d", len(sig), c.sigLen)
			}
			if !verifySig(pub, c.alg, c.hash, digest, sig) {
				t.Fatalf("Go crypto rejects the %s signature", c.alg)
			}

			verify := func(sig []byte) bool {
				return mustDecode[verifyResult](t, f.call(t, http.MethodPost, path+"/verify",
					map[string]string{"alg": c.alg, "digest": b64.EncodeToString(digest), "value": b64.EncodeToString(sig)}, http.StatusOK)).Value
			}
			if !verify(sig) {
				t.Fatalf("verify of a good signature = false")
			}
			sig[len(sig)/2] ^= 0x40
			if verify(sig) {
				t.Fatalf("verify of a damaged signature = true")
			}
		})
	}
}

func TestSignLatestVersionPaths(t *testing.T) {
	f := mustServer(t, t.TempDir(), FlavourVault)
	old := mustCreate(t, f, "k", map[string]any{"kty": "EC"})
	latest := mustCreate(t, f, "k", map[string]any{"kty": "EC"})
	if old.Key.KID == latest.Key.KID {
		t.Fatalf("creating an existing name made no new version: %s", old.Key.KID)
	}
	// The SDK sends an empty version for "latest".
	for _, path := range []string{"/keys/k", "/keys/k/"} {
		got := mustDecode[keyBundle](t, f.call(t, http.MethodGet, path, nil, http.StatusOK))
		if got.Key.KID != latest.Key.KID {
			t.Fatalf("GET %s: kid %s, want the latest %s", path, got.Key.KID, latest.Key.KID)
		}
	}
	got := mustDecode[keyBundle](t, f.call(t, http.MethodGet, "/keys/k/"+versionOf(old.Key.KID), nil, http.StatusOK))
	if got.Key.X != old.Key.X {
		t.Fatalf("GET of the old version returned another key")
	}
	digest := b64.EncodeToString(make([]byte, 32))
	for _, path := range []string{"/keys/k//sign", "/keys/k/sign"} {
		res := mustDecode[operationResult](t, f.call(t, http.MethodPost, path,
			map[string]string{"alg": "ES256", "value": digest}, http.StatusOK))
		if res.KID != latest.Key.KID {
			t.Fatalf("POST %s used %s, want %s", path, res.KID, latest.Key.KID)
		}
	}
}

func TestSignRefusals(t *testing.T) {
	f := mustServer(t, t.TempDir(), FlavourVault)
	mustCreate(t, f, "rsa", map[string]any{"kty": "RSA-HSM"})
	mustCreate(t, f, "p256", map[string]any{"kty": "EC-HSM"})
	mustCreate(t, f, "p384", map[string]any{"kty": "EC", "crv": "P-384"})
	d32, d48 := make([]byte, 32), make([]byte, 48)

	cases := []struct {
		name, key, alg string
		digest         []byte
		status         int
		code           string
	}{
		{"ES384 on P-256", "p256", "ES384", d48, 400, "BadParameter"},
		{"ES256 on P-384", "p384", "ES256", d32, 400, "BadParameter"},
		{"ES512 on P-384", "p384", "ES512", make([]byte, 64), 400, "BadParameter"},
		{"RS256 on EC", "p256", "RS256", d32, 400, "BadParameter"},
		{"ES256 on RSA", "rsa", "ES256", d32, 400, "BadParameter"},
		{"short digest", "rsa", "RS256", d32[:31], 400, "BadParameter"},
		{"SHA-384 digest for PS256", "rsa", "PS256", d48, 400, "BadParameter"},
		{"unsupported alg", "rsa", "RSNULL", d32, 400, "NotSupportedByFake"},
		{"unknown key", "nokey", "RS256", d32, 404, "KeyNotFound"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, _, body := f.do(t, http.MethodPost, "/keys/"+c.key+"//sign",
				map[string]string{"alg": c.alg, "value": b64.EncodeToString(c.digest)}, "tok")
			if status != c.status || errorCode(t, body) != c.code {
				t.Fatalf("status %d code %q, want %d %q; body %s", status, errorCode(t, body), c.status, c.code, body)
			}
		})
	}
}

func TestSignDirect(t *testing.T) {
	f := mustServer(t, t.TempDir(), FlavourVault)
	ctx := context.Background()
	kid, created, err := f.srv.EnsureKey(ctx, KeySpec{Name: "direct", Kty: "EC-HSM", Crv: "P-384"})
	if err != nil || !created {
		t.Fatalf("EnsureKey = %q, %v, %v; want a new key", kid, created, err)
	}
	again, created, err := f.srv.EnsureKey(ctx, KeySpec{Name: "direct", Kty: "RSA"})
	if err != nil || created || again != kid {
		t.Fatalf("EnsureKey again = %q, %v, %v; want the existing %q", again, created, err, kid)
	}
	digest := make([]byte, 48)
	sig, err := f.srv.SignDirect(ctx, "direct", "ES384", digest)
	if err != nil {
		t.Fatalf("SignDirect: %v", err)
	}
	bundle := mustDecode[keyBundle](t, f.call(t, http.MethodGet, "/keys/direct", nil, http.StatusOK))
	if !verifySig(mustPublicKey(t, bundle.Key), "ES384", crypto.SHA384, digest, sig) {
		t.Fatalf("SignDirect signature does not verify")
	}
	// The session pool serves concurrent signers.
	errs := make(chan error, 16)
	for i := 0; i < cap(errs); i++ {
		go func() {
			_, err := f.srv.SignDirect(ctx, "direct", "ES384", digest)
			errs <- err
		}()
	}
	for i := 0; i < cap(errs); i++ {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent SignDirect: %v", err)
		}
	}
	if _, err := f.srv.SignDirect(ctx, "direct", "ES256", make([]byte, 32)); err == nil {
		t.Fatalf("SignDirect with ES256 on a P-384 key succeeded")
	}
}
