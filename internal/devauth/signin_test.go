package devauth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"keyserver/internal/keyserver"
)

const testRedirect = "http://localhost:7071/"

// signIn is one browser's sign-in: its PKCE verifier, state and nonce.
type signIn struct {
	t        *testing.T
	s        *Server
	hs       *httptest.Server
	verifier string
	params   url.Values
}

func newSignIn(t *testing.T, s *Server, hs *httptest.Server) *signIn {
	verifier := strings.Repeat("v", 20) + randomID(t) + strings.Repeat("~", 10)
	sum := sha256.Sum256([]byte(verifier))
	return &signIn{t: t, s: s, hs: hs, verifier: verifier, params: url.Values{
		"response_type": {"code"}, "client_id": {DefaultUIClientID}, "redirect_uri": {testRedirect},
		"scope": {"openid profile"}, "state": {"st-" + randomID(t)}, "nonce": {"n-" + randomID(t)},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}}
}

// noRedirects is a client that shows redirects instead of following them.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func (si *signIn) do(req *http.Request) (*http.Response, string) {
	si.t.Helper()
	resp, err := noRedirects.Do(req)
	if err != nil {
		si.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		si.t.Fatal(err)
	}
	return resp, string(body)
}

func (si *signIn) page() (*http.Response, string) {
	si.t.Helper()
	req, err := http.NewRequest(http.MethodGet, si.hs.URL+"/authorize?"+si.params.Encode(), nil)
	if err != nil {
		si.t.Fatal(err)
	}
	return si.do(req)
}

