package azuritetests

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// azurePipeline is the part of an Azure Pipelines YAML a runner reads.
type azurePipeline struct {
	Variables map[string]string `yaml:"variables"`
	Stages    []struct {
		Jobs []struct {
			Steps []azureStep `yaml:"steps"`
		} `yaml:"jobs"`
	} `yaml:"stages"`
}

type azureStep struct {
	Task        string            `yaml:"task"`
	DisplayName string            `yaml:"displayName"`
	Inputs      map[string]string `yaml:"inputs"`
	Env         map[string]string `yaml:"env"`
}

// azureRunner runs a pipeline's steps as an Azure Pipelines agent does:
// $(macro) expansion, variables as environment (secrets only when mapped in
// env:), and ##vso[task.setvariable] between steps.
type azureRunner struct {
	tb      testing.TB
	dir     string
	vars    map[string]string // by lower-case name
	names   map[string]string // lower-case -> declared name
	secrets map[string]bool
	base    map[string]string // the agent's environment
	azure   map[string]string // extra environment of AzureCLI@2 tasks (the service connection)
}

var (
	macro      = regexp.MustCompile(`\$\(([A-Za-z0-9_.\-]+)\)`)
	setVarLine = regexp.MustCompile(`(?m)^##vso\[task\.setvariable variable=([^;\]]+)((?:;[^\]]*)?)\](.*)$`)
)

func (a *azureRunner) set(name, value string, secret bool) {
	a.vars[strings.ToLower(name)] = value
	a.names[strings.ToLower(name)] = name
	a.secrets[strings.ToLower(name)] = secret
}

// expand replaces $(name) of defined variables, recursively; other $( )
// text (a shell's command substitution) stays.
func (a *azureRunner) expand(s string) string {
	for range 10 {
		next := macro.ReplaceAllStringFunc(s, func(m string) string {
			if v, ok := a.vars[strings.ToLower(macro.FindStringSubmatch(m)[1])]; ok {
				return v
			}
			return m
		})
		if next == s {
			break
		}
		s = next
	}
	return s
}

func (a *azureRunner) env(st azureStep) map[string]string {
	env := map[string]string{}
	for k, v := range a.base {
		env[k] = v
	}
	for low, v := range a.vars {
		if !a.secrets[low] {
			env[strings.ToUpper(strings.ReplaceAll(a.names[low], ".", "_"))] = a.expand(v)
		}
	}
	for k, v := range st.Env {
		env[k] = a.expand(v)
	}
	return env
}

// run runs the steps until one fails; it returns the steps run.
func (a *azureRunner) run(p *azurePipeline) []stepRun {
	var runs []stepRun
	for _, stage := range p.Stages {
		for _, job := range stage.Jobs {
			for _, st := range job.Steps {
				env, script := a.env(st), ""
				switch st.Task {
				case "AzureCLI@2":
					if st.Inputs["scriptType"] != "bash" || st.Inputs["scriptLocation"] != "inlineScript" {
						a.tb.Fatalf("step %q: the test's agent runs inline bash scripts only", st.DisplayName)
					}
					script = st.Inputs["inlineScript"]
					for k, v := range a.azure {
						env[k] = v
					}
				case "Bash@3":
					if st.Inputs["targetType"] != "inline" {
						a.tb.Fatalf("step %q: the test's agent runs inline scripts only", st.DisplayName)
					}
					script = st.Inputs["script"]
				case "PublishBuildArtifacts@1":
					continue // nothing to publish to
				default:
					a.tb.Fatalf("step %q: the test's agent does not know task %s", st.DisplayName, st.Task)
				}
				r := runBash(a.tb, a.dir, env, []string{"--noprofile", "--norc"}, a.expand(script))
				r.Name = st.DisplayName
				runs = append(runs, r)
				if r.Code != 0 {
					return runs
				}
				for _, m := range setVarLine.FindAllStringSubmatch(r.Stdout, -1) {
					a.set(m[1], m[3], strings.Contains(m[2], "issecret=true"))
				}
			}
		}
	}
	return runs
}

