// Package infra_test checks infra/main.bicep and infra/deploy.sh against the
// handler's declared app settings (app.Settings) and the security rules of the deployment,
// without a Bicep CLI.
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

// roleNames are the built-in roles main.bicep may assign, by definition id.
var roleNames = map[string]string{
	"b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
	"0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
	"12338af0-0e69-4776-bea7-57ae8d297424": "Key Vault Crypto User",
	"69a216fc-b8fb-44d8-bc22-1f3c2cd27a39": "Azure Service Bus Data Sender",
	"3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
}

// hostForbidden are Functions host settings never set in Azure: rejected by
// the Flex Consumption plan, or replaced by identity-based ones. The handler's
// own settings are checked against app.Settings.
var hostForbidden = []string{
	"AzureWebJobsStorage",
	"FUNCTIONS_WORKER_RUNTIME",
	"FUNCTIONS_EXTENSION_VERSION",
	"WEBSITE_RUN_FROM_PACKAGE",
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
	"ftpsState: 'Disabled'",
	"type: 'SystemAssigned'",
	"enableRbacAuthorization: true",
	"enablePurgeProtection: true",
	"enableSoftDelete: true",
	"requiresDuplicateDetection: true",
	"name: 'custom'", // custom handler runtime
	"name: 'AzureWebJobsStorage__accountName'",
	"value: 'Authorization=AAD'",
}

var requiredOutputs = []string{"functionAppName", "functionAppHostName", "keyVaultUri", "storageAccountName"}

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
	appSettingName = regexp.MustCompile(`name:\s*'([A-Za-z0-9_]+)'\s*\n\s*value:`)
	keyserverName  = regexp.MustCompile(`KEYSERVER_[A-Z0-9_]+`)
	guidPattern    = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)
	paramDecl      = regexp.MustCompile(`(?m)^param\s+(\w+)\s`)
	outputDecl     = regexp.MustCompile(`(?m)^output\s+(\w+)\s`)
	queueName      = regexp.MustCompile(`approvalsQueueName\s*=\s*'([^']+)'`)
	isoDuration    = regexp.MustCompile(`^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$`)
)

// bicepProblems returns every inconsistency between bicep and the handler's
// settings (app.Settings); an empty result means the template passes.
func bicepProblems(bicep string, settings []app.Setting) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	src := code(bicep)

	set := map[string]bool{}
	for _, m := range appSettingName.FindAllStringSubmatch(src, -1) {
		set[m[1]] = true
	}
	declared := map[string]app.Setting{}
	for _, s := range settings {
		declared[s.Name] = s
	}
	for _, name := range keyserverName.FindAllString(bicep, -1) {
		if _, ok := declared[name]; !ok {
			add("%s is not a setting the handler reads (app.Settings)", name)
		}
	}
	for _, s := range settings {
		switch {
		case s.Azure == app.Infra && !set[s.Name]:
			add("app setting %s is missing", s.Name)
		case s.Azure == app.LocalOnly && set[s.Name]:
			add("app setting %s must not be set in Azure: it is local only", s.Name)
		case s.Secret && set[s.Name]:
			add("app setting %s must not be set in Azure: it holds a secret", s.Name)
		case s.Azure != app.Infra && set[s.Name]:
			add("app setting %s is not one infra sets (app.Settings says %v); declare it so or drop it", s.Name, s.Azure)
		}
	}
	for _, name := range hostForbidden {
		if set[name] {
			add("app setting %s must not be set in Azure", name)
		}
	}

	lower := strings.ToLower(bicep)
	for _, s := range forbiddenText {
		if strings.Contains(lower, strings.ToLower(s)) {
			add("forbidden text %q", s)
		}
	}
	for _, s := range requiredText {
		if !strings.Contains(src, s) {
			add("required property %q is missing", s)
		}
	}

	used := map[string]bool{}
	for _, line := range strings.Split(bicep, "\n") {
		for _, id := range guidPattern.FindAllString(line, -1) {
			name, ok := roleNames[strings.ToLower(id)]
			switch {
			case !ok:
				add("unexpected role definition id %s", id)
			case !strings.Contains(line, "// "+name):
				add("role definition id %s is not commented with its name %q", id, name)
			}
			used[strings.ToLower(id)] = true
		}
	}
	for id, name := range roleNames {
		if !used[id] {
			add("role %s (%s) is not assigned", name, id)
		}
	}

	for _, m := range paramDecl.FindAllStringSubmatch(src, -1) {
		uses := regexp.MustCompile(`\b`+m[1]+`\b`).FindAllStringIndex(src, -1)
		if len(uses) < 2 { // the declaration itself is one
			add("param %s is never used", m[1])
		}
	}
	var outputs []string
	for _, m := range outputDecl.FindAllStringSubmatch(src, -1) {
		outputs = append(outputs, m[1])
	}
	for _, o := range requiredOutputs {
		if !slices.Contains(outputs, o) {
			add("output %s is missing", o)
		}
	}

	queue := declared["KEYSERVER_SERVICEBUS_QUEUE"].Default
	if m := queueName.FindStringSubmatch(src); m == nil || m[1] != queue {
		add("queue name %v differs from the handler's default %q", m, queue)
	}
	for _, prop := range []string{"duplicateDetectionHistoryTimeWindow", "defaultMessageTimeToLive"} {
		m := regexp.MustCompile(prop + `:\s*'([^']+)'`).FindStringSubmatch(src)
		if m == nil {
			add("queue property %s is missing", prop)
			continue
		}
		if d, ok := parseISODuration(m[1]); !ok || d < servicebus.TimeToLive {
			add("queue %s %s is shorter than the message TTL %v", prop, m[1], servicebus.TimeToLive)
		}
	}

	problems = append(problems, balanceProblems(src)...)
	return problems
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
	for _, p := range bicepProblems(mustRead(t, "main.bicep"), app.Settings) {
		t.Errorf("main.bicep: %s", p)
	}
}

