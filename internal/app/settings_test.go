package app_test

import (
	"encoding/json"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"keyserver/internal/app"
	"keyserver/internal/localstack"
)

// hostSettings are read by the Functions host itself, not by the handler;
// local.settings.json.example sets them for `func start` (which, without a
// Service Bus namespace, must not start the notify trigger).
var hostSettings = []string{"FUNCTIONS_WORKER_RUNTIME", "AzureWebJobsStorage", "AzureWebJobs.notify.Disabled"}

func declaredNames(keep func(app.Setting) bool) []string {
	var names []string
	for _, s := range app.Settings {
		if keep(s) {
			names = append(names, s.Name)
		}
	}
	slices.Sort(names)
	return names
}

func mustReadFile(tb testing.TB, path string) string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// validEnv is a minimal environment the handler accepts.
func validEnv() map[string]string {
	return map[string]string{
		"KEYSERVER_TABLES_CONNECTION_STRING": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;",
		"KEYSERVER_TRUSTED_ISSUERS":          `[{"issuer":"https://issuer.example","audience":"api://keyserver","subjectclaim":"sub"}]`,
	}
}

// TestSettingsDeclaration checks the declaration itself, and that
// ConfigFromEnv reads exactly the declared settings the SDK does not.
func TestSettingsDeclaration(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range app.Settings {
		if seen[s.Name] {
			t.Errorf("%s is declared twice", s.Name)
		}
		seen[s.Name] = true
		if strings.TrimSpace(s.Meaning) == "" {
			t.Errorf("%s has no meaning", s.Name)
		}
		if strings.Contains(s.Meaning, "|") {
			t.Errorf("%s: its meaning holds a |, which breaks the docs table", s.Name)
		}
		if s.Secret && (s.Azure == app.Infra || s.Default != "") {
			t.Errorf("%s is secret, so neither infra nor a default may set it", s.Name)
		}
	}
	read := map[string]bool{}
	env := validEnv()
	if _, err := app.ConfigFromEnv(func(k string) string { read[k] = true; return env[k] }); err != nil {
		t.Fatalf("ConfigFromEnv refuses the declared defaults: %v", err)
	}
	got := slices.Sorted(maps.Keys(read))
	want := declaredNames(func(s app.Setting) bool { return !s.SDK })
	if !slices.Equal(got, want) {
		t.Errorf("ConfigFromEnv reads %v, want the declared non-SDK settings %v", got, want)
	}
}

// TestSettingsDocsTable checks that docs/ARCHITECTURE.md shows exactly the declaration.
func TestSettingsDocsTable(t *testing.T) {
	doc := mustReadFile(t, "../../docs/ARCHITECTURE.md")
	_, section, ok := strings.Cut(doc, "## App settings read by the handler\n")
	if !ok {
		t.Fatal(`docs/ARCHITECTURE.md has no section "App settings read by the handler"`)
	}
	start := strings.Index(section, "\n|")
	if start < 0 {
		t.Fatal("the settings section has no table")
	}
	table := section[start+1:]
	if end := strings.Index(table, "\n\n"); end >= 0 {
		table = table[:end+1]
	}
	if want := app.DocsTable(); table != want {
		t.Errorf("the settings table in docs/ARCHITECTURE.md differs from app.Settings; it should read:\n%s\nit reads:\n%s", want, table)
	}
}

// TestLocalSettingsExample checks that local.settings.json.example sets
// exactly the declared settings and the host's own, that the handler accepts
// it, and that it matches what the local stack serves.
func TestLocalSettingsExample(t *testing.T) {
	var settings struct{ Values map[string]string }
	if err := json.Unmarshal([]byte(mustReadFile(t, "../../local.settings.json.example")), &settings); err != nil {
		t.Fatalf("local.settings.json.example: %v", err)
	}
	want := append(declaredNames(func(app.Setting) bool { return true }), hostSettings...)
	slices.Sort(want)
	if got := slices.Sorted(maps.Keys(settings.Values)); !slices.Equal(got, want) {
		t.Errorf("local.settings.json.example sets %v, want %v", got, want)
	}
	cfg, err := app.ConfigFromEnv(func(k string) string { return settings.Values[k] })
	if err != nil {
		t.Fatalf("the handler refuses the example settings: %v", err)
	}
	if len(cfg.Issuers) != 1 || cfg.Issuers[0].Audience != localstack.Audience {
		t.Errorf("trusted issuers %+v, want the dev auth server with audience %s", cfg.Issuers, localstack.Audience)
	}
	// The local stack makes IDENTITY_HEADER afresh at each start and writes
	// it to .local/devauth/identity-header; the example holds no fixed value.
	if got := settings.Values["IDENTITY_HEADER"]; got != "" {
		t.Errorf("IDENTITY_HEADER = %q, want it empty: the value comes from .local/%s at each start", got, localstack.IdentityHeaderFile)
	}
	if got := settings.Values["IDENTITY_ENDPOINT"]; got != "http://localhost:8300/msi/token" {
		t.Errorf("IDENTITY_ENDPOINT = %q, want the local stack's dev auth server on port 8300", got)
	}
	if cfg.UI.ClientID != localstack.UIClientID {
		t.Errorf("KEYSERVER_UI_CLIENT_ID = %q, want the local stack's %q", cfg.UI.ClientID, localstack.UIClientID)
	}
}

func TestLookupSetting(t *testing.T) {
	if _, ok := app.LookupSetting("KEYSERVER_NOT_DECLARED"); ok {
		t.Fatal("an undeclared name was found")
	}
	if s, ok := app.LookupSetting("KEYSERVER_TABLE_PREFIX"); !ok || s.Default != "ks" {
		t.Fatalf("LookupSetting(KEYSERVER_TABLE_PREFIX) = %+v, %v", s, ok)
	}
}
