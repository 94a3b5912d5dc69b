package devauth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/golang-jwt/jwt/v5"
)

func TestManagedIdentityWithAzidentity(t *testing.T) {
	s, _ := mustServer(t, Config{ManagedIdentity: true})
	t.Setenv("IDENTITY_ENDPOINT", s.IdentityEndpoint())
	t.Setenv("IDENTITY_HEADER", s.IdentityHeader())
	for _, env := range []string{"IDENTITY_SERVER_THUMBPRINT", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT", "AZURE_CLIENT_ID"} {
		t.Setenv(env, "")
	}
	// MSAL caches managed identity tokens process-wide; a client id of its
	// own per run, or claims, keep tokens of earlier runs out.
	clientID := randomID(t)
	cases := []struct {
		name        string
		opts        *azidentity.ManagedIdentityCredentialOptions
		claims      string
		wantSubject string
	}{
		{"system-assigned", nil, `{"access_token":{"xms_cc":{"values":["` + randomID(t) + `"]}}}`, DefaultIdentityName},
		{"user-assigned", &azidentity.ManagedIdentityCredentialOptions{ID: azidentity.ClientID(clientID)}, "", clientID},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cred, err := azidentity.NewManagedIdentityCredential(tc.opts)
			if err != nil {
				t.Fatalf("NewManagedIdentityCredential: %v", err)
			}
			before := time.Now()
			tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{
				Scopes: []string{"https://vault.azure.net/.default"}, Claims: tc.claims})
			if err != nil {
				t.Fatalf("GetToken: %v", err)
			}
			if !tok.ExpiresOn.After(before.Add(30 * time.Minute)) {
				t.Fatalf("token expires %v, want about an hour after %v", tok.ExpiresOn, before)
			}
			claims := mustParse(t, tok.Token, &s.msiKey.PublicKey)
			if claims["appid"] != tc.wantSubject || claims["aud"] != "https://vault.azure.net" || claims["idtyp"] != "app" {
				t.Fatalf("claims = %v, want appid %s for the vault", claims, tc.wantSubject)
			}
		})
	}
}

func TestManagedIdentityEndpoint(t *testing.T) {
	s, _ := mustServer(t, Config{ManagedIdentity: true})
	testIdentityHeader := s.IdentityHeader()
	good := url.Values{"api-version": {"2019-08-01"}, "resource": {"https://vault.azure.net"}}
	cases := []struct {
		name, header string
		query        url.Values
		wantStatus   int
	}{
		{"ok", testIdentityHeader, good, http.StatusOK},
		{"wrong header", "guess", good, http.StatusUnauthorized},
		{"no header", "", good, http.StatusUnauthorized},
		{"old api version", testIdentityHeader, url.Values{"api-version": {"2017-09-01"}, "resource": {"https://vault.azure.net"}}, http.StatusBadRequest},
		{"no resource", testIdentityHeader, url.Values{"api-version": {"2019-08-01"}}, http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, s.IdentityEndpoint()+"?"+tc.query.Encode(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.header != "" {
				req.Header.Set("X-IDENTITY-HEADER", tc.header)
			}
			status, body := mustDo(t, req)
			if status != tc.wantStatus {
				t.Fatalf("status = %d (%v), want %d", status, body, tc.wantStatus)
			}
			if status != http.StatusOK {
				if _, ok := body["access_token"]; ok {
					t.Fatal("a rejection carries an access token")
				}
				return
			}
			for _, field := range []string{"access_token", "expires_on", "resource", "token_type", "client_id"} {
				if _, ok := body[field].(string); !ok {
					t.Fatalf("field %s = %v, want a string", field, body[field])
				}
			}
			if body["resource"] != "https://vault.azure.net" || body["token_type"] != "Bearer" || body["client_id"] != DefaultIdentityName {
				t.Fatalf("body = %v", body)
			}
		})
	}
}

