package keyserver_test

import (
	"context"
	"testing"

	"keyserver/internal/devauth/ciauth"
	"keyserver/internal/keyserver"
)

func TestBuildContextOfGitHubTokens(t *testing.T) {
	claims := ciauth.GitHubClaims(ciauth.GitHubJob{Repository: "octo/fw", RepositoryID: "4711", Ref: "refs/tags/v1.2", Event: "push",
		Environment: "release", RunID: "99", RunAttempt: "3", Actor: "mona", SHA: "abc123"})
	claims["job_workflow_ref"] = "octo/shared/.github/workflows/sign.yml@refs/tags/v2"
	want := keyserver.BuildContext{Platform: "github", Repository: "octo/fw", RepositoryID: "4711", Ref: "refs/tags/v1.2", SHA: "abc123",
		Workflow: "octo/fw/.github/workflows/release.yml@refs/tags/v1.2", JobWorkflow: "octo/shared/.github/workflows/sign.yml@refs/tags/v2",
		RunID: "99", RunAttempt: "3", Actor: "mona", Event: "push", Environment: "release"}
	for issuer, url := range map[string]string{
		"https://token.actions.githubusercontent.com":      "https://github.com/octo/fw/actions/runs/99/attempts/3",
		"https://token.actions.githubusercontent.com/acme": "https://github.com/octo/fw/actions/runs/99/attempts/3",
		"https://ghe.example.com/_services/token":          "https://ghe.example.com/octo/fw/actions/runs/99/attempts/3",
		"http://localhost:8300/github":                     "", // the local stand-in has no web pages
	} {
		got := keyserver.BuildContextOf(issuer, claims)
		w := want
		w.RunURL = url
		if got == nil || *got != w {
			t.Errorf("BuildContextOf(%s) = %+v, want %+v", issuer, got, w)
		}
	}
	claims["repository"] = "octo/../evil"
	if got := keyserver.BuildContextOf("https://token.actions.githubusercontent.com", claims); got.RunURL != "" {
		t.Errorf("a repository with .. got the link %q", got.RunURL)
	}
}

func TestBuildContextOfGitLabTokens(t *testing.T) {
	claims := ciauth.GitLabClaims(ciauth.GitLabJob{ProjectPath: "group/sub group/fw", ProjectID: "8800", Ref: "main", PipelineID: "555",
		JobID: "777", UserLogin: "alice", Environment: "production", SHA: "def456"})
	got := keyserver.BuildContextOf("https://gitlab.example.com", claims)
	want := keyserver.BuildContext{Platform: "gitlab", Repository: "group/sub group/fw", RepositoryID: "8800", Ref: "refs/heads/main", SHA: "def456",
		Workflow: "gitlab.example.com/group/sub group/fw//.gitlab-ci.yml@refs/heads/main", RunID: "555", Job: "777", Actor: "alice",
		Event: "push", Environment: "production", RunURL: "https://gitlab.example.com/group/sub%20group/fw/-/pipelines/555"}
	if got == nil || *got != want {
		t.Fatalf("BuildContextOf = %+v, want %+v", got, want)
	}
}

func TestBuildContextOfOtherTokens(t *testing.T) {
	for _, claims := range []map[string]any{
		{"sub": "client", "azp": "client", "appid": "client"},
		{"sub": "repo:octo/fw:ref:refs/heads/main", "repository": "octo/fw"}, // no run: not a job's token
		{},
	} {
		if got := keyserver.BuildContextOf("https://issuer.example", claims); got != nil {
			t.Errorf("BuildContextOf(%v) = %+v, want none", claims, got)
		}
	}
}

// TestOperationsRecordTheirBuildContext: the context comes from the
// requester's token when the operation is created, and goes with it into
// the store and the event.
func TestOperationsRecordTheirBuildContext(t *testing.T) {
	f := newFixture(t)
	f.mustPutPolicy(t, mainPolicy())
	caller, err := f.svc.Caller(context.Background(), githubIdentity(ciauth.GitHubJob{Repository: "octo/fw", RepositoryID: "4711", Ref: "refs/heads/main", RunID: "31"}))
	if err != nil {
		t.Fatal(err)
	}
	op, err := f.svc.CreateOperation(context.Background(), caller, request(kr("key2", 1)))
	if err != nil || op.BuildContext == nil || op.BuildContext.RunID != "31" || op.BuildContext.RunURL != "https://github.com/octo/fw/actions/runs/31/attempts/1" {
		t.Fatalf("CreateOperation = %+v, %v", op, err)
	}
	if stored := f.mustOperation(t, op.ID); stored.BuildContext == nil || *stored.BuildContext != *op.BuildContext {
		t.Fatalf("stored context = %+v", stored.BuildContext)
	}
	f.notes.mu.Lock()
	sent := f.notes.sent
	f.notes.mu.Unlock()
	if len(sent) != 1 || sent[0].Operation.BuildContext == nil || sent[0].Operation.BuildContext.Repository != "octo/fw" {
		t.Fatalf("event = %+v", sent)
	}
	// A registered client's token names no build.
	if op := f.mustCreate(t, "orderer", kr("key2", 1)); op.BuildContext != nil {
		t.Fatalf("an operation of a plain client has the context %+v", op.BuildContext)
	}
}
