package azuritetests

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"keyserver/internal/devauth/ciauth"
	"keyserver/internal/localstack"
)

// compositeAction is the part of ci/github/action.yml a runner reads.
type compositeAction struct {
	Inputs map[string]struct {
		Required bool   `yaml:"required"`
		Default  string `yaml:"default"`
	} `yaml:"inputs"`
	Outputs map[string]struct {
		Value string `yaml:"value"`
	} `yaml:"outputs"`
	Runs struct {
		Using string       `yaml:"using"`
		Steps []githubStep `yaml:"steps"`
	} `yaml:"runs"`
}

type githubStep struct {
	ID    string            `yaml:"id"`
	Name  string            `yaml:"name"`
	Shell string            `yaml:"shell"`
	Run   string            `yaml:"run"`
	Uses  string            `yaml:"uses"`
	Env   map[string]string `yaml:"env"`
}

// githubRunner runs a composite action's steps as the GitHub runner does:
// bash -eo pipefail, ${{ }} expressions, GITHUB_OUTPUT, GITHUB_ENV.
type githubRunner struct {
	tb      testing.TB
	dir     string
	job     map[string]string // the job's environment
	context map[string]string // github.* and runner.*
	inputs  map[string]string
	outputs map[string]map[string]string // step id -> outputs
}

var expression = regexp.MustCompile(`\$\{\{\s*([^}]*?)\s*\}\}`)

// eval substitutes ${{ }} expressions; anything it does not know fails the test.
func (g *githubRunner) eval(s string) string {
	return expression.ReplaceAllStringFunc(s, func(m string) string {
		expr := expression.FindStringSubmatch(m)[1]
		parts := strings.Split(expr, ".")
		switch {
		case len(parts) == 2 && parts[0] == "inputs":
			if v, ok := g.inputs[parts[1]]; ok {
				return v
			}
		case len(parts) == 2 && (parts[0] == "github" || parts[0] == "runner"):
			if v, ok := g.context[expr]; ok {
				return v
			}
		case len(parts) == 4 && parts[0] == "steps" && parts[2] == "outputs":
			return g.outputs[parts[1]][parts[3]]
		}
		g.tb.Fatalf("the test's runner does not know the expression %q", m)
		return ""
	})
}

// run runs every step of the action with the inputs given; it returns the
// steps run, the last being the one that failed if any did.
func (g *githubRunner) run(a *compositeAction, with map[string]string) []stepRun {
	g.inputs = map[string]string{}
	for name, in := range a.Inputs {
		g.inputs[name] = g.eval(in.Default)
		if v, ok := with[name]; ok {
			g.inputs[name] = v
		} else if in.Required {
			g.tb.Fatalf("input %s is required", name)
		}
	}
	var runs []stepRun
	for _, st := range a.Runs.Steps {
		if st.Uses != "" || st.Shell != "bash" {
			g.tb.Fatalf("step %q: the test's runner runs bash steps only", st.Name)
		}
		outFile, envFile := filepath.Join(g.tb.TempDir(), "output"), filepath.Join(g.tb.TempDir(), "env")
		env := map[string]string{"GITHUB_OUTPUT": outFile, "GITHUB_ENV": envFile}
		for k, v := range g.job {
			env[k] = v
		}
		for k, v := range st.Env {
			env[k] = g.eval(v)
		}
		r := runBash(g.tb, g.dir, env, []string{"--noprofile", "--norc", "-eo", "pipefail"}, g.eval(st.Run))
		r.Name = st.Name
		runs = append(runs, r)
		if r.Code != 0 {
			return runs
		}
		if st.ID != "" {
			g.outputs[st.ID] = readKeyValues(g.tb, outFile)
		}
		for k, v := range readKeyValues(g.tb, envFile) {
			g.job[k] = v
		}
	}
	return runs
}

// readKeyValues reads a GITHUB_OUTPUT or GITHUB_ENV file of NAME=value lines.
func readKeyValues(tb testing.TB, path string) map[string]string {
	out := map[string]string{}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return out
	}
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			out[k] = v
		} else if sc.Text() != "" {
			tb.Fatalf("%s: line %q is not NAME=value", path, sc.Text())
		}
	}
	return out
}

// newGitHubRun is a job of repository repo on ref with id-token: write, its
// token service the local stack's GitHub stand-in.
func newGitHubRun(tb testing.TB, job ciauth.GitHubJob) *githubRunner {
	st := mustStack(tb)
	claims := ciauth.GitHubClaims(job)
	requestURL, requestToken := st.CI.GitHubJobEnv(claims)
	dir := tb.TempDir()
	env := agentEnv(tb)
	for k, v := range map[string]string{
		"GITHUB_ACTIONS": "true", "CI": "true", "GITHUB_REPOSITORY": job.Repository, "GITHUB_RUN_ID": claims["run_id"].(string),
		"GITHUB_RUN_ATTEMPT": claims["run_attempt"].(string), "GITHUB_JOB": "sign", "GITHUB_REF": claims["ref"].(string),
		"GITHUB_SHA": claims["sha"].(string), "GITHUB_WORKSPACE": dir, "RUNNER_TEMP": tb.TempDir(),
		"ACTIONS_ID_TOKEN_REQUEST_URL": requestURL, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": requestToken,
	} {
		env[k] = v
	}
	refName := strings.TrimPrefix(strings.TrimPrefix(job.Ref, "refs/heads/"), "refs/tags/")
	return &githubRunner{tb: tb, dir: dir, job: env, outputs: map[string]map[string]string{}, context: map[string]string{
		"github.repository": job.Repository, "github.ref_name": refName, "github.sha": claims["sha"].(string),
		"runner.temp": env["RUNNER_TEMP"],
	}}
}

