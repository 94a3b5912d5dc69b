package devauth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"keyserver/internal/keyserver"
)

const testIdentityHeader = "local-identity-secret"

func TestManagedIdentityWithAzidentity(t *testing.T) {
	s, hs := mustServer(t, Config{IdentityHeader: testIdentityHeader})
	t.Setenv("IDENTITY_ENDPOINT", s.IdentityEndpoint())
	t.Setenv("IDENTITY_HEADER", testIdentityHeader)
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
	v := mustVerifier(t, hs.URL, "https://vault.azure.net", "appid")
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
			p, err := v.Verify(context.Background(), tok.Token)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if want := (keyserver.Principal{Issuer: hs.URL, Subject: tc.wantSubject}); p != want {
				t.Fatalf("principal = %v, want %v", p, want)
			}
		})
	}
}

func TestManagedIdentityEndpoint(t *testing.T) {
	s, _ := mustServer(t, Config{IdentityHeader: testIdentityHeader})
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
