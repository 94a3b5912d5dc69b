package main

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"keyserver/functions"
	"keyserver/internal/api"
	"keyserver/internal/triggers"
)

type function struct {
	name    string
	route   string
	methods []string
}

// mustFunctions returns the HTTP functions.
func mustFunctions(tb testing.TB) []function {
	tb.Helper()
	all, err := functions.All()
	if err != nil || len(all) == 0 {
		tb.Fatalf("no function.json files found: %v", err)
	}
	var fns []function
	for _, f := range all {
		if b := f.Trigger(); b.Str("type") == "httpTrigger" {
			var methods []string
			for _, m := range b["methods"].([]any) {
				methods = append(methods, m.(string))
			}
			fns = append(fns, function{name: f.Name, route: "/" + b.Str("route"), methods: methods})
		}
	}
	return fns
}

// catchAll reports whether a route template ends in a catch-all parameter,
// which the Functions host matches only when no other route does.
func catchAll(tmpl string) bool { return strings.Contains(tmpl, "{*") }

// templateRegexp turns a Functions route template into a regexp over paths.
func templateRegexp(tmpl string) *regexp.Regexp {
	segs := strings.Split(strings.TrimPrefix(tmpl, "/"), "/")
	var b strings.Builder
	b.WriteString("^")
	for _, s := range segs {
		switch {
		case strings.HasPrefix(s, "{*"):
			b.WriteString("(/.*)?")
		case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "?}"):
			b.WriteString("(/[^/]+)?")
		case strings.HasPrefix(s, "{") && strings.Contains(s, ":alpha}"):
			b.WriteString("/[A-Za-z]+")
		case strings.HasPrefix(s, "{"):
			b.WriteString("/[^/]+")
		default:
			b.WriteString("/" + regexp.QuoteMeta(s))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// samplePath fills a Go ServeMux pattern's wildcards with sample values.
func samplePath(pattern string) string {
	return regexp.MustCompile(`\{[^}]+\}`).ReplaceAllString(pattern, "x0")
}

// owningFunctions returns the functions the host sends method and path to:
// those whose template matches, catch-all templates only when no other does.
func owningFunctions(fns []function, method, path string) []string {
	var exact, catch []string
	for _, fn := range fns {
		if !templateRegexp(fn.route).MatchString(path) || !slices.Contains(fn.methods, strings.ToLower(method)) {
			continue
		}
		if catchAll(fn.route) {
			catch = append(catch, fn.name)
		} else {
			exact = append(exact, fn.name)
		}
	}
	if len(exact) > 0 {
		return exact
	}
	return catch
}

// TestUIOwnsOnlyUIPaths checks that the web UI's catch-all function gets the
// pages and assets, and never an API route.
func TestUIOwnsOnlyUIPaths(t *testing.T) {
	fns := mustFunctions(t)
	for _, p := range []string{"/", "/operations/x0", "/assets/app.js"} {
		if got := owningFunctions(fns, "GET", p); !slices.Equal(got, []string{"ui"}) {
			t.Errorf("GET %s goes to %v, want [ui]", p, got)
		}
	}
	for _, rt := range (&api.Server{}).Routes() {
		if !strings.HasPrefix(rt.Pattern, "/api/") {
			continue
		}
		if got := owningFunctions(fns, rt.Method, samplePath(rt.Pattern)); slices.Contains(got, "ui") {
			t.Errorf("%s %s goes to the UI function", rt.Method, rt.Pattern)
		}
	}
	for _, fn := range fns {
		if r := strings.TrimPrefix(fn.route, "/"); strings.HasPrefix(r, "admin") || strings.HasPrefix(r, "runtime") {
			t.Errorf("function %s: route %s collides with the Functions host's own routes", fn.name, fn.route)
		}
	}
}

func TestRoutesMatchFunctions(t *testing.T) {
	fns := mustFunctions(t)
	routes := (&api.Server{}).Routes()
	used := map[string]bool{}
	for _, rt := range routes {
		path := samplePath(rt.Pattern)
		owners := owningFunctions(fns, rt.Method, path)
		for _, o := range owners {
			used[o+" "+strings.ToLower(rt.Method)] = true
		}
		if len(owners) != 1 {
			t.Errorf("%s %s is served by %d functions %v; want exactly 1", rt.Method, rt.Pattern, len(owners), owners)
		}
	}
	for _, fn := range fns {
		for _, m := range fn.methods {
			if !used[fn.name+" "+m] {
				t.Errorf("function %s accepts %s %s but the handler has no such route", fn.name, strings.ToUpper(m), fn.route)
			}
		}
	}
}

func TestHostJSON(t *testing.T) {
	b, err := os.ReadFile("../host.json")
	if err != nil {
		t.Fatal(err)
	}
	var host struct {
		ExtensionBundle struct{ ID, Version string }
		CustomHandler   struct {
			Description struct {
				DefaultExecutablePath string
			}
			EnableForwardingHTTPRequest *bool `json:"enableForwardingHttpRequest"`
			EnableProxyingHTTPRequest   bool  `json:"enableProxyingHttpRequest"`
		}
		Extensions struct {
			HTTP struct {
				RoutePrefix string
			}
		}
	}
	if err := json.Unmarshal(b, &host); err != nil {
		t.Fatal(err)
	}
	checks := []struct{ name, got, want string }{
		{"extension bundle", host.ExtensionBundle.Version, "[4.*, 5.0.0)"},
		{"executable", host.CustomHandler.Description.DefaultExecutablePath, "handler"},
		// Empty, so that the web UI is served at /; the API functions' routes start with api/.
		{"route prefix", host.Extensions.HTTP.RoutePrefix, ""},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	// Proxying streams the request as it is; forwarding is the legacy option
	// that rebuilds it. Non-HTTP triggers use the invocation protocol either way.
	if !host.CustomHandler.EnableProxyingHTTPRequest {
		t.Error("enableProxyingHttpRequest must be true")
	}
	if host.CustomHandler.EnableForwardingHTTPRequest != nil {
		t.Error("enableForwardingHttpRequest is the legacy option; use enableProxyingHttpRequest alone")
	}
}

// TestTriggersMatchFunctions: every function without an HTTP trigger is served
// at POST /<name> over the invocation protocol, and every such route has its
// function folder.
func TestTriggersMatchFunctions(t *testing.T) {
	all, err := functions.All()
	if err != nil {
		t.Fatal(err)
	}
	var folders []string
	for _, f := range all {
		if f.Trigger() == nil {
			t.Errorf("function %s has no trigger", f.Name)
			continue
		}
		if f.Trigger().Str("type") != "httpTrigger" {
			folders = append(folders, "/"+f.Name)
		}
	}
	routes := triggers.Routes()
	slices.Sort(folders)
	slices.Sort(routes)
	if !slices.Equal(folders, routes) {
		t.Fatalf("non-HTTP function folders %v, trigger routes %v", folders, routes)
	}
	// Only the Functions host may invoke a trigger: no HTTP function may
	// proxy a POST from the internet to an invocation path.
	for _, fn := range mustFunctions(t) {
		for _, r := range routes {
			if slices.Contains(fn.methods, "post") && templateRegexp(fn.route).MatchString(r) {
				t.Errorf("HTTP function %s (%s) lets the internet POST %s, the %s function's invocation path", fn.name, fn.route, r, r[1:])
			}
		}
	}
}