// TestGitHubActionSignsAndVerifies runs ci/github/action.yml as a job of
// a repository on main: it opens an operation, waits while an approver
// approves, signs three files and verifies them; a rejected run fails at the
// wait with exit 3 and a clear annotation.
func TestGitHubActionSignsAndVerifies(t *testing.T) {
	st := mustStack(t)
	var action compositeAction
	mustYAML(t, "ci/github/action.yml", &action)
	if action.Runs.Using != "composite" {
		t.Fatalf("action.yml runs %q, want a composite action", action.Runs.Using)
	}
	repo := uniqueName("octo/firmware")
	repoID := uniqueNumber()
	job := ciauth.GitHubJob{Repository: repo, RepositoryID: repoID, Ref: "refs/heads/main"}
	mustPolicy(t, "github:"+repo, map[string]any{"issuer": st.CI.GitHubIssuer(), "roles": []string{"orderer:key4"},
		"conditions": []map[string]string{{"claim": "repository_id", "equals": repoID}, {"claim": "ref", "equals": "refs/heads/main"}}})

	g := newGitHubRun(t, job)
	writeFiles(t, g.dir, "fw", 3)
	description := repo + " main, approved"
	decider(t, description, true)
	with := map[string]string{"keyserver": st.HandlerURL, "audience": localstack.Audience, "key": "key4",
		"files": "fw-*.bin", "description": description, "valid": "5m"}
	runs := g.run(&action, with)
	last := runs[len(runs)-1]
	if len(runs) != len(action.Runs.Steps) || last.Code != 0 {
		t.Fatalf("step %q exited %d\nstdout: %s\nstderr: %s", last.Name, last.Code, last.Stdout, last.Stderr)
	}
	if n := strings.Count(last.Stdout, "Verified OK"); n != 3 {
		t.Fatalf("openssl verified %d files, want 3:\n%s", n, last.Stdout)
	}
	if _, err := os.Stat(g.eval("${{ steps.sign.outputs.manifest }}")); err != nil || g.outputs["create"]["operation-id"] == "" {
		t.Fatalf("outputs %v: manifest %v", g.outputs, err)
	}
	var op struct {
		BuildContext struct{ Repository, RunID, RunAttempt string } `json:"buildcontext"`
	}
	mustDo(t, "GET", "/api/operations/"+g.outputs["create"]["operation-id"], mustToken(t, "adminclient"), nil).mustDecode(t, 200, &op)
	if op.BuildContext.Repository != repo || op.BuildContext.RunID != g.job["GITHUB_RUN_ID"] || op.BuildContext.RunAttempt != "1" {
		t.Fatalf("the operation's build context = %+v", op.BuildContext)
	}

	// A second attempt of the run, and an approver who rejects.
	job.RunAttempt = "2"
	g = newGitHubRun(t, job)
	writeFiles(t, g.dir, "fw", 1)
	with["description"] = repo + " main, rejected"
	decider(t, with["description"], false)
	runs = g.run(&action, with)
	last = runs[len(runs)-1]
	if last.Name != "Wait for approval" || last.Code != 3 || !strings.Contains(last.Stdout, "::error title=Keyserver::signing was refused") ||
		!strings.Contains(last.Stderr, "rejected by approver-key4: not a release commit") {
		t.Fatalf("the rejected run ended at %q with %d\nstdout: %s\nstderr: %s", last.Name, last.Code, last.Stdout, last.Stderr)
	}
}

// TestGitHubExampleWorkflowUsesTheAction: the example workflow asks for the
// id-token permission and gives the action every required input.
func TestGitHubExampleWorkflowUsesTheAction(t *testing.T) {
	var action compositeAction
	mustYAML(t, "ci/github/action.yml", &action)
	var wf struct {
		Permissions map[string]string `yaml:"permissions"`
		Jobs        map[string]struct {
			Steps []struct {
				Uses string            `yaml:"uses"`
				With map[string]string `yaml:"with"`
			} `yaml:"steps"`
		} `yaml:"jobs"`
	}
	mustYAML(t, "ci/github/sign-release.yml", &wf)
	if wf.Permissions["id-token"] != "write" {
		t.Fatalf("the example workflow's permissions %v lack id-token: write", wf.Permissions)
	}
	found := false
	for _, j := range wf.Jobs {
		for _, s := range j.Steps {
			if !strings.Contains(s.Uses, "/ci/github@") {
				continue
			}
			found = true
			for name, in := range action.Inputs {
				if _, ok := s.With[name]; in.Required && !ok {
					t.Errorf("the example omits the required input %s", name)
				}
			}
			for name := range s.With {
				if _, ok := action.Inputs[name]; !ok {
					t.Errorf("the example passes %s, which the action does not take", name)
				}
			}
		}
	}
	if !found {
		t.Fatalf("the example workflow does not use the action")
	}
}
