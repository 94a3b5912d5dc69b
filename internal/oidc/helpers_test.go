package oidc

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// testIssuer is an OIDC issuer served by httptest: discovery and a JWKS
// whose keys the test can change.
type testIssuer struct {
	srv           *httptest.Server
	mu            sync.Mutex
	keys          []testKey
	discoveryHits atomic.Int64
	jwksHits      atomic.Int64
	fail          atomic.Bool
	hold          atomic.Pointer[chan struct{}] // discovery waits until it is closed
}

func mustTestIssuer(tb testing.TB, keys ...testKey) *testIssuer {
	tb.Helper()
	ti := &testIssuer{keys: keys}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		ti.discoveryHits.Add(1)
		if hold := ti.hold.Load(); hold != nil {
			<-*hold
		}
		if ti.fail.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		writeJSON(w, map[string]any{"issuer": ti.srv.URL, "jwks_uri": ti.srv.URL + "/keys"})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		ti.jwksHits.Add(1)
		if ti.fail.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		ti.mu.Lock()
		set := make([]map[string]any, 0, len(ti.keys))
		for _, k := range ti.keys {
			set = append(set, k.jwk())
		}
		ti.mu.Unlock()
		writeJSON(w, map[string]any{"keys": set})
	})
	ti.srv = httptest.NewServer(mux)
	tb.Cleanup(ti.srv.Close)
	return ti
}

func (ti *testIssuer) setKeys(keys ...testKey) {
	ti.mu.Lock()
	defer ti.mu.Unlock()
	ti.keys = keys
}

func (ti *testIssuer) config(subjectClaim string) Issuer {
	return Issuer{Issuer: ti.srv.URL, Audience: "api://keyserver-test", SubjectClaim: subjectClaim}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// testKey is a signing key with its kid and JWT method.
type testKey struct {
	kid    string
	priv   crypto.Signer
	method jwt.SigningMethod
}

var (
	keyOnce             sync.Once
	rsaA, rsaB, rsaEvil *rsa.PrivateKey
	ec256, ec384, ec521 *ecdsa.PrivateKey
)

func mustKeys(tb testing.TB) {
	tb.Helper()
	keyOnce.Do(func() {
		rsaA, rsaB, rsaEvil = mustRSA(tb), mustRSA(tb), mustRSA(tb)
		ec256, ec384, ec521 = mustEC(tb, elliptic.P256()), mustEC(tb, elliptic.P384()), mustEC(tb, elliptic.P521())
	})
	if rsaA == nil || ec521 == nil {
		tb.Fatal("test keys were not generated")
	}
}

func mustRSA(tb testing.TB) *rsa.PrivateKey {
	tb.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatalf("generating RSA key: %v", err)
	}
	return k
}

func mustEC(tb testing.TB, c elliptic.Curve) *ecdsa.PrivateKey {
	tb.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		tb.Fatalf("generating EC key: %v", err)
	}
	return k
}

func (k testKey) jwk() map[string]any {
	b64 := base64.RawURLEncoding.EncodeToString
	switch pub := k.priv.Public().(type) {
	case *rsa.PublicKey:
		return map[string]any{"kty": "RSA", "kid": k.kid, "use": "sig", "n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes())}
	case *ecdsa.PublicKey:
		size := (pub.Curve.Params().BitSize + 7) / 8
		point, err := pub.Bytes()
		if err != nil {
			panic(err)
		}
		return map[string]any{"kty": "EC", "kid": k.kid, "crv": pub.Curve.Params().Name, "x": b64(point[1 : 1+size]), "y": b64(point[1+size:])}
	}
	panic("unsupported key")
}

func (k testKey) sign(tb testing.TB, claims jwt.MapClaims) string {
	tb.Helper()
	tok := jwt.NewWithClaims(k.method, claims)
	if k.kid != "" {
		tok.Header["kid"] = k.kid
	}
	s, err := tok.SignedString(k.priv)
	if err != nil {
		tb.Fatalf("signing token: %v", err)
	}
	return s
}

// fakeClock is a settable clock shared by goroutines.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var epoch = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func mustVerifier(tb testing.TB, clock *fakeClock, issuers ...Issuer) *Verifier {
	tb.Helper()
	v, err := NewVerifier(issuers, Options{AllowLoopbackHTTP: true})
	if err != nil {
		tb.Fatalf("NewVerifier: %v", err)
	}
	v.now = clock.Now
	return v
}

// claimsFor returns valid claims for ti at the clock's time.
func claimsFor(ti *testIssuer, now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss": ti.srv.URL,
		"aud": "api://keyserver-test",
		"sub": "subject-1",
		"iat": now.Unix(),
		"nbf": now.Unix(),
		"exp": now.Add(time.Hour).Unix(),
	}
}
