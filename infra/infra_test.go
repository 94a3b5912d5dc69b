// Package infra_test checks infra/main.bicep, the function folders and
// infra/deploy.sh against the handler's documented app settings and the
// security rules of the deployment, without a Bicep CLI: main.bicep is parsed
// into its declarations (bicep_test.go) and checked for structure.
package infra_test

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"keyserver/internal/app"
	"keyserver/internal/servicebus"
)

// platformSettings are set in Azure for the Functions host, not the handler.
var platformSettings = []string{
	"AzureWebJobsStorage__accountName",
	"APPLICATIONINSIGHTS_CONNECTION_STRING",
	"APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
}

// flexRejectedSettings are Functions host settings never set in Azure:
// rejected by the Flex Consumption plan, or replaced by identity-based ones.
// The handler's own settings are checked against app.Settings.
var flexRejectedSettings = []string{
	"AzureWebJobsStorage",
	"FUNCTIONS_WORKER_RUNTIME",
	"FUNCTIONS_EXTENSION_VERSION",
	"WEBSITE_RUN_FROM_PACKAGE",
	"WEBSITE_CONTENTSHARE",
	"WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
	"WEBSITE_NODE_DEFAULT_VERSION",
}

// flexRejectedSiteConfig are siteConfig properties a Flex Consumption site
// rejects (ftpsState fails with ARM error 51021) or that belong to other
// plans: the runtime and scale live in functionAppConfig there.
var flexRejectedSiteConfig = []string{
	"ftpsState", "linuxFxVersion", "windowsFxVersion", "alwaysOn", "use32BitWorkerProcess",
	"netFrameworkVersion", "javaVersion", "nodeVersion", "pythonVersion", "powerShellVersion",
	"functionAppScaleLimit", "minimumElasticInstanceCount", "preWarmedInstanceCount",
}

// forbiddenText must not appear in the Bicep (case-insensitive): secrets,
// key listing, and the dev auth server.
var forbiddenText = []string{"AccountKey=", "SharedAccessKey", "SharedAccessSignature", "listKeys(", "listConnectionStrings(", "devauth"}

// requiredText are the security properties the deployment depends on.
var requiredText = []string{
	"allowSharedKeyAccess: false",
	"allowBlobPublicAccess: false",
	"minimumTlsVersion: 'TLS1_2'",
	"disableLocalAuth: true",
	"DisableLocalAuth: true",
	"httpsOnly: true",
	"minTlsVersion: '1.2'",
	"type: 'SystemAssigned'",
	"enableRbacAuthorization: true",
	"enablePurgeProtection: true",
	"enableSoftDelete: true",
	"requiresDuplicateDetection: true",
	"deadLetteringOnMessageExpiration: true",
	"name: 'custom'", // custom handler runtime
	"value: 'Authorization=AAD'",
}

var requiredOutputs = []string{"functionAppName", "functionAppHostName", "functionAppPrincipalId", "keyVaultUri", "storageAccountName"}

func mustRead(tb testing.TB, path string) string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("reading %s: %v", path, err)
	}
	return string(b)
}

// code returns the Bicep with comments and decorator lines removed, keeping
// string literals (which hold interpolations).
func code(bicep string) string {
	var out strings.Builder
	depth := 0 // open brackets of a multi-line decorator
	for _, line := range strings.Split(bicep, "\n") {
		if depth > 0 || strings.HasPrefix(strings.TrimSpace(line), "@") {
			depth += strings.Count(line, "(") + strings.Count(line, "[") -
				strings.Count(line, ")") - strings.Count(line, "]")
			continue
		}
		inString := false
		for i := 0; i < len(line); i++ {
			c := line[i]
			switch {
			case inString && c == '\\':
				out.WriteByte(c)
				i++
				if i < len(line) {
					out.WriteByte(line[i])
				}
				continue
			case c == '\'':
				inString = !inString
			case !inString && strings.HasPrefix(line[i:], "//"):
				i = len(line)
				continue
			}
			out.WriteByte(c)
		}
		out.WriteByte('\n')
	}
	return out.String()
}

var (
	isoDuration = regexp.MustCompile(`^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$`)
)

// problems collects what is wrong with a template.
type problems []string

