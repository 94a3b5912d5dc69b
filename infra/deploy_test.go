package infra_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// fakeAz stands in for the Azure CLI: it logs every call and answers the few
// the script makes. FAKE_SALT is the resource group's salt tag,
// FAKE_PRIOR=1 says an earlier deployment exists.
const fakeAz = `#!/usr/bin/env bash
echo "az $*" >>"$FAKE_LOG"
case "$*" in
"account show"*) exit 0 ;;
"group show"*"--query location"*) echo westeurope ;;
"group show"*"--query tags."*) echo "${FAKE_SALT:-}" ;;
"group show"*) exit 0 ;;
"group update"*) exit 0 ;;
"deployment group show"*) [[ "${FAKE_PRIOR:-0}" == 1 ]] || exit 3 ;;
"deployment group create"*)
  for a in "$@"; do [[ "$a" == @* ]] && cp "${a#@}" "$FAKE_DIR/params.json"; done
  echo '{"functionAppName":{"value":"ks-func-x"},"functionAppHostName":{"value":"ks-func-x.azurewebsites.net"},"functionAppPrincipalId":{"value":"p"},"keyVaultUri":{"value":"https://v/"},"logAnalyticsWorkspaceId":{"value":"w"}}' ;;
*) echo "fake az: unexpected call: $*" >&2; exit 9 ;;
esac
`

// fakeFunc fails FAKE_FUNC_FAILURES times, as a publish does while role
// assignments propagate, then succeeds.
const fakeFunc = `#!/usr/bin/env bash
n=$(cat "$FAKE_DIR/func-calls" 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" >"$FAKE_DIR/func-calls"
echo "func $*" >>"$FAKE_LOG"
[[ "$n" -gt "${FAKE_FUNC_FAILURES:-0}" ]] || { echo "403 Forbidden" >&2; exit 1; }
`

type deployRun struct {
	code           int
	stderr, calls  string
	params         map[string]any
	publishes, dir string
}

// runDeploy runs a copy of deploy.sh next to a built .funcapp, with fake az
// and func first on PATH.
func runDeploy(t *testing.T, env ...string) deployRun {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"infra", ".funcapp", "bin"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		"infra/deploy.sh":    mustRead(t, "deploy.sh"),
		"infra/main.bicep":   mustRead(t, "main.bicep"),
		".funcapp/host.json": "{}",
		"bin/az":             fakeAz,
		"bin/func":           fakeFunc,
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("bash", filepath.Join(root, "infra", "deploy.sh"))
	cmd.Env = append([]string{
		"PATH=" + filepath.Join(root, "bin") + ":" + os.Getenv("PATH"),
		"FAKE_LOG=" + filepath.Join(root, "calls.log"), "FAKE_DIR=" + root,
		"RESOURCE_GROUP=rg-ks", "NAME_PREFIX=ks", "PUBLISH_RETRY_SECONDS=0",
		`TRUSTED_ISSUERS=[{"issuer":"https://issuer.example","audience":"api://ks","subjectclaim":"sub"}]`,
	}, env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	r := deployRun{stderr: stderr.String(), dir: root}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running deploy.sh: %v", err)
	}
	calls, _ := os.ReadFile(filepath.Join(root, "calls.log"))
	r.calls = string(calls)
	if b, err := os.ReadFile(filepath.Join(root, "params.json")); err == nil {
		var pf struct {
			Parameters map[string]struct{ Value any }
		}
		if err := json.Unmarshal(b, &pf); err != nil {
			t.Fatalf("params.json: %v", err)
		}
		r.params = map[string]any{}
		for k, v := range pf.Parameters {
			r.params[k] = v.Value
		}
	}
	pub, _ := os.ReadFile(filepath.Join(root, "func-calls"))
	r.publishes = strings.TrimSpace(string(pub))
	return r
}

