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
			fns = append(fns, function{name: f.Name, route: "/api/" + b.Str("route"), methods: methods})
		}
	}
	return fns
}

// templateRegexp turns a Functions route template into a regexp over paths.
func templateRegexp(tmpl string) *regexp.Regexp {
	segs := strings.Split(strings.TrimPrefix(tmpl, "/"), "/")
	var b strings.Builder
	b.WriteString("^")
	for _, s := range segs {
		switch {
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

func TestRoutesMatchFunctions(t *testing.T) {
	fns := mustFunctions(t)
	routes := (&api.Server{}).Routes()
	used := map[string]bool{}
	for _, rt := range routes {
		path := samplePath(rt.Pattern)
		var owners []string
		for _, fn := range fns {
			if templateRegexp(fn.route).MatchString(path) && slices.Contains(fn.methods, strings.ToLower(rt.Method)) {
				owners = append(owners, fn.name)
				used[fn.name+" "+strings.ToLower(rt.Method)] = true
			}
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
		{"route prefix", host.Extensions.HTTP.RoutePrefix, "api"},
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
}
