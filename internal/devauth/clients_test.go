package devauth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDemoClients(t *testing.T) {
	want := map[string]string{
		"adminclient":        "admin",
		"orderer-client":     "orderer:*",
		"orderer-clientkey1": "orderer:key1",
		"orderer-clientkey2": "orderer:key2",
		"orderer-clientkey3": "orderer:key3",
		"orderer-clientkey4": "orderer:key4",
		"approver-key1":      "approver:key1",
		"approver-key2":      "approver:key2",
		"approver-key3":      "approver:key3",
		"approver-key4":      "approver:key4",
		"approver2-key3":     "approver:key3",
	}
	got := DemoClients()
	if len(got) != len(want) {
		t.Fatalf("got %d demo clients, want %d", len(got), len(want))
	}
	for _, c := range got {
		role, ok := want[c.Name]
		if !ok {
			t.Fatalf("unexpected demo client %q", c.Name)
		}
		if c.Secret != c.Name {
			t.Fatalf("%s: secret is not its name", c.Name)
		}
		if len(c.Roles) != 1 || c.Roles[0] != role {
			t.Fatalf("%s: roles %v, want [%s]", c.Name, c.Roles, role)
		}
	}
}

func TestLoadClients(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clients.json")
	mustWrite(t, path, `[
		{"name":"adminclient","secret":"s3cret"},
		{"name":"approver-key1","secret":"x","roles":["approver:key1","approver:key2"]},
		{"name":"pipeline","secret":"p","roles":["orderer:key1"]}
	]`)
	clients, err := LoadClients(path)
	if err != nil {
		t.Fatalf("LoadClients: %v", err)
	}
	byName := map[string]Client{}
	for _, c := range clients {
		byName[c.Name] = c
	}
	cases := []struct {
		name, secret, roles string
	}{
		{"adminclient", "s3cret", "admin"},
		{"approver-key1", "x", "approver:key1,approver:key2"},
		{"pipeline", "p", "orderer:key1"},
		{"orderer-client", "orderer-client", "orderer:*"},
	}
	for _, tc := range cases {
		c, ok := byName[tc.name]
		if !ok {
			t.Fatalf("client %s missing", tc.name)
		}
		if c.Secret != tc.secret || strings.Join(c.Roles, ",") != tc.roles {
			t.Fatalf("%s: secret %q roles %v, want %q %s", tc.name, c.Secret, c.Roles, tc.secret, tc.roles)
		}
	}
	if len(clients) != len(DemoClients())+1 {
		t.Fatalf("got %d clients, want %d", len(clients), len(DemoClients())+1)
	}

	cs, err := newClientSet(clients)
	if err != nil {
		t.Fatal(err)
	}
	if cs.authenticate("adminclient", "adminclient") || !cs.authenticate("adminclient", "s3cret") {
		t.Fatal("the overridden secret does not replace the demo secret")
	}
}

func TestLoadClientsErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct{ name, content, wantErr string }{
		{"not json", `{`, "parsing"},
		{"no secret", `[{"name":"a"}]`, "needs a name and a secret"},
		{"no name", `[{"secret":"a"}]`, "needs a name and a secret"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".json")
			mustWrite(t, path, tc.content)
			if _, err := LoadClients(path); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
	if _, err := LoadClients(filepath.Join(dir, "missing.json")); err == nil {
		t.Fatal("LoadClients accepted a missing file")
	}
}

func mustWrite(tb testing.TB, path, content string) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
}
