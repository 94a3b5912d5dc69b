package azuritetests

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"keyserver/internal/devauth/ciauth"
	"keyserver/internal/localstack"
)

// gitlabJob is the part of a GitLab job a runner reads.
type gitlabJob struct {
	Stage    string `yaml:"stage"`
	IDTokens map[string]struct {
		Aud string `yaml:"aud"`
	} `yaml:"id_tokens"`
	Variables map[string]string `yaml:"variables"`
	Script    []string          `yaml:"script"`
}

var gitlabInput = regexp.MustCompile(`\$\[\[\s*inputs\.([A-Za-z0-9_-]+)\s*\]\]`)

// gitlabComponent reads a component: its spec (the first document) and its
// jobs (the second) with $[[ inputs.X ]] interpolated, as GitLab does when
// the component is included with inputs.
func gitlabComponent(tb testing.TB, path string, inputs map[string]string) map[string]gitlabJob {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", path))
	if err != nil {
		tb.Fatal(err)
	}
	head, body, ok := bytes.Cut(b, []byte("\n---\n"))
	if !ok {
		tb.Fatalf("%s has no spec document", path)
	}
	var spec struct {
		Spec struct {
			Inputs map[string]struct {
				Default *string `yaml:"default"`
			} `yaml:"inputs"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(head, &spec); err != nil {
		tb.Fatalf("parsing the spec of %s: %v", path, err)
	}
	values := map[string]string{}
	for name, in := range spec.Spec.Inputs {
		switch v, given := inputs[name]; {
		case given:
			values[name] = v
		case in.Default != nil:
			values[name] = *in.Default
		default:
			tb.Fatalf("%s: input %s is required", path, name)
		}
	}
	for name := range inputs {
		if _, ok := values[name]; !ok {
			tb.Fatalf("%s takes no input %s", path, name)
		}
	}
	text := gitlabInput.ReplaceAllStringFunc(string(body), func(m string) string {
		name := gitlabInput.FindStringSubmatch(m)[1]
		v, ok := values[name]
		if !ok {
			tb.Fatalf("%s uses the undeclared input %s", path, name)
		}
		return v
	})
	var jobs map[string]gitlabJob
	if err := yaml.Unmarshal([]byte(text), &jobs); err != nil {
		tb.Fatalf("parsing the jobs of %s: %v", path, err)
	}
	return jobs
}

// runGitLabJob runs a job's script as a GitLab runner's bash shell does,
// with its id_tokens issued by the local stack's GitLab stand-in for claims.
func runGitLabJob(tb testing.TB, dir string, job gitlabJob, claims map[string]any) stepRun {
	tb.Helper()
	st := mustStack(tb)
	env := agentEnv(tb)
	for k, v := range map[string]string{
		"GITLAB_CI": "true", "CI": "true", "CI_PROJECT_PATH": claims["project_path"].(string), "CI_PROJECT_ID": claims["project_id"].(string),
		"CI_PIPELINE_ID": claims["pipeline_id"].(string), "CI_JOB_ID": claims["job_id"].(string),
		"CI_COMMIT_REF_NAME": claims["ref"].(string), "CI_COMMIT_SHA": claims["sha"].(string), "CI_PROJECT_DIR": dir,
	} {
		env[k] = v
	}
	for name, spec := range job.IDTokens {
		tok, err := st.CI.GitLabIDToken(claims, spec.Aud)
		if err != nil {
			tb.Fatal(err)
		}
		env[name] = tok
	}
	for k, v := range job.Variables {
		env[k] = os.Expand(v, func(name string) string { return env[name] })
	}
	return runBash(tb, dir, env, []string{"--noprofile", "--norc", "-eo", "pipefail"}, strings.Join(job.Script, "\n"))
}

// TestGitLabComponentSignsAndVerifies runs ci/gitlab/templates/sign.yml as a
// job of a project on its protected main branch: it opens an operation,
// waits while an approver approves, signs and verifies; a rejected job fails
// at the wait with exit 3 and a clear line.
func TestGitLabComponentSignsAndVerifies(t *testing.T) {
	st := mustStack(t)
	project := uniqueName("group/firmware")
	projectID := uniqueNumber()
	glJob := ciauth.GitLabJob{ProjectPath: project, ProjectID: projectID, Ref: "main", RefProtected: true, JobID: uniqueName("job")}
	claims := ciauth.GitLabClaims(glJob)
	mustPolicy(t, "gitlab:"+project, map[string]any{"issuer": st.CI.GitLabIssuer(), "roles": []string{"orderer:key4"},
		"conditions": []map[string]string{{"claim": "project_id", "equals": projectID}, {"claim": "ref_protected", "equals": "true"}}})

	inputs := map[string]string{"keyserver": st.HandlerURL, "audience": localstack.Audience, "key": "key4",
		"files": "fw-*.bin", "description": project + " main, approved", "valid": "5m"}
	jobs := gitlabComponent(t, "ci/gitlab/templates/sign.yml", inputs)
	job, ok := jobs["keyserver-sign"]
	if !ok || job.IDTokens["KEYSERVER_ID_TOKEN"].Aud != localstack.Audience {
		t.Fatalf("the component's job %+v lacks the KEYSERVER_ID_TOKEN id token for the audience", job)
	}
	dir := t.TempDir()
	writeFiles(t, dir, "fw", 2)
	decider(t, inputs["description"], true)
	r := runGitLabJob(t, dir, job, claims)
	if r.Code != 0 || strings.Count(r.Stdout, "Verified OK") != 2 {
		t.Fatalf("the job exited %d\nstdout: %s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "keyserver-manifest.json")); err != nil {
		t.Fatalf("no manifest: %v", err)
	}

	glJob.JobID = uniqueName("job") // a retried job
	inputs["description"] = project + " main, rejected"
	job = gitlabComponent(t, "ci/gitlab/templates/sign.yml", inputs)["keyserver-sign"]
	decider(t, inputs["description"], false)
	r = runGitLabJob(t, dir, job, ciauth.GitLabClaims(glJob))
	if r.Code != 3 || !strings.Contains(r.Stdout, "Keyserver: signing was refused") || !strings.Contains(r.Stderr, "rejected by approver-key4") {
		t.Fatalf("the rejected job exited %d\nstdout: %s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
	}
}