func (p *problems) add(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

// bicepProblems returns every inconsistency between bicep, the handler's
// settings (app.Settings) and the function folders; an empty result means
// the template passes.
func bicepProblems(bicep string, declared []app.Setting, fns []functionFolder) []string {
	handler := map[string]app.Setting{}
	for _, s := range declared {
		handler[s.Name] = s
	}
	var p problems
	src := code(bicep)
	problemsOf := balanceProblems(src)
	if len(problemsOf) > 0 {
		return problemsOf
	}
	t, err := parseTemplate(bicep)
	if err != nil {
		return []string{"parsing main.bicep: " + err.Error()}
	}
	settings, err := t.appSettings()
	if err != nil {
		return []string{err.Error()}
	}
	settingProblems(&p, settings, handler)
	textProblems(&p, bicep, src)
	siteConfigProblems(&p, t)
	declarationProblems(&p, t, src)
	roleProblems(&p, t)
	functionProblems(&p, t, settings, handler, fns)
	monitoringProblems(&p, t)
	networkProblems(&p, t)
	return p
}

// settingProblems checks every app setting in both directions: what the
// template sets is a setting app.Settings says infra sets (or one the host
// reads), and every setting infra sets is set.
func settingProblems(p *problems, settings map[string]string, handler map[string]app.Setting) {
	for name := range settings {
		s, read := handler[name]
		switch {
		case slices.Contains(flexRejectedSettings, name):
			p.add("app setting %s must not be set in Azure", name)
		case !read && !slices.Contains(platformSettings, name):
			p.add("app setting %s is not a setting the handler reads (app.Settings)", name)
		case !read:
		case s.Azure == app.LocalOnly:
			p.add("app setting %s must not be set in Azure: it is local only", name)
		case s.Secret:
			p.add("app setting %s must not be set in Azure: it holds a secret", name)
		case s.Azure != app.Infra:
			p.add("app setting %s is not one infra sets (app.Settings says %v); declare it so or drop it", name, s.Azure)
		}
	}
	for name, s := range handler {
		if _, set := settings[name]; !set && s.Azure == app.Infra {
			p.add("app setting %s is missing", name)
		}
	}
	for _, name := range platformSettings {
		if _, ok := settings[name]; !ok {
			p.add("app setting %s is missing", name)
		}
	}
}

func textProblems(p *problems, bicep, src string) {
	lower := strings.ToLower(bicep)
	for _, s := range forbiddenText {
		if strings.Contains(lower, strings.ToLower(s)) {
			p.add("forbidden text %q", s)
		}
	}
	for _, s := range requiredText {
		if !strings.Contains(src, s) {
			p.add("required property %q is missing", s)
		}
	}
	for _, prop := range []string{"duplicateDetectionHistoryTimeWindow", "defaultMessageTimeToLive"} {
		ms := regexp.MustCompile(prop+`:\s*'([^']+)'`).FindAllStringSubmatch(src, -1)
		if ms == nil {
			p.add("service bus property %s is missing", prop)
		}
		for _, m := range ms {
			if d, ok := parseISODuration(m[1]); !ok || d < servicebus.TimeToLive {
				p.add("service bus %s %s is shorter than the message TTL %v", prop, m[1], servicebus.TimeToLive)
			}
		}
	}
}

// siteConfigProblems forbids the siteConfig keys Flex Consumption rejects.
func siteConfigProblems(p *problems, t *template) {
	app := t.find("resource", "functionApp")
	sc, ok := app.object().get("properties", "siteConfig").(*object)
	if !ok {
		p.add("functionApp has no properties.siteConfig")
		return
	}
	for _, k := range sc.keys {
		if slices.Contains(flexRejectedSiteConfig, k) {
			p.add("siteConfig.%s is rejected by Flex Consumption", k)
		}
	}
	if app.object().get("properties", "functionAppConfig", "runtime") == nil {
		p.add("functionApp has no functionAppConfig.runtime")
	}
}

func declarationProblems(p *problems, t *template, src string) {
	for _, d := range t.decls {
		if d.kind != "param" {
			continue
		}
		uses := regexp.MustCompile(`\b`+d.name+`\b`).FindAllStringIndex(src, -1)
		if len(uses) < 2 { // the declaration itself is one
			p.add("param %s is never used", d.name)
		}
	}
	for _, o := range requiredOutputs {
		if t.find("output", o) == nil {
			p.add("output %s is missing", o)
		}
	}
}

// parseISODuration parses the PnDTnHnMnS subset of ISO 8601 durations.
func parseISODuration(s string) (time.Duration, bool) {
	m := isoDuration.FindStringSubmatch(s)
	if m == nil || s == "P" || s == "PT" {
		return 0, false
	}
	var d time.Duration
	for i, unit := range []time.Duration{24 * time.Hour, time.Hour, time.Minute, time.Second} {
		if m[i+1] != "" {
			n, _ := strconv.Atoi(m[i+1])
			d += time.Duration(n) * unit
		}
	}
	return d, true
}

// balanceProblems reports unbalanced brackets outside strings, which a
// stray edit leaves behind.
func balanceProblems(src string) []string {
	pairs := map[byte]byte{'}': '{', ']': '[', ')': '('}
	var stack []byte
	inString := false
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case inString && c == '\\':
			i++
		case c == '\'':
			inString = !inString
		case inString:
		case c == '{' || c == '[' || c == '(':
			stack = append(stack, c)
		case pairs[c] != 0:
			if len(stack) == 0 || stack[len(stack)-1] != pairs[c] {
				return []string{fmt.Sprintf("unbalanced %q at offset %d", c, i)}
			}
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) > 0 || inString {
		return []string{fmt.Sprintf("unclosed %q (string open: %v)", stack, inString)}
	}
	return nil
}

func TestMainBicep(t *testing.T) {
	for _, p := range bicepProblems(mustRead(t, "main.bicep"), app.Settings, mustFunctionFolders(t)) {
		t.Errorf("main.bicep: %s", p)
	}
}

func TestParseISODuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"P1D", 24 * time.Hour, true},
		{"PT10M", 10 * time.Minute, true},
		{"P1DT2H", 26 * time.Hour, true},
		{"PT30S", 30 * time.Second, true},
		{"P", 0, false},
		{"1D", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseISODuration(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Fatalf("parseISODuration(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
