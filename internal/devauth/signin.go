package devauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// SignIn signs a person in as a browser would through the UI client, for
// Go tests and tools: it posts the sign-in form with a fresh PKCE challenge,
// takes the code from the redirect and exchanges it. It returns the access
// token.
func SignIn(ctx context.Context, client *http.Client, issuer, redirectURI, username, password string) (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	verifier := base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(verifier))
	state := base64.RawURLEncoding.EncodeToString(sum[:8])
	form := url.Values{
		"response_type": {"code"}, "client_id": {DefaultUIClientID}, "redirect_uri": {redirectURI},
		"scope": {"openid profile"}, "state": {state},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
		"username": {username}, "password": {password},
	}
	noFollow := *client
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := post(ctx, &noFollow, strings.TrimSuffix(issuer, "/")+"/authorize", form)
	if err != nil {
		return "", fmt.Errorf("signing %s in: %w", username, err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || err != nil || loc.Query().Get("state") != state || loc.Query().Get("code") == "" {
		return "", fmt.Errorf("signing %s in: %s, no code in the redirect", username, resp.Status)
	}
	resp, err = post(ctx, client, strings.TrimSuffix(issuer, "/")+"/oauth2/token", url.Values{
		"grant_type": {"authorization_code"}, "client_id": {DefaultUIClientID}, "redirect_uri": {redirectURI},
		"code": {loc.Query().Get("code")}, "code_verifier": {verifier},
	})
	if err != nil {
		return "", fmt.Errorf("exchanging %s's code: %w", username, err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
		return "", errors.New("exchanging " + username + "'s code: " + resp.Status)
	}
	return tok.AccessToken, nil
}

func post(ctx context.Context, client *http.Client, target string, form url.Values) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return client.Do(req)
}
