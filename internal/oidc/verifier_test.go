package oidc

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"keyserver/internal/keyserver"
)

func TestVerifyAccepts(t *testing.T) {
	mustKeys(t)
	keys := []testKey{
		{"rs", rsaA, jwt.SigningMethodRS256},
		{"rs512", rsaB, jwt.SigningMethodRS512},
		{"ps", rsaA, jwt.SigningMethodPS256},
		{"es256", ec256, jwt.SigningMethodES256},
		{"es384", ec384, jwt.SigningMethodES384},
		{"es512", ec521, jwt.SigningMethodES512},
	}
	ti := mustTestIssuer(t, keys...)
	clock := &fakeClock{t: epoch}
	v := mustVerifier(t, clock, ti.config("sub"))
	for _, k := range keys {
		t.Run(k.kid, func(t *testing.T) {
			got, err := v.Verify(context.Background(), k.sign(t, claimsFor(ti, epoch)))
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := keyserver.Principal{Issuer: ti.srv.URL, Subject: "subject-1"}
			if got.Principal != want {
				t.Fatalf("principal = %v, want %v", got, want)
			}
		})
	}
	if n := ti.jwksHits.Load(); n != 1 {
		t.Fatalf("JWKS fetched %d times, want 1 (cached after the first token)", n)
	}
}

