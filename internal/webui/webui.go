// Package webui serves the approval web UI: a static single-page app built
// from ui/ and embedded in the handler binary, with a strict
// Content-Security-Policy. The app signs people in with OIDC (authorization
// code and PKCE) and calls the public API with their access token.
package webui

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
)

//go:embed dist
var dist embed.FS

// Config tells the browser where people sign in.
type Config struct {
	// Issuer is the OIDC issuer people sign in with (Entra ID's
	// https://login.microsoftonline.com/<tenant>/v2.0, or the dev auth server).
	Issuer string
	// ClientID is the UI's public client registration at the issuer.
	ClientID string
	// Scope is what the UI asks for: openid, and the API's delegated scope.
	Scope string
}

// Enabled reports whether sign-in is configured.
func (c Config) Enabled() bool { return c.Issuer != "" && c.ClientID != "" }

// Validate checks the configuration: both or neither of issuer and client id,
// and an https issuer (http only on loopback).
func (c Config) Validate() error {
	if c.Issuer == "" && c.ClientID == "" {
		return nil
	}
	if c.Issuer == "" || c.ClientID == "" {
		return fmt.Errorf("the web UI needs both an issuer and a client id")
	}
	u, err := url.Parse(c.Issuer)
	if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname()))) {
		return fmt.Errorf("the web UI's issuer %q must be an https URL (http only on loopback)", c.Issuer)
	}
	if !strings.Contains(" "+c.Scope+" ", " openid ") {
		return fmt.Errorf("the web UI's scope %q must include openid", c.Scope)
	}
	return nil
}

func isLoopback(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// UI serves the app's files.
type UI struct {
	cfg   Config
	csp   string
	files map[string]file
}

type file struct {
	body        []byte
	contentType string
	etag        string
}

// New loads the embedded app.
func New(cfg Config) (*UI, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	u := &UI{cfg: cfg, csp: contentSecurityPolicy(cfg.Issuer), files: map[string]file{}}
	err := fs.WalkDir(dist, "dist", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := dist.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = "application/octet-stream"
		}
		u.files[strings.TrimPrefix(p, "dist")] = file{body: b, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading the embedded web UI: %w", err)
	}
	if _, ok := u.files["/index.html"]; !ok {
		return nil, fmt.Errorf("the embedded web UI has no index.html; run make ui")
	}
	return u, nil
}

// Config returns the sign-in configuration the browser reads.
func (u *UI) Config() Config { return u.cfg }

// contentSecurityPolicy allows scripts, styles and connections from the app's
// own origin only, plus connections to the issuer for sign-in.
func contentSecurityPolicy(issuer string) string {
	connect := "'self'"
	if o, err := url.Parse(issuer); err == nil && o.Host != "" {
		connect += " " + o.Scheme + "://" + o.Host
	}
	return strings.Join([]string{
		"default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
		"connect-src " + connect, "object-src 'none'", "base-uri 'none'", "form-action 'self'",
		"frame-ancestors 'none'",
	}, "; ")
}

// SetSecurityHeaders sets the headers every UI response carries.
func (u *UI) SetSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", u.csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

// Serve serves /assets/* from the build and index.html for every other
// path, where the app routes itself. It reports false for a missing asset.
func (u *UI) Serve(w http.ResponseWriter, r *http.Request) bool {
	name := "/index.html"
	if strings.HasPrefix(r.URL.Path, "/assets/") {
		name = path.Clean(r.URL.Path)
	}
	f, ok := u.files[name]
	if !ok {
		return false
	}
	u.SetSecurityHeaders(w.Header())
	w.Header().Set("Content-Type", f.contentType)
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("ETag", f.etag)
	if r.Header.Get("If-None-Match") == f.etag {
		w.WriteHeader(http.StatusNotModified)
		return true
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(f.body)
	}
	return true
}