func TestManagedIdentityDisabled(t *testing.T) {
	s, _ := mustServer(t, Config{})
	req, err := http.NewRequest(http.MethodGet, s.IdentityEndpoint()+"?api-version=2019-08-01&resource=x", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-IDENTITY-HEADER", "")
	if status, _ := mustDo(t, req); status != http.StatusNotFound {
		t.Fatalf("status = %d, want 404 without an identity header configured", status)
	}
}

func randomID(tb testing.TB) string {
	tb.Helper()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		tb.Fatal(err)
	}
	return "test-" + hex.EncodeToString(b[:])
}

// msiToken asks the managed identity endpoint for a token for resource.
func msiToken(tb testing.TB, s *Server, resource string) (int, map[string]any) {
	tb.Helper()
	q := url.Values{"api-version": {"2019-08-01"}, "resource": {resource}}
	req, err := http.NewRequest(http.MethodGet, s.IdentityEndpoint()+"?"+q.Encode(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("X-IDENTITY-HEADER", s.IdentityHeader())
	return mustDo(tb, req)
}

func TestManagedIdentityRefusesKeyserverAudience(t *testing.T) {
	s, _ := mustServer(t, Config{ManagedIdentity: true})
	for _, resource := range []string{testAudience, testAudience + "/", testAudience + "/.default", "API://KEYSERVER-LOCAL", DefaultUIClientID} {
		t.Run(resource, func(t *testing.T) {
			status, body := msiToken(t, s, resource)
			if status != http.StatusBadRequest || body["error"] != "invalid_resource" || body["access_token"] != nil {
				t.Fatalf("got %d %v, want 400 invalid_resource without a token", status, body)
			}
		})
	}
}

func TestManagedIdentityTokensUseTheirOwnKey(t *testing.T) {
	s, hs := mustServer(t, Config{ManagedIdentity: true})
	status, body := msiToken(t, s, "https://vault.azure.net")
	token, _ := body["access_token"].(string)
	if status != http.StatusOK || token == "" {
		t.Fatalf("got %d %v", status, body)
	}
	// Even a verifier that trusts the dev auth server for this audience
	// refuses the token: its key is not in the issuer's JWKS.
	v := mustVerifier(t, hs.URL, "https://vault.azure.net", "appid")
	if _, err := v.Verify(context.Background(), token); err == nil {
		t.Fatal("a managed identity token verified against the issuer's JWKS")
	}
	mustParse(t, token, &s.msiKey.PublicKey)
	if s.msiJWK.Kid == s.jwk.Kid {
		t.Fatal("the managed identity endpoint shares the issuer's key")
	}
	req, err := http.NewRequest(http.MethodGet, hs.URL+"/msi/jwks", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, set := mustDo(t, req)
	keys, _ := set["keys"].([]any)
	if k, _ := keys[0].(map[string]any); len(keys) != 1 || k["kid"] != s.msiJWK.Kid {
		t.Fatalf("/msi/jwks = %v, want the managed identity key", set)
	}
}

func TestManagedIdentityHeaderIsNewAtEachStart(t *testing.T) {
	first, _ := mustServer(t, Config{ManagedIdentity: true})
	second, _ := mustServer(t, Config{ManagedIdentity: true})
	if len(first.IdentityHeader()) < 32 || first.IdentityHeader() == second.IdentityHeader() {
		t.Fatalf("identity headers %q and %q; want long random values that differ", first.IdentityHeader(), second.IdentityHeader())
	}
	req, err := http.NewRequest(http.MethodGet, first.IdentityEndpoint()+"?api-version=2019-08-01&resource=https%3A%2F%2Fvault.azure.net", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-IDENTITY-HEADER", second.IdentityHeader())
	if status, _ := mustDo(t, req); status != http.StatusUnauthorized {
		t.Fatalf("another start's header: status %d, want 401", status)
	}
}

func mustParse(tb testing.TB, token string, key *rsa.PublicKey) jwt.MapClaims {
	tb.Helper()
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return key, nil },
		jwt.WithValidMethods([]string{"RS256"})); err != nil {
		tb.Fatalf("parsing token: %v", err)
	}
	return claims
}