func TestVerifyRejects(t *testing.T) {
	mustKeys(t)
	good := testKey{"good", rsaA, jwt.SigningMethodRS256}
	ti := mustTestIssuer(t, good, testKey{"ec", ec256, jwt.SigningMethodES256})
	clock := &fakeClock{t: epoch}
	v := mustVerifier(t, clock, ti.config("sub"))
	with := func(change func(jwt.MapClaims)) jwt.MapClaims {
		c := claimsFor(ti, epoch)
		change(c)
		return c
	}
	valid := claimsFor(ti, epoch)
	pubDER, err := x509.MarshalPKIXPublicKey(rsaA.Public())
	if err != nil {
		t.Fatal(err)
	}
	noneToken, err := jwt.NewWithClaims(jwt.SigningMethodNone, valid).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	hsToken := testKeyHMAC(t, "good", pubDER, valid)

	cases := []struct {
		name, token, wantMsg string
	}{
		{"alg none", noneToken, "signing algorithm"},
		{"HS256 with the public key as secret", hsToken, "signing algorithm"},
		{"untrusted issuer", good.sign(t, with(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" })), "not trusted"},
		{"no issuer", good.sign(t, with(func(c jwt.MapClaims) { delete(c, "iss") })), "no issuer"},
		{"wrong audience", good.sign(t, with(func(c jwt.MapClaims) { c["aud"] = "api://other" })), "audience"},
		{"no audience", good.sign(t, with(func(c jwt.MapClaims) { delete(c, "aud") })), "required claim"},
		{"expired", good.sign(t, with(func(c jwt.MapClaims) { c["exp"] = epoch.Add(-2 * time.Minute).Unix() })), "expired"},
		{"no exp", good.sign(t, with(func(c jwt.MapClaims) { delete(c, "exp") })), "required claim"},
		{"not yet valid", good.sign(t, with(func(c jwt.MapClaims) { c["nbf"] = epoch.Add(2 * time.Minute).Unix() })), "not valid yet"},
		{"issued in the future", good.sign(t, with(func(c jwt.MapClaims) { c["iat"] = epoch.Add(2 * time.Minute).Unix() })), "not valid yet"},
		{"unknown kid", testKey{"other", rsaA, jwt.SigningMethodRS256}.sign(t, valid), "does not publish"},
		{"no kid", testKey{"", rsaA, jwt.SigningMethodRS256}.sign(t, valid), "key id"},
		{"bad signature", testKey{"good", rsaEvil, jwt.SigningMethodRS256}.sign(t, valid), "signature is invalid"},
		{"tampered payload", tamper(t, good.sign(t, valid)), "signature is invalid"},
		{"EC token naming an RSA key", testKey{"good", ec256, jwt.SigningMethodES256}.sign(t, valid), "does not match"},
		{"RSA token naming an EC key", testKey{"ec", rsaA, jwt.SigningMethodRS256}.sign(t, valid), "does not match"},
		{"missing subject", good.sign(t, with(func(c jwt.MapClaims) { delete(c, "sub") })), "no sub claim"},
		{"empty subject", good.sign(t, with(func(c jwt.MapClaims) { c["sub"] = "" })), "no sub claim"},
		{"numeric subject", good.sign(t, with(func(c jwt.MapClaims) { c["sub"] = 42 })), "no sub claim"},
		{"garbage", "not-a-jwt", "well-formed"},
		{"three garbage parts", "a.b.c", "well-formed"},
		{"empty", "", "well-formed"},
		{"huge", strings.Repeat("a", maxTokenBytes+1), "too large"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := v.Verify(context.Background(), tc.token)
			if err == nil {
				t.Fatalf("Verify accepted the token as %v", p)
			}
			var ke *keyserver.Error
			if !errors.As(err, &ke) || ke.Code != keyserver.EUNAUTHENTICATED {
				t.Fatalf("error = %v, want a %s *keyserver.Error", err, keyserver.EUNAUTHENTICATED)
			}
			if !strings.Contains(ke.Message, tc.wantMsg) {
				t.Fatalf("message %q does not contain %q", ke.Message, tc.wantMsg)
			}
			if tc.token != "" && strings.Contains(err.Error(), tc.token) {
				t.Fatalf("error reveals the token: %v", err)
			}
		})
	}
}

func testKeyHMAC(tb testing.TB, kid string, secret []byte, claims jwt.MapClaims) string {
	tb.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	tok.Header["kid"] = kid
	s, err := tok.SignedString(secret)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// tamper makes the token name another subject, keeping its signature.
func tamper(tb testing.TB, token string) string {
	tb.Helper()
	parts := strings.Split(token, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		tb.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		tb.Fatal(err)
	}
	claims["sub"] = "admin"
	payload, err = json.Marshal(claims)
	if err != nil {
		tb.Fatal(err)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString(payload)
	return strings.Join(parts, ".")
}

func TestSubjectClaim(t *testing.T) {
	mustKeys(t)
	k := testKey{"k", rsaA, jwt.SigningMethodRS256}
	ti := mustTestIssuer(t, k)
	clock := &fakeClock{t: epoch}
	claims := claimsFor(ti, epoch)
	claims["sub"], claims["appid"], claims["azp"], claims["oid"] = "the-sub", "the-appid", "the-azp", "the-oid"
	token := k.sign(t, claims)
	for _, claim := range []string{"", "sub", "appid", "azp", "oid"} {
		t.Run(claim, func(t *testing.T) {
			v := mustVerifier(t, clock, ti.config(claim))
			got, err := v.Verify(context.Background(), token)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := "the-" + claim
			if claim == "" {
				want = "the-sub"
			}
			if got.Subject != want {
				t.Fatalf("subject = %q, want %q", got.Subject, want)
			}
		})
	}
}

func TestDiscoveryURLOverride(t *testing.T) {
	mustKeys(t)
	k := testKey{"k", rsaA, jwt.SigningMethodRS256}
	ti := mustTestIssuer(t, k)
	clock := &fakeClock{t: epoch}
	// Like Entra ID v1 tokens: the issuer differs from where discovery lives.
	cfg := Issuer{Issuer: "https://sts.example/tenant/", Audience: "api://keyserver-test", SubjectClaim: "appid",
		DiscoveryURL: ti.srv.URL + "/.well-known/openid-configuration"}
	v := mustVerifier(t, clock, cfg)
	claims := claimsFor(ti, epoch)
	claims["iss"], claims["appid"] = cfg.Issuer, "pipeline-app"
	got, err := v.Verify(context.Background(), k.sign(t, claims))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if want := (keyserver.Principal{Issuer: cfg.Issuer, Subject: "pipeline-app"}); got.Principal != want {
		t.Fatalf("principal = %v, want %v", got, want)
	}
}

func TestKeyRotationRefreshesOnce(t *testing.T) {
	mustKeys(t)
	oldKey := testKey{"old", rsaA, jwt.SigningMethodRS256}
	newKey := testKey{"new", ec384, jwt.SigningMethodES384}
	ti := mustTestIssuer(t, oldKey)
	clock := &fakeClock{t: epoch}
	v := mustVerifier(t, clock, ti.config("sub"))
	mustVerify(t, v, oldKey.sign(t, claimsFor(ti, epoch)))
	mustVerify(t, v, oldKey.sign(t, claimsFor(ti, epoch)))
	if n := ti.jwksHits.Load(); n != 1 {
		t.Fatalf("JWKS fetched %d times before rotation, want 1", n)
	}

	ti.setKeys(oldKey, newKey)
	clock.Advance(refreshInterval + time.Second)
	const callers = 20
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			_, err := v.Verify(context.Background(), newKey.sign(t, claimsFor(ti, clock.Now())))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Verify after rotation: %v", err)
		}
	}
	if n := ti.jwksHits.Load(); n != 2 {
		t.Fatalf("JWKS fetched %d times after rotation by %d concurrent callers, want 2", n, callers)
	}
	mustVerify(t, v, oldKey.sign(t, claimsFor(ti, clock.Now())))
	if n := ti.jwksHits.Load(); n != 2 {
		t.Fatalf("JWKS fetched %d times, want still 2", n)
	}
}

func TestUnknownKidRefreshIsRateLimited(t *testing.T) {
	mustKeys(t)
	k := testKey{"k", rsaA, jwt.SigningMethodRS256}
	stranger := testKey{"stranger", rsaB, jwt.SigningMethodRS256}
	ti := mustTestIssuer(t, k)
	clock := &fakeClock{t: epoch}
	v := mustVerifier(t, clock, ti.config("sub"))
	steps := []struct {
		advance  time.Duration
		wantHits int64
	}{
		{0, 1},                   // first miss fetches
		{0, 1},                   // immediate second miss does not
		{refreshInterval / 2, 1}, // still within the interval
		{refreshInterval, 2},     // interval over: one more fetch
		{time.Second, 2},
	}
	for i, s := range steps {
		clock.Advance(s.advance)
		_, err := v.Verify(context.Background(), stranger.sign(t, claimsFor(ti, clock.Now())))
		if keyserver.ErrorCode(err) != keyserver.EUNAUTHENTICATED {
			t.Fatalf("step %d: error = %v, want %s", i, err, keyserver.EUNAUTHENTICATED)
		}
		if n := ti.jwksHits.Load(); n != s.wantHits {
			t.Fatalf("step %d: JWKS fetched %d times, want %d", i, n, s.wantHits)
		}
	}
	mustVerify(t, v, k.sign(t, claimsFor(ti, clock.Now())))
}

func TestIssuerDown(t *testing.T) {
	mustKeys(t)
	k := testKey{"k", rsaA, jwt.SigningMethodRS256}
	ti := mustTestIssuer(t, k)
	ti.fail.Store(true)
	clock := &fakeClock{t: epoch}
	v := mustVerifier(t, clock, ti.config("sub"))
	token := k.sign(t, claimsFor(ti, epoch))
	for i := range 2 {
		_, err := v.Verify(context.Background(), token)
		var ke *keyserver.Error
		if !errors.As(err, &ke) || ke.Code != keyserver.EUNAUTHENTICATED || !strings.Contains(ke.Message, "could not be fetched") {
			t.Fatalf("try %d: error = %v, want EUNAUTHENTICATED saying the keys could not be fetched", i, err)
		}
		if ke.Cause == nil {
			t.Fatalf("try %d: the fetch failure is not kept as the cause", i)
		}
	}
	if n := ti.discoveryHits.Load(); n != 1 {
		t.Fatalf("discovery fetched %d times, want 1 (failed fetches are rate limited)", n)
	}
	if err := v.Health(context.Background()); err == nil {
		t.Fatal("Health is nil while the issuer is down")
	}
	ti.fail.Store(false)
	clock.Advance(retryInterval + time.Second)
	mustVerify(t, v, k.sign(t, claimsFor(ti, clock.Now())))
}

func TestHealth(t *testing.T) {
	mustKeys(t)
	ti := mustTestIssuer(t, testKey{"k", rsaA, jwt.SigningMethodRS256})
	clock := &fakeClock{t: epoch}
	v := mustVerifier(t, clock, ti.config("sub"))
	if err := v.Health(context.Background()); err != nil {
		t.Fatalf("Health: %v", err)
	}
	ti.fail.Store(true)
	if err := v.Health(context.Background()); err != nil {
		t.Fatalf("Health with cached keys: %v", err)
	}
	if n := ti.discoveryHits.Load(); n != 1 {
		t.Fatalf("discovery fetched %d times, want 1", n)
	}
}

func TestWaitingCallerGivesUp(t *testing.T) {
	mustKeys(t)
	k := testKey{"k", rsaA, jwt.SigningMethodRS256}
	ti := mustTestIssuer(t, k)
	release := make(chan struct{})
	ti.hold.Store(&release)
	clock := &fakeClock{t: epoch}
	v := mustVerifier(t, clock, ti.config("sub"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := v.Verify(ctx, k.sign(t, claimsFor(ti, epoch)))
	if keyserver.ErrorCode(err) != keyserver.EUNAUTHENTICATED {
		t.Fatalf("error = %v, want %s", err, keyserver.EUNAUTHENTICATED)
	}
	// The fetch the cancelled caller started goes on and serves the next caller.
	close(release)
	mustVerify(t, v, k.sign(t, claimsFor(ti, epoch)))
	if n := ti.discoveryHits.Load(); n != 1 {
		t.Fatalf("discovery fetched %d times, want 1", n)
	}
}

func mustVerify(tb testing.TB, v *Verifier, token string) keyserver.Principal {
	tb.Helper()
	id, err := v.Verify(context.Background(), token)
	if err != nil {
		tb.Fatalf("Verify: %v", err)
	}
	return id.Principal
}

// TestStaleKeysFailClosed is issue 8 defect 4: while the issuer cannot be
// reached, its cached keys are trusted up to the configured age, then no more.
func TestStaleKeysFailClosed(t *testing.T) {
	mustKeys(t)
	k := testKey{"k", rsaA, jwt.SigningMethodRS256}
	ti := mustTestIssuer(t, k)
	clock := &fakeClock{t: epoch}
	v := mustVerifier(t, clock, ti.config("sub"))
	mustVerify(t, v, k.sign(t, claimsFor(ti, clock.Now())))
	ti.fail.Store(true)
	clock.Advance(DefaultMaxKeyAge - time.Minute)
	mustVerify(t, v, k.sign(t, claimsFor(ti, clock.Now())))
	clock.Advance(2 * time.Minute)
	_, err := v.Verify(context.Background(), k.sign(t, claimsFor(ti, clock.Now())))
	var ke *keyserver.Error
	if !errors.As(err, &ke) || ke.Code != keyserver.EUNAUTHENTICATED || !strings.Contains(ke.Message, "could not be fetched") {
		t.Fatalf("error = %v, want EUNAUTHENTICATED: the keys are older than %v and could not be refreshed", err, DefaultMaxKeyAge)
	}
	if err := v.Health(context.Background()); err == nil {
		t.Fatal("Health is nil while the only keys are too old to use")
	}
	ti.fail.Store(false)
	clock.Advance(retryInterval + time.Second)
	mustVerify(t, v, k.sign(t, claimsFor(ti, clock.Now())))
}
