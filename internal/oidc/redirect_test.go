package oidc

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"keyserver/internal/keyserver"
)

// TestFetchRefusesRedirectsToHTTP is issue 8 defect 7's second half: the
// discovery and JWKS client never follows a redirect to plain http, even to
// a server that would serve the right keys.
func TestFetchRefusesRedirectsToHTTP(t *testing.T) {
	mustKeys(t)
	k := testKey{"k", rsaA, jwt.SigningMethodRS256}
	plain := mustTestIssuer(t, k) // serves the keys over http
	cases := []struct {
		name  string
		local bool
		// redirectFrom answers discovery (or the JWKS) with a redirect.
		jwks bool
		to   string
	}{
		{"https discovery to http loopback", true, false, plain.srv.URL + "/.well-known/openid-configuration"},
		{"https JWKS to http loopback", true, true, plain.srv.URL + "/keys"},
		{"https JWKS to http, not local", false, true, plain.srv.URL + "/keys"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var srv *httptest.Server
			srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch {
				case r.URL.Path == "/.well-known/openid-configuration" && tc.jwks:
					writeJSON(w, map[string]any{"issuer": srv.URL, "jwks_uri": srv.URL + "/keys"})
				default:
					http.Redirect(w, r, tc.to, http.StatusFound)
				}
			}))
			t.Cleanup(srv.Close)
			cfg := Issuer{Issuer: srv.URL, Audience: "api://keyserver-test", SubjectClaim: "sub"}
			v, err := NewVerifier([]Issuer{cfg}, Options{AllowLoopbackHTTP: tc.local, Client: srv.Client()})
			if err != nil {
				t.Fatal(err)
			}
			claims := claimsFor(plain, epoch)
			claims["iss"] = srv.URL
			v.now = (&fakeClock{t: epoch}).Now
			_, err = v.Verify(context.Background(), k.sign(t, claims))
			var cause error
			if ke, ok := err.(*keyserver.Error); ok {
				cause = ke.Cause
			}
			if keyserver.ErrorCode(err) != keyserver.EUNAUTHENTICATED || cause == nil || !strings.Contains(cause.Error(), "redirect") {
				t.Fatalf("Verify after a redirect to http: %v (cause %v), want a refused redirect", err, cause)
			}
			if n := plain.jwksHits.Load() + plain.discoveryHits.Load(); n != 0 {
				t.Fatalf("the http server was asked %d times", n)
			}
		})
	}
}

// TestFetchFollowsHTTPSRedirects keeps what must still work: a redirect
// from one https URL to another.
func TestFetchFollowsHTTPSRedirects(t *testing.T) {
	mustKeys(t)
	k := testKey{"k", rsaA, jwt.SigningMethodRS256}
	var srv *httptest.Server
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			writeJSON(w, map[string]any{"issuer": srv.URL, "jwks_uri": srv.URL + "/old-keys"})
		case "/old-keys":
			http.Redirect(w, r, srv.URL+"/keys", http.StatusMovedPermanently)
		case "/keys":
			writeJSON(w, map[string]any{"keys": []map[string]any{k.jwk()}})
		}
	}))
	t.Cleanup(srv.Close)
	v, err := NewVerifier([]Issuer{{Issuer: srv.URL, Audience: "api://keyserver-test"}}, Options{Client: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	v.now = (&fakeClock{t: epoch}).Now
	claims := jwt.MapClaims{"iss": srv.URL, "aud": "api://keyserver-test", "sub": "s", "iat": epoch.Unix(), "exp": epoch.Unix() + 60}
	mustVerify(t, v, k.sign(t, claims))
}
