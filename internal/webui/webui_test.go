package webui

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"off", Config{}, ""},
		{"entra", Config{Issuer: "https://login.microsoftonline.com/t/v2.0", ClientID: "c", Scope: "openid profile api://k/access_as_user"}, ""},
		{"loopback http", Config{Issuer: "http://localhost:8300", ClientID: "c", Scope: "openid"}, ""},
		{"remote http", Config{Issuer: "http://login.example", ClientID: "c", Scope: "openid"}, "https"},
		{"no client", Config{Issuer: "https://login.example", Scope: "openid"}, "client id"},
		{"no openid", Config{Issuer: "https://login.example", ClientID: "c", Scope: "profile"}, "openid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate() = %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

func mustUI(tb testing.TB) *UI {
	tb.Helper()
	u, err := New(Config{Issuer: "https://login.example:8443/tenant/v2.0", ClientID: "ui", Scope: "openid"})
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

func TestServeHeaders(t *testing.T) {
	u := mustUI(t)
	for _, p := range []string{"/", "/operations/abc", "/keys"} {
		rec := httptest.NewRecorder()
		if !u.Serve(rec, httptest.NewRequest("GET", p, nil)) {
			t.Fatalf("%s not served", p)
		}
		h := rec.Header()
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "connect-src 'self' https://login.example:8443;"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", p, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: CSP %q allows inline or eval", p, csp)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: headers %v", p, h)
		}
		if !strings.HasPrefix(h.Get("Content-Type"), "text/html") || !strings.Contains(rec.Body.String(), "<!doctype html>") {
			t.Errorf("%s: served %q as %s, want index.html", p, rec.Body.String(), h.Get("Content-Type"))
		}
	}
}

func TestServeAssetsAndMisses(t *testing.T) {
	u := mustUI(t)
	rec := httptest.NewRecorder()
	if !u.Serve(rec, httptest.NewRequest("GET", "/assets/app.js", nil)) || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/javascript") {
		t.Fatalf("app.js: %d %v", rec.Code, rec.Header())
	}
	etag := rec.Header().Get("ETag")
	rec = httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/assets/app.js", nil)
	req.Header.Set("If-None-Match", etag)
	if !u.Serve(rec, req) || rec.Code != http.StatusNotModified {
		t.Fatalf("revalidation: %d", rec.Code)
	}
	for _, p := range []string{"/assets/missing.js", "/assets/../../webui.go"} {
		if u.Serve(httptest.NewRecorder(), httptest.NewRequest("GET", p, nil)) {
			t.Errorf("%s was served", p)
		}
	}
}

// TestNoInlineScript keeps the built page within its own policy: scripts
// and styles only from files, no inline handlers.
func TestNoInlineScript(t *testing.T) {
	html := string(mustUI(t).files["/index.html"].body)
	for _, bad := range []string{"<script>", "<style", " on", "javascript:", "http://", "https://"} {
		if strings.Contains(strings.ToLower(html), bad) {
			t.Errorf("index.html contains %q", bad)
		}
	}
}