// submit posts the sign-in form as the page's browser would.
func (si *signIn) submit(username, password string) (*http.Response, string) {
	si.t.Helper()
	form := url.Values{"username": {username}, "password": {password}}
	for k, v := range si.params {
		form[k] = v
	}
	req, err := http.NewRequest(http.MethodPost, si.hs.URL+"/authorize", strings.NewReader(form.Encode()))
	if err != nil {
		si.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return si.do(req)
}

// code signs in and returns the code from the redirect.
func (si *signIn) code(username string) string {
	si.t.Helper()
	resp, body := si.submit(username, username)
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusSeeOther || err != nil {
		si.t.Fatalf("sign-in: %d %s, Location %q", resp.StatusCode, body, resp.Header.Get("Location"))
	}
	q := loc.Query()
	loc.RawQuery = ""
	if loc.String() != testRedirect || q.Get("state") != si.params.Get("state") || q.Get("code") == "" {
		si.t.Fatalf("redirected to %s, want %s with the code and state", resp.Header.Get("Location"), testRedirect)
	}
	return q.Get("code")
}

// exchange sends the code to the token endpoint as a public client.
func (si *signIn) exchange(change func(url.Values)) (int, map[string]any) {
	si.t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "client_id": {DefaultUIClientID},
		"redirect_uri": {testRedirect}, "code_verifier": {si.verifier}}
	change(form)
	req, err := http.NewRequest(http.MethodPost, si.hs.URL+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		si.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://localhost:7071")
	return mustDo(si.t, req)
}

func mustSignInServer(t *testing.T, cfg Config) (*Server, *httptest.Server) {
	cfg.RedirectURIs = []string{testRedirect, "http://127.0.0.1:7071/"}
	return mustServer(t, cfg)
}

func TestSignInFlow(t *testing.T) {
	s, hs := mustSignInServer(t, Config{PersonTokenLifetime: 90 * time.Second})
	si := newSignIn(t, s, hs)
	resp, page := si.page()
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("sign-in page: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{`name="username"`, `name="password"`, `type="password"`, `>Sign in</button>`, `action="/authorize"`} {
		if !strings.Contains(page, want) {
			t.Fatalf("sign-in page lacks %s:\n%s", want, page)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "form-action 'self' http://localhost:7071") {
		t.Fatalf("Content-Security-Policy = %q", csp)
	}

	resp, page = si.submit("approver-key4", "wrong")
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Location") != "" || !strings.Contains(page, "wrong") {
		t.Fatalf("wrong password: %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	code := si.code("approver-key4")
	status, body := si.exchange(func(f url.Values) { f.Set("code", code) })
	if status != http.StatusOK || body["token_type"] != "Bearer" || body["expires_in"] != float64(90) {
		t.Fatalf("exchange: %d %v", status, body)
	}
	id := PersonID("approver-key4")
	access := mustParse(t, body["access_token"].(string), &s.key.PublicKey)
	want := map[string]any{"iss": hs.URL, "aud": testAudience, "sub": id, "oid": id, "azp": DefaultUIClientID,
		"scp": PersonScope, "name": "approver-key4", "preferred_username": "approver-key4", "tid": TenantID}
	for k, v := range want {
		if access[k] != v {
			t.Fatalf("access token %s = %v, want %v", k, access[k], v)
		}
	}
	if _, ok := access["appid"]; ok {
		t.Fatal("a person's token carries appid")
	}
	idToken := mustParse(t, body["id_token"].(string), &s.key.PublicKey)
	if idToken["aud"] != DefaultUIClientID || idToken["nonce"] != si.params.Get("nonce") || idToken["sub"] != id {
		t.Fatalf("id token = %v", idToken)
	}

	// The Keyserver tells the person from the client of the same name.
	v := mustVerifier(t, hs.URL, testAudience, "sub")
	person, err := v.Verify(context.Background(), body["access_token"].(string))
	if err != nil {
		t.Fatalf("Verify the person's token: %v", err)
	}
	if want := (keyserver.Principal{Issuer: hs.URL, Subject: id, Kind: keyserver.KindPerson}); person.Principal != want || person.Name != "approver-key4" {
		t.Fatalf("person = %v %q, want %v", person.Principal, person.Name, want)
	}
	appToken, _, err := s.Token("approver-key4", testAudience)
	if err != nil {
		t.Fatal(err)
	}
	if app, err := v.Verify(context.Background(), appToken); err != nil || app.Kind != keyserver.KindApp || app.Principal == person.Principal {
		t.Fatalf("the client approver-key4 = %v, %v; want an app, not the person", app.Principal, err)
	}

	// A code is good once.
	if status, body := si.exchange(func(f url.Values) { f.Set("code", code) }); status != http.StatusBadRequest || body["error"] != "invalid_grant" {
		t.Fatalf("second exchange: %d %v, want 400 invalid_grant", status, body)
	}
}

func TestCodeExchangeRefusals(t *testing.T) {
	now := time.Now()
	s, hs := mustSignInServer(t, Config{Now: func() time.Time { return now }})
	cases := []struct {
		name       string
		change     func(f url.Values)
		later      time.Duration
		wantStatus int
		wantError  string
	}{
		{"wrong verifier", func(f url.Values) { f.Set("code_verifier", strings.Repeat("x", 43)) }, 0, 400, "invalid_grant"},
		{"no verifier", func(f url.Values) { f.Del("code_verifier") }, 0, 400, "invalid_request"},
		{"other redirect uri", func(f url.Values) { f.Set("redirect_uri", "http://127.0.0.1:7071/") }, 0, 400, "invalid_grant"},
		{"other client", func(f url.Values) { f.Set("client_id", "adminclient") }, 0, 401, "invalid_client"},
		{"expired", func(url.Values) {}, codeLifetime + time.Second, 400, "invalid_grant"},
		{"unknown code", func(f url.Values) { f.Set("code", "made-up") }, 0, 400, "invalid_grant"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			si := newSignIn(t, s, hs)
			code := si.code("adminuser")
			now = now.Add(tc.later)
			status, body := si.exchange(func(f url.Values) { f.Set("code", code); tc.change(f) })
			if status != tc.wantStatus || body["error"] != tc.wantError || body["access_token"] != nil {
				t.Fatalf("got %d %v, want %d %s", status, body, tc.wantStatus, tc.wantError)
			}
			if tc.wantError == "invalid_grant" && tc.name != "unknown code" {
				// A failed exchange used the code up.
				if status, _ := si.exchange(func(f url.Values) { f.Set("code", code) }); status != http.StatusBadRequest {
					t.Fatalf("the code still works after a failed exchange: %d", status)
				}
			}
		})
	}
}

func TestAuthorizeRefusals(t *testing.T) {
	s, hs := mustSignInServer(t, Config{})
	cases := []struct {
		name      string
		change    func(q url.Values)
		wantError string // empty: shown on a page, never redirected
	}{
		{"unknown client", func(q url.Values) { q.Set("client_id", "adminclient") }, ""},
		{"unregistered redirect", func(q url.Values) { q.Set("redirect_uri", "http://evil.example/") }, ""},
		{"redirect with a path added", func(q url.Values) { q.Set("redirect_uri", testRedirect+"x") }, ""},
		{"redirect without its slash", func(q url.Values) { q.Set("redirect_uri", "http://localhost:7071") }, ""},
		{"no PKCE", func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }, "invalid_request"},
		{"plain PKCE", func(q url.Values) { q.Set("code_challenge_method", "plain") }, "invalid_request"},
		{"implicit flow", func(q url.Values) { q.Set("response_type", "token") }, "unsupported_response_type"},
		{"no openid scope", func(q url.Values) { q.Set("scope", "profile") }, "invalid_scope"},
		{"fragment response", func(q url.Values) { q.Set("response_mode", "fragment") }, "invalid_request"},
		{"silent sign-in", func(q url.Values) { q.Set("prompt", "none") }, "login_required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			si := newSignIn(t, s, hs)
			tc.change(si.params)
			for _, send := range []func() (*http.Response, string){si.page, func() (*http.Response, string) { return si.submit("adminuser", "adminuser") }} {
				resp, page := send()
				loc := resp.Header.Get("Location")
				if tc.wantError == "" {
					if resp.StatusCode != http.StatusBadRequest || loc != "" || strings.Contains(page, "<form") {
						t.Fatalf("got %d Location %q, want a 400 page", resp.StatusCode, loc)
					}
					continue
				}
				u, _ := url.Parse(loc)
				if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, testRedirect+"?") ||
					u.Query().Get("error") != tc.wantError || u.Query().Get("state") != si.params.Get("state") || u.Query().Get("code") != "" {
					t.Fatalf("got %d Location %q, want a redirect with error %s", resp.StatusCode, loc, tc.wantError)
				}
			}
		})
	}
}

