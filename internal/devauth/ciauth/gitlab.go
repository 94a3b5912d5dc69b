package ciauth

import (
	"encoding/json"
	"net/http"
	"strings"
)

// GitLabJob describes a GitLab CI job; GitLabClaims turns it into the claims
// GitLab puts in the job's id_tokens.
type GitLabJob struct {
	ProjectPath          string // GROUP/PROJECT; a fork's own path in a fork's merge request
	ProjectID            string
	Ref                  string // a branch or tag name
	RefType              string // branch (default) or tag
	RefProtected         bool
	PipelineSource       string // push, merge_request_event, ...
	Environment          string
	EnvironmentProtected bool
	PipelineID           string
	JobID                string
	UserLogin            string
	SHA                  string
}

// GitLabClaims returns the job's claims, every value a string as GitLab
// sends them, with GitLab's default subject
// project_path:GROUP/PROJECT:ref_type:TYPE:ref:REF.
func GitLabClaims(j GitLabJob) map[string]any {
	ref, refType := orDefault(j.Ref, "main"), orDefault(j.RefType, "branch")
	ns, _, _ := strings.Cut(j.ProjectPath, "/")
	sha := orDefault(j.SHA, "89abcdef0123456789abcdef0123456789abcdef")
	refPath := "refs/heads/" + ref
	if refType == "tag" {
		refPath = "refs/tags/" + ref
	}
	c := map[string]any{
		"sub":          "project_path:" + j.ProjectPath + ":ref_type:" + refType + ":ref:" + ref,
		"namespace_id": "60", "namespace_path": ns,
		"project_id": orDefault(j.ProjectID, "700"), "project_path": j.ProjectPath, "project_visibility": "private",
		"user_id": "80", "user_login": orDefault(j.UserLogin, "alice"), "user_email": orDefault(j.UserLogin, "alice") + "@example.com",
		"pipeline_id": orDefault(j.PipelineID, "90001"), "pipeline_source": orDefault(j.PipelineSource, "push"),
		"job_id": orDefault(j.JobID, "123456"), "ref": ref, "ref_type": refType, "ref_path": refPath,
		"ref_protected": boolString(j.RefProtected), "runner_id": "11", "runner_environment": "gitlab-hosted",
		"sha": sha, "ci_config_ref_uri": "gitlab.example.com/" + j.ProjectPath + "//.gitlab-ci.yml@" + refPath, "ci_config_sha": sha,
	}
	if j.Environment != "" {
		c["environment"] = j.Environment
		c["environment_protected"] = boolString(j.EnvironmentProtected)
		c["deployment_tier"] = "production"
	}
	return c
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// GitLabIDToken issues the token GitLab puts in an id_tokens variable whose
// aud is audience.
func (s *Server) GitLabIDToken(claims map[string]any, audience string) (string, error) {
	return s.sign(s.gitlab, claims, audience)
}

// handleGitLabJob issues an id_tokens token for manual use against `make
// run`: the body is {"job": GitLabJob, "aud": audience}.
func (s *Server) handleGitLabJob(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Job GitLabJob `json:"job"`
		Aud string    `json:"aud"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10)).Decode(&body); err != nil || body.Job.ProjectPath == "" || body.Aud == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "message": `The body must be {"job":{"ProjectPath":...},"aud":...}.`})
		return
	}
	tok, err := s.GitLabIDToken(GitLabClaims(body.Job), body.Aud)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "server_error", "message": "signing failed"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"token": tok})
}