// fakeAz is the Azure CLI as an AzureCLI@2 task with a workload identity
// service connection sees it: `az account get-access-token` answers the dev
// auth server's token for the service connection's app.
const fakeAz = `#!/bin/bash
set -euo pipefail
[ "$1 $2" = "account get-access-token" ] || { echo "fake az: unsupported: $*" >&2; exit 2; }
shift 2
while [ $# -gt 0 ]; do
  case $1 in
    --scope) [ "$2" = "$FAKE_AZ_SCOPE" ] || { echo "fake az: scope $2, want $FAKE_AZ_SCOPE" >&2; exit 2; }; shift 2 ;;
    --tenant|--query|-o) shift 2 ;;
    *) echo "fake az: unsupported argument $1" >&2; exit 2 ;;
  esac
done
curl -sS --fail -u "$FAKE_AZ_APP:$FAKE_AZ_APP" -d grant_type=client_credentials "$FAKE_AZ_TOKEN_URL" | jq -er .access_token
`

// TestAzurePipelineSignsAndVerifies runs ci/azure-pipelines/keyserver-sign.yml:
// the token from an AzureCLI@2 task, ks create and ks wait while an approver
// approves, openssl signing through the PKCS#11 module, and verification with
// the certificate from the API; a rejected run fails at the wait with exit 3.
func TestAzurePipelineSignsAndVerifies(t *testing.T) {
	st := mustStack(t)
	var p azurePipeline
	mustYAML(t, "ci/azure-pipelines/keyserver-sign.yml", &p)
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "az"), []byte(fakeAz), 0o755); err != nil {
		t.Fatal(err)
	}
	repo := uniqueName("firmware")
	newRun := func(attempt string) *azureRunner {
		a := &azureRunner{tb: t, dir: t.TempDir(), vars: map[string]string{}, names: map[string]string{}, secrets: map[string]bool{},
			base: agentEnv(t, bin), azure: map[string]string{"FAKE_AZ_APP": "orderer-clientkey4", "FAKE_AZ_TOKEN_URL": st.AuthURL + "/oauth2/token",
				"FAKE_AZ_SCOPE": "api://keyserver-app-id/.default"}}
		a.base["TF_BUILD"] = "True"
		for k, v := range p.Variables {
			a.set(k, v, false)
		}
		for k, v := range map[string]string{
			"System.DefaultWorkingDirectory": a.dir, "Agent.TempDirectory": t.TempDir(), "Build.BuildId": "321",
			"Build.Repository.Name": repo, "Build.SourceBranchName": "main", "System.CollectionId": "collection-1",
			"System.JobId": "job-1", "System.JobAttempt": attempt,
			// Queue-time values of the pipeline's variables.
			"KEYSERVER": st.HandlerURL, "KEYID": "key4", "TENANT_ID": "tenant-1", "CLIENT_ID": "keyserver-app-id",
			"KS": mustKS(t), "PKCS11_MODULE": mustModule(t),
		} {
			a.set(k, v, false)
		}
		return a
	}

	a := newRun("1")
	description := a.expand("$(OP_DESCRIPTION)")
	decider(t, description, true)
	runs := a.run(&p)
	last := runs[len(runs)-1]
	if last.Code != 0 || !strings.Contains(last.Stdout, "Verified OK") {
		t.Fatalf("step %q exited %d\nstdout: %s\nstderr: %s", last.Name, last.Code, last.Stdout, last.Stderr)
	}
	if !a.secrets["ksc_id_token"] || a.vars["ksc_operation_id"] == "" {
		t.Fatalf("the token is not a secret variable or no operation was recorded: %v", a.secrets)
	}

	a = newRun("2")
	rejected := description + " (second attempt)"
	a.set("OP_DESCRIPTION", rejected, false)
	decider(t, rejected, false)
	runs = a.run(&p)
	last = runs[len(runs)-1]
	if last.Name != "Wait for signing approval" || last.Code != 3 || !strings.Contains(last.Stdout, "##vso[task.logissue type=error]Signing was refused") {
		t.Fatalf("the rejected run ended at %q with %d\nstdout: %s\nstderr: %s", last.Name, last.Code, last.Stdout, last.Stderr)
	}
}