// TestChecksCatchBreakage breaks main.bicep in one way per case and expects
// the checks to say so, so that TestMainBicep can fail.
func TestChecksCatchBreakage(t *testing.T) {
	bicep := mustRead(t, "main.bicep")
	tests := []struct {
		name, old, new, want string
	}{
		{"unknown setting", "'KEYSERVER_SIGN_TIMEOUT'", "'KEYSERVER_SIGNING_TIMEOUT'", "not a setting the handler reads"},
		{"missing setting", "name: 'KEYSERVER_TABLE_PREFIX'", "name: 'X_TABLE_PREFIX'", "KEYSERVER_TABLE_PREFIX is missing"},
		{"ca file", "name: 'KEYSERVER_SIGN_TIMEOUT'", "name: 'KEYSERVER_KEYVAULT_CA_FILE'", "local only"},
		{"connection string", "name: 'KEYSERVER_SIGN_TIMEOUT'", "name: 'KEYSERVER_TABLES_CONNECTION_STRING'", "KEYSERVER_TABLES_CONNECTION_STRING must not be set"},
		{"optional setting", "name: 'KEYSERVER_SIGN_TIMEOUT'", "name: 'KEYSERVER_MAX_VALIDITY'", "not one infra sets"},
		{"host storage", "name: 'AzureWebJobsStorage__accountName'", "name: 'AzureWebJobsStorage'", "AzureWebJobsStorage must not be set"},
		{"account key", "value: storage.name", "value: 'AccountKey=${storage.name}'", "AccountKey="},
		{"list keys", "value: storage.name", "value: storage.listKeys().keys[0].value", "listKeys("},
		{"dev auth", "param location string", "param devAuthUrl string\nparam location string", "devauth"},
		{"shared key", "allowSharedKeyAccess: false", "allowSharedKeyAccess: true", "allowSharedKeyAccess: false"},
		{"wrong role", "b7e6dc6d-f1e8-4753-8033-0f276bb0955b", "ba92f5b4-2d11-453d-a403-e96b0029c9fe", "unexpected role"},
		{"unused param", "param location string", "param unusedThing string\nparam location string", "unusedThing is never used"},
		{"unused named in comment", "param location string", "// extraParam\n@description('extraParam')\nparam extraParam string\nparam location string", "extraParam is never used"},
		{"short dedup window", "duplicateDetectionHistoryTimeWindow: 'P1D'", "duplicateDetectionHistoryTimeWindow: 'PT10M'", "shorter than"},
		{"queue name", "approvalsQueueName = 'approvals'", "approvalsQueueName = 'notes'", "queue name"},
		{"missing output", "output keyVaultUri string", "output vaultUri string", "output keyVaultUri is missing"},
		{"unbalanced", "  properties: {\n    allowSharedKeyAccess", "  properties: \n    allowSharedKeyAccess", "unbalanced"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(bicep, tt.old) {
				t.Fatalf("main.bicep no longer contains %q; update this case", tt.old)
			}
			broken := strings.Replace(bicep, tt.old, tt.new, 1)
			problems := bicepProblems(broken, app.Settings)
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tt.want) }) {
				t.Fatalf("no problem mentions %q; got %q", tt.want, problems)
			}
		})
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

func TestDeployScript(t *testing.T) {
	script := mustRead(t, "deploy.sh")
	for _, want := range []string{
		"set -euo pipefail",
		"az deployment group create",
		"main.bicep",
		"func azure functionapp publish",
		"--custom",
		"az functionapp deployment source config-zip",
		".funcapp",
		"RESOURCE_GROUP is not set",
		"az login",
	} {
		if !strings.Contains(script, want) {
			t.Errorf("deploy.sh does not contain %q", want)
		}
	}
	for _, bad := range []string{"devauth", "KEYSERVER_KEYVAULT_CA_FILE", "AccountKey="} {
		if strings.Contains(strings.ToLower(script), strings.ToLower(bad)) {
			t.Errorf("deploy.sh contains %q", bad)
		}
	}
	// Every parameter the script passes is one main.bicep declares.
	declared := map[string]bool{}
	for _, m := range paramDecl.FindAllStringSubmatch(mustRead(t, "main.bicep"), -1) {
		declared[m[1]] = true
	}
	passed := regexp.MustCompile(`(?m)^\s+(\w+): \{value: \$\w+\}`).FindAllStringSubmatch(script, -1)
	if len(passed) == 0 {
		t.Fatalf("deploy.sh passes no parameters")
	}
	for _, m := range passed {
		if !declared[m[1]] {
			t.Errorf("deploy.sh passes %s, which main.bicep does not declare", m[1])
		}
	}
	if len(passed) != len(declared) {
		t.Errorf("deploy.sh passes %d parameters, main.bicep declares %d", len(passed), len(declared))
	}
}
