package devauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"keyserver/internal/keyserver"
	"keyserver/internal/oidc"
)

const testAudience = "api://keyserver-local"

// mustServer starts a Server behind httptest with the test server's URL as issuer.
func mustServer(tb testing.TB, cfg Config) (*Server, *httptest.Server) {
	tb.Helper()
	var handler http.Handler
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	tb.Cleanup(hs.Close)
	cfg.Issuer = hs.URL
	if cfg.Audience == "" {
		cfg.Audience = testAudience
	}
	s, err := New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	handler = s.Handler()
	return s, hs
}

// curlToken sends what seed 001's curl sends:
// curl -X POST -H "Authorization: Basic <BASE64-CREDENTIALS>" -d "grant_type=client_credentials" .../oauth2/token
func curlToken(tb testing.TB, url, credentials, body string) (int, map[string]any) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/oauth2/token", strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(credentials)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "*/*")
	req.Header.Set("User-Agent", "curl/8.5.0")
	return mustDo(tb, req)
}

func mustDo(tb testing.TB, req *http.Request) (int, map[string]any) {
	tb.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	var body map[string]any
	if len(data) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(data, &body); err != nil {
			tb.Fatalf("decoding %s: %v", data, err)
		}
	}
	return resp.StatusCode, body
}

// mustVerifier trusts the dev auth server as the local stack does: apps by
// sub, people by oid.
func mustVerifier(tb testing.TB, issuer, audience, subjectClaim string) *oidc.Verifier {
	tb.Helper()
	issuers := []oidc.Issuer{{Issuer: issuer, Audience: audience, SubjectClaim: subjectClaim, PersonClaim: "oid"}}
	v, err := oidc.NewVerifier(issuers, oidc.Options{AllowLoopbackHTTP: true})
	if err != nil {
		tb.Fatalf("NewVerifier: %v", err)
	}
	return v
}

func TestSeedCurlTokenVerifies(t *testing.T) {
	_, hs := mustServer(t, Config{})
	v := mustVerifier(t, hs.URL, testAudience, "sub")
	for _, c := range DemoClients() {
		t.Run(c.Name, func(t *testing.T) {
			status, body := curlToken(t, hs.URL, c.Name+":"+c.Name, "grant_type=client_credentials")
			if status != http.StatusOK {
				t.Fatalf("status = %d, body %v", status, body)
			}
			if body["token_type"] != "Bearer" || body["expires_in"] != float64(3600) {
				t.Fatalf("token_type %v, expires_in %v; want Bearer, 3600", body["token_type"], body["expires_in"])
			}
			token, _ := body["access_token"].(string)
			p, err := v.Verify(context.Background(), token)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if want := (keyserver.Principal{Issuer: hs.URL, Subject: c.Name, Kind: keyserver.KindApp}); p.Principal != want {
				t.Fatalf("principal = %v, want %v", p, want)
			}
		})
	}
}

func TestTokenClaims(t *testing.T) {
	s, hs := mustServer(t, Config{})
	_, body := curlToken(t, hs.URL, "approver-key2:approver-key2", "grant_type=client_credentials&scope=api%3A%2F%2Fx&audience=y")
	token, _ := body["access_token"].(string)
	claims := jwt.MapClaims{}
	parsed, _, err := jwt.NewParser().ParseUnverified(token, claims)
	if err != nil {
		t.Fatalf("parsing token: %v", err)
	}
	if parsed.Header["alg"] != "RS256" || parsed.Header["kid"] != s.jwk.Kid {
		t.Fatalf("header = %v, want alg RS256 and kid %s", parsed.Header, s.jwk.Kid)
	}
	want := map[string]any{"iss": hs.URL, "aud": testAudience, "sub": "approver-key2", "azp": "approver-key2", "appid": "approver-key2", "idtyp": "app"}
	for k, v := range want {
		if claims[k] != v {
			t.Fatalf("claim %s = %v, want %v", k, claims[k], v)
		}
	}
	// An app-only token, as Entra shapes it: no scp, no person.
	for _, k := range []string{"scp", "oid", "name", "preferred_username"} {
		if _, ok := claims[k]; ok {
			t.Fatalf("a client's token carries %s", k)
		}
	}
	iat, _ := claims["iat"].(float64)
	nbf, _ := claims["nbf"].(float64)
	exp, _ := claims["exp"].(float64)
	if iat == 0 || nbf != iat || exp-iat != 3600 {
		t.Fatalf("iat %v nbf %v exp %v; want nbf = iat and exp = iat+3600", iat, nbf, exp)
	}
	if jti, _ := claims["jti"].(string); len(jti) < 16 {
		t.Fatalf("jti = %q", jti)
	}
}

func TestTokenRejections(t *testing.T) {
	_, hs := mustServer(t, Config{})
	cases := []struct {
		name, credentials, body string
		wantStatus              int
		wantError               string
	}{
		{"wrong secret", "adminclient:wrong", "grant_type=client_credentials", 401, "invalid_client"},
		{"empty secret", "adminclient:", "grant_type=client_credentials", 401, "invalid_client"},
		{"unknown client", "adminuser:adminuser", "grant_type=client_credentials", 401, "invalid_client"},
		{"another client's secret", "adminclient:approver-key1", "grant_type=client_credentials", 401, "invalid_client"},
		{"password grant", "adminclient:adminclient", "grant_type=password&username=a&password=b", 400, "unsupported_grant_type"},
		{"refresh token grant", "adminclient:adminclient", "grant_type=refresh_token&refresh_token=x", 400, "unsupported_grant_type"},
		{"authorization code grant with client credentials", "adminclient:adminclient", "grant_type=authorization_code&code=x", 401, "invalid_client"},
		{"no grant type", "adminclient:adminclient", "", 400, "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := curlToken(t, hs.URL, tc.credentials, tc.body)
			if status != tc.wantStatus || body["error"] != tc.wantError {
				t.Fatalf("got %d %v, want %d error %q", status, body, tc.wantStatus, tc.wantError)
			}
			if _, ok := body["access_token"]; ok {
				t.Fatal("a rejection carries an access token")
			}
		})
	}
	t.Run("no authorization header", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodPost, hs.URL+"/oauth2/token", strings.NewReader("grant_type=client_credentials"))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		status, body := mustDo(t, req)
		if status != http.StatusUnauthorized || body["error"] != "invalid_client" {
			t.Fatalf("got %d %v, want 401 invalid_client", status, body)
		}
	})
	t.Run("GET", func(t *testing.T) {
		req, err := http.NewRequest(http.MethodGet, hs.URL+"/oauth2/token", nil)
		if err != nil {
			t.Fatal(err)
		}
		if status, _ := mustDo(t, req); status != http.StatusMethodNotAllowed {
			t.Fatalf("status = %d, want 405", status)
		}
	})
}

func TestDiscoveryAndJWKS(t *testing.T) {
	s, hs := mustServer(t, Config{})
	req, err := http.NewRequest(http.MethodGet, hs.URL+"/.well-known/openid-configuration", nil)
	if err != nil {
		t.Fatal(err)
	}
	status, doc := mustDo(t, req)
	if status != http.StatusOK {
		t.Fatalf("discovery status = %d", status)
	}
	want := map[string]string{"issuer": hs.URL, "jwks_uri": hs.URL + "/jwks", "token_endpoint": hs.URL + "/oauth2/token",
		"authorization_endpoint": hs.URL + "/authorize", "end_session_endpoint": hs.URL + "/logout"}
	for k, v := range want {
		if doc[k] != v {
			t.Fatalf("discovery %s = %v, want %v", k, doc[k], v)
		}
	}
	if methods, _ := doc["code_challenge_methods_supported"].([]any); len(methods) != 1 || methods[0] != "S256" {
		t.Fatalf("code_challenge_methods_supported = %v, want [S256]", doc["code_challenge_methods_supported"])
	}
	for _, path := range []string{"/jwks", "/.well-known/jwks.json"} {
		req, err := http.NewRequest(http.MethodGet, hs.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		status, set := mustDo(t, req)
		keys, _ := set["keys"].([]any)
		if status != http.StatusOK || len(keys) != 1 {
			t.Fatalf("%s: status %d, keys %v", path, status, set)
		}
		if k, _ := keys[0].(map[string]any); k["kid"] != s.jwk.Kid || k["kty"] != "RSA" || k["d"] != nil {
			t.Fatalf("%s: key %v", path, k)
		}
	}
}

func TestKeyFileKeepsKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "devauth-key.pem")
	first, _ := mustServer(t, Config{KeyFile: path})
	info, err := os.Stat(path)
	if err != nil {
		t.Fatalf("key file not created: %v", err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Fatalf("key file mode = %v, want 0600", perm)
	}
	token, _, err := first.Token("orderer-client", testAudience)
	if err != nil {
		t.Fatal(err)
	}
	// A restart with the same key file and issuer accepts the old token.
	second, err := New(Config{Issuer: first.cfg.Issuer, Audience: testAudience, KeyFile: path})
	if err != nil {
		t.Fatalf("New with existing key file: %v", err)
	}
	if second.jwk != first.jwk {
		t.Fatalf("restarted server has key %s, want %s", second.jwk.Kid, first.jwk.Kid)
	}
	hs := httptest.NewServer(second.Handler())
	t.Cleanup(hs.Close)
	issuers := []oidc.Issuer{{Issuer: first.cfg.Issuer, Audience: testAudience, SubjectClaim: "sub",
		DiscoveryURL: hs.URL + "/.well-known/openid-configuration"}}
	// The discovery document names the first server's URL; close enough, both serve the same key.
	v, err := oidc.NewVerifier(issuers, oidc.Options{AllowLoopbackHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), token); err != nil {
		t.Fatalf("Verify after restart: %v", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
	}{
		{"no issuer", Config{Audience: "a"}},
		{"issuer not a URL", Config{Issuer: "localhost", Audience: "a"}},
		{"no audience", Config{Issuer: "http://localhost:8300"}},
		{"duplicate client", Config{Issuer: "http://localhost:8300", Audience: "a", Clients: []Client{{Name: "a", Secret: "a"}, {Name: "a", Secret: "b"}}}},
		{"client without secret", Config{Issuer: "http://localhost:8300", Audience: "a", Clients: []Client{{Name: "a"}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg); err == nil {
				t.Fatal("New accepted the config")
			}
		})
	}
}
