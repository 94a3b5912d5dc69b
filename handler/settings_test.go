package main

import (
	"encoding/json"
	"os"
	"regexp"
	"testing"

	"keyserver/internal/app"
	"keyserver/internal/localstack"
)

// TestLocalSettingsExample checks that local.settings.json.example lists every
// app setting docs/ARCHITECTURE.md says the handler reads, that the handler
// accepts it, and that it matches what the local stack serves.
func TestLocalSettingsExample(t *testing.T) {
	b, err := os.ReadFile("../local.settings.json.example")
	if err != nil {
		t.Fatal(err)
	}
	var settings struct{ Values map[string]string }
	if err := json.Unmarshal(b, &settings); err != nil {
		t.Fatalf("local.settings.json.example: %v", err)
	}
	doc, err := os.ReadFile("../docs/ARCHITECTURE.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := regexp.MustCompile("(?m)^\\| `([A-Za-z_]+)`").FindAllStringSubmatch(string(doc), -1)
	if len(documented) < 10 {
		t.Fatalf("found %d settings in docs/ARCHITECTURE.md; the table moved?", len(documented))
	}
	for _, m := range documented {
		if _, ok := settings.Values[m[1]]; !ok {
			t.Errorf("local.settings.json.example lacks %s", m[1])
		}
	}
	cfg, err := app.ConfigFromEnv(func(k string) string { return settings.Values[k] })
	if err != nil {
		t.Fatalf("the handler refuses the example settings: %v", err)
	}
	if len(cfg.Issuers) != 1 || cfg.Issuers[0].Audience != localstack.Audience {
		t.Errorf("trusted issuers %+v, want the dev auth server with audience %s", cfg.Issuers, localstack.Audience)
	}
	if got := settings.Values["IDENTITY_HEADER"]; got != localstack.IdentityHeader {
		t.Errorf("IDENTITY_HEADER = %q, want the local stack's %q", got, localstack.IdentityHeader)
	}
}