func TestDeployRefusesBadInput(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"uppercase prefix", []string{"NAME_PREFIX=Ks"}, "NAME_PREFIX 'Ks' is invalid"},
		{"dash in prefix", []string{"NAME_PREFIX=k-s"}, "NAME_PREFIX 'k-s' is invalid"},
		{"digit first", []string{"NAME_PREFIX=1ks"}, "NAME_PREFIX '1ks' is invalid"},
		{"too long", []string{"NAME_PREFIX=keyserver01"}, "NAME_PREFIX 'keyserver01' is invalid"},
		{"private needs premium", []string{"PRIVATE_NETWORKING=true", "SERVICEBUS_SKU=Standard"}, "needs SERVICEBUS_SKU=Premium"},
		{"bad salt", []string{"VAULT_NAME_SALT=Not-OK"}, "VAULT_NAME_SALT 'Not-OK' is invalid"},
		{"bad retention", []string{"RETENTION_DAYS=ninety"}, "RETENTION_DAYS must be"},
		{"bad instance size", []string{"INSTANCE_MEMORY_MB=1024"}, "INSTANCE_MEMORY_MB must be 512, 2048 or 4096"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runDeploy(t, tt.env...)
			if r.code != 1 || !strings.Contains(r.stderr, tt.want) {
				t.Fatalf("exit %d, stderr %q; want exit 1 mentioning %q", r.code, r.stderr, tt.want)
			}
			if strings.Contains(r.calls, "deployment group create") {
				t.Fatalf("deployed despite the bad input:\n%s", r.calls)
			}
		})
	}
}

func TestDeploySaltsTheVaultName(t *testing.T) {
	t.Run("new resource group", func(t *testing.T) {
		r := runDeploy(t)
		salt, _ := r.params["vaultNameSalt"].(string)
		if r.code != 0 || !regexp.MustCompile(`^[0-9a-f]{6}$`).MatchString(salt) {
			t.Fatalf("exit %d, salt %q; want 0 and six hex digits\n%s", r.code, salt, r.stderr)
		}
		if !strings.Contains(r.calls, "group update --name rg-ks --set tags.keyserverVaultSalt="+salt) {
			t.Fatalf("the salt was not recorded on the resource group:\n%s", r.calls)
		}
		if again := runDeploy(t); again.params["vaultNameSalt"] == salt {
			t.Fatalf("two new resource groups got the same salt %q", salt)
		}
	})
	t.Run("redeploy keeps the salt", func(t *testing.T) {
		if r := runDeploy(t, "FAKE_SALT=ab12cd", "FAKE_PRIOR=1"); r.code != 0 || r.params["vaultNameSalt"] != "ab12cd" {
			t.Fatalf("exit %d, salt %v; want the tag's ab12cd\n%s", r.code, r.params["vaultNameSalt"], r.stderr)
		}
	})
	t.Run("deployed before salting keeps its vault", func(t *testing.T) {
		if r := runDeploy(t, "FAKE_PRIOR=1"); r.code != 0 || r.params["vaultNameSalt"] != "none" {
			t.Fatalf("exit %d, salt %v; want none\n%s", r.code, r.params["vaultNameSalt"], r.stderr)
		}
	})
}

func TestDeployRetriesThePublish(t *testing.T) {
	r := runDeploy(t, "FAKE_FUNC_FAILURES=2")
	if r.code != 0 || r.publishes != "3" {
		t.Fatalf("exit %d after %s publishes; want 0 after 3\n%s", r.code, r.publishes, r.stderr)
	}
	if !strings.Contains(r.stderr, "attempt 2 of 10") {
		t.Fatalf("stderr does not say it retries: %q", r.stderr)
	}
	r = runDeploy(t, "FAKE_FUNC_FAILURES=5", "PUBLISH_ATTEMPTS=2")
	if r.code != 1 || r.publishes != "2" || !strings.Contains(r.stderr, "failed 2 times") {
		t.Fatalf("exit %d after %s publishes, stderr %q; want exit 1 after 2", r.code, r.publishes, r.stderr)
	}
}

// TestDeployPassesEveryParameter: what the script passes is what main.bicep
// declares, and nothing refers to the dev auth server.
func TestDeployPassesEveryParameter(t *testing.T) {
	script := mustRead(t, "deploy.sh")
	for _, bad := range []string{"devauth", "KEYSERVER_KEYVAULT_CA_FILE", "AccountKey="} {
		if strings.Contains(strings.ToLower(script), strings.ToLower(bad)) {
			t.Errorf("deploy.sh contains %q", bad)
		}
	}
	tmpl, err := parseTemplate(mustRead(t, "main.bicep"))
	if err != nil {
		t.Fatal(err)
	}
	r := runDeploy(t)
	if r.code != 0 {
		t.Fatalf("deploy.sh failed: %s", r.stderr)
	}
	declared := map[string]bool{}
	for _, d := range tmpl.decls {
		if d.kind == "param" {
			declared[d.name] = true
			if _, passed := r.params[d.name]; !passed {
				t.Errorf("deploy.sh does not pass %s", d.name)
			}
		}
	}
	for name := range r.params {
		if !declared[name] {
			t.Errorf("deploy.sh passes %s, which main.bicep does not declare", name)
		}
	}
}