func TestSignInOffWithoutRedirectURIs(t *testing.T) {
	s, hs := mustServer(t, Config{})
	resp, _ := newSignIn(t, s, hs).page()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("status %d, want 400 when no redirect URI is registered", resp.StatusCode)
	}
}

func TestSignInPageEscapes(t *testing.T) {
	s, hs := mustSignInServer(t, Config{})
	si := newSignIn(t, s, hs)
	si.params.Set("state", `"><script>alert(1)</script>`)
	_, page := si.page()
	if strings.Contains(page, "<script>") {
		t.Fatalf("the page carries the state unescaped:\n%s", page)
	}
	resp, _ := si.submit(`<b>x</b>`, "x")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

func TestCORS(t *testing.T) {
	_, hs := mustSignInServer(t, Config{})
	for _, tc := range []struct {
		method, path, origin, want string
	}{
		{"GET", "/.well-known/openid-configuration", "http://localhost:7071", "http://localhost:7071"},
		{"GET", "/jwks", "http://127.0.0.1:7071", "http://127.0.0.1:7071"},
		{"POST", "/oauth2/token", "http://localhost:7071", "http://localhost:7071"},
		{"GET", "/jwks", "http://evil.example", ""},
		{"OPTIONS", "/oauth2/token", "http://localhost:7071", "http://localhost:7071"},
		{"OPTIONS", "/oauth2/token", "http://localhost:7072", ""},
	} {
		req, err := http.NewRequest(tc.method, hs.URL+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", tc.origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tc.want {
			t.Fatalf("%s %s from %s: Access-Control-Allow-Origin %q, want %q", tc.method, tc.path, tc.origin, got, tc.want)
		}
	}
}

func TestLogout(t *testing.T) {
	_, hs := mustSignInServer(t, Config{})
	for _, tc := range []struct{ target, wantLocation string }{
		{testRedirect, testRedirect + "?state=s1"},
		{"http://evil.example/", ""},
		{"", ""},
	} {
		q := url.Values{"state": {"s1"}, "client_id": {DefaultUIClientID}}
		if tc.target != "" {
			q.Set("post_logout_redirect_uri", tc.target)
		}
		resp, err := noRedirects.Get(hs.URL + "/logout?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Location"); got != tc.wantLocation {
			t.Fatalf("logout to %q: Location %q, want %q", tc.target, got, tc.wantLocation)
		}
	}
}

func TestPersonID(t *testing.T) {
	a, b := PersonID("approver-key4"), PersonID("approver-key3")
	if a == b || a != PersonID("approver-key4") || len(a) != 36 || strings.Count(a, "-") != 4 {
		t.Fatalf("PersonID gives %q and %q", a, b)
	}
}

func TestDemoPeople(t *testing.T) {
	want := map[string]string{
		"adminuser": "admin", "approver-key1": "approver:key1", "approver-key2": "approver:key2",
		"approver-key3": "approver:key3", "approver-key4": "approver:key4", "approver2-key3": "approver:key3",
	}
	people := DemoPeople()
	if len(people) != len(want) {
		t.Fatalf("got %d demo people, want %d", len(people), len(want))
	}
	for _, p := range people {
		if want[p.Name] == "" || p.Password != p.Name || strings.Join(p.Roles, ",") != want[p.Name] {
			t.Fatalf("demo person %+v", p)
		}
	}
}
