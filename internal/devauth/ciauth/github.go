package ciauth

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// GitHubJob describes a GitHub Actions job; GitHubClaims turns it into the
// claims GitHub puts in the job's OIDC token.
type GitHubJob struct {
	Repository   string // ORG/REPO
	RepositoryID string
	Ref          string // refs/heads/main, refs/tags/v1, refs/pull/7/merge
	Event        string // push, pull_request, pull_request_target, workflow_dispatch, ...
	Environment  string
	Workflow     string // the workflow file, e.g. release.yml
	RunID        string
	RunAttempt   string
	Actor        string
	SHA          string
}

// GitHubClaims returns the job's claims with GitHub's default subject:
// repo:ORG/REPO:environment:NAME, repo:ORG/REPO:pull_request or
// repo:ORG/REPO:ref:REF.
func GitHubClaims(j GitHubJob) map[string]any {
	owner, _, _ := strings.Cut(j.Repository, "/")
	ref := orDefault(j.Ref, "refs/heads/main")
	event := orDefault(j.Event, "push")
	workflow := orDefault(j.Workflow, "release.yml")
	sha := orDefault(j.SHA, "0123456789abcdef0123456789abcdef01234567")
	sub := "repo:" + j.Repository + ":ref:" + ref
	switch {
	case j.Environment != "":
		sub = "repo:" + j.Repository + ":environment:" + j.Environment
	case event == "pull_request" || event == "pull_request_target":
		sub = "repo:" + j.Repository + ":pull_request"
	}
	workflowRef := j.Repository + "/.github/workflows/" + workflow + "@" + ref
	c := map[string]any{
		"sub": sub, "repository": j.Repository, "repository_id": orDefault(j.RepositoryID, "100200300"),
		"repository_owner": owner, "repository_owner_id": "4000", "repository_visibility": "private",
		"ref": ref, "ref_type": refType(ref), "sha": sha, "event_name": event,
		"workflow": strings.TrimSuffix(workflow, ".yml"), "workflow_ref": workflowRef, "workflow_sha": sha,
		"job_workflow_ref": workflowRef, "job_workflow_sha": sha,
		"run_id": orDefault(j.RunID, "9000001"), "run_number": "42", "run_attempt": orDefault(j.RunAttempt, "1"),
		"actor": orDefault(j.Actor, "octocat"), "actor_id": "5000", "runner_environment": "github-hosted",
		"head_ref": "", "base_ref": "",
	}
	if j.Environment != "" {
		c["environment"] = j.Environment
	}
	return c
}

func refType(ref string) string {
	if strings.HasPrefix(ref, "refs/tags/") {
		return "tag"
	}
	return "branch"
}

// GitHubJobEnv registers a job with claims and returns what GitHub sets in
// the job's environment when it has id-token: write permission:
// ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN.
func (s *Server) GitHubJobEnv(claims map[string]any) (requestURL, requestToken string) {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	requestToken = hex.EncodeToString(b)
	s.mu.Lock()
	s.jobs[requestToken] = claims
	s.mu.Unlock()
	return s.github.url + "/token?api-version=2.0", requestToken
}

// handleGitHubToken is ACTIONS_ID_TOKEN_REQUEST_URL: the job's bearer
// request token and an audience give the job's OIDC token.
func (s *Server) handleGitHubToken(w http.ResponseWriter, r *http.Request) {
	scheme, bearer, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	s.mu.Lock()
	claims, ok := s.jobs[bearer]
	s.mu.Unlock()
	if !strings.EqualFold(scheme, "bearer") || !ok {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Bad credentials"})
		return
	}
	audience := r.URL.Query().Get("audience")
	if audience == "" {
		audience = "https://github.com/" + fmt.Sprint(claims["repository_owner"])
	}
	tok, err := s.sign(s.github, claims, audience)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"message": "signing failed"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"count": len(tok), "value": tok})
}

// handleGitHubJob registers a job for manual use against `make run`: the
// body is a GitHubJob as JSON, the answer the job's two variables.
func (s *Server) handleGitHubJob(w http.ResponseWriter, r *http.Request) {
	var j GitHubJob
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10)).Decode(&j); err != nil || j.Repository == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "message": "The body must be a JSON job with at least Repository."})
		return
	}
	u, tok := s.GitHubJobEnv(GitHubClaims(j))
	writeJSON(w, http.StatusOK, map[string]string{"ACTIONS_ID_TOKEN_REQUEST_URL": u, "ACTIONS_ID_TOKEN_REQUEST_TOKEN": tok})
}
