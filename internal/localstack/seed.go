package localstack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"keyserver/internal/devauth"
	"keyserver/internal/hsmfake"
)

// DemoKey is one of seed 001's demo keys and the HSM key behind it.
type DemoKey struct {
	KeyID             string
	Spec              hsmfake.KeySpec
	RequiredApprovals int
	KeyInfo           string
}

// DemoKeys are seed 001's keys: key1 to key4 needing 0, 1, 2 and 1 approvers.
var DemoKeys = []DemoKey{
	{"key1", hsmfake.KeySpec{Name: "key1", Kty: "RSA-HSM", Size: 2048}, 0, "Demo key 1: RSA-2048, no approval needed"},
	{"key2", hsmfake.KeySpec{Name: "key2", Kty: "EC-HSM", Crv: "P-256"}, 1, "Demo key 2: EC P-256, 1 approver"},
	{"key3", hsmfake.KeySpec{Name: "key3", Kty: "RSA-HSM", Size: 4096}, 2, "Demo key 3: RSA-4096, 2 approvers"},
	{"key4", hsmfake.KeySpec{Name: "key4", Kty: "EC-HSM", Crv: "P-384"}, 1, "Demo key 4: EC P-384, 1 approver"},
}

// AuditKeySpec is the HSM key that signs audit checkpoints.
var AuditKeySpec = hsmfake.KeySpec{Name: "audit", Kty: "EC-HSM", Crv: "P-256"}

// seed registers the demo clients as apps and the demo people as people
// (by their stable ids), and binds the demo keys to their HSM keys, leaving
// keys that are already registered as they are.
func (st *Stack) seed(ctx context.Context) error {
	admin, err := st.Token(ctx, "adminclient")
	if err != nil {
		return err
	}
	for _, c := range devauth.DemoClients() {
		body := map[string]any{"issuer": st.AuthURL, "kind": "app", "name": c.Name, "roles": c.Roles}
		if _, err := st.Call(ctx, "PUT", "/api/admin/subjects/"+c.Name, admin, body, nil); err != nil {
			return err
		}
	}
	// People sign in to the web UI; they are registered under their stable id.
	for _, p := range devauth.DemoPeople() {
		body := map[string]any{"issuer": st.AuthURL, "kind": "person", "name": p.Name, "roles": p.Roles}
		if _, err := st.Call(ctx, "PUT", "/api/admin/subjects/"+p.ID(), admin, body, nil); err != nil {
			return err
		}
	}
	for _, k := range DemoKeys {
		status, err := st.Call(ctx, "GET", "/api/admin/keys/"+k.KeyID, admin, nil, nil)
		if status == http.StatusOK {
			continue
		}
		if status != http.StatusNotFound {
			return err
		}
		body := map[string]any{"hsmkey": st.HSMURL + "/keys/" + k.Spec.Name, "requiredapprovals": k.RequiredApprovals, "keyinfo": k.KeyInfo}
		if _, err := st.Call(ctx, "PUT", "/api/admin/keys/"+k.KeyID, admin, body, nil); err != nil {
			return err
		}
	}
	return nil
}

// Token gets a token for a demo client from the dev auth server, exactly as
// seed 001's curl does (HTTP Basic, client_credentials).
func (st *Stack) Token(ctx context.Context, client string) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	req, err := http.NewRequestWithContext(ctx, "POST", st.AuthURL+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.SetBasicAuth(client, client)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("getting a token for %s: %w", client, err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
		return "", fmt.Errorf("getting a token for %s: %s", client, resp.Status)
	}
	return tok.AccessToken, nil
}

// PersonToken signs person in through the dev auth server as the web UI
// does: the sign-in page, then the code exchange with PKCE. It returns the
// access token.
func (st *Stack) PersonToken(ctx context.Context, person string) (string, error) {
	return devauth.SignIn(ctx, http.DefaultClient, st.AuthURL, UIRedirectURIs(st.handlerPort)[0], person, person)
}

// Call sends a JSON request to the handler with a bearer token and decodes
// the answer into out when it is not nil. A status of 400 or above is an error.
func (st *Stack) Call(ctx context.Context, method, path, token string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, st.HandlerURL+path, rd)
	if err != nil {
		return 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode >= 400 {
		return resp.StatusCode, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(data))
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decoding the answer: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}
