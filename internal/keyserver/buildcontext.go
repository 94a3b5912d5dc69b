package keyserver

import (
	"net/url"
	"strings"
	"unicode/utf8"
)

// BuildContext is where an operation came from, as the verified claims of
// its requester's token say: the CI platform, repository, ref, commit,
// workflow, run and who or what triggered it. It is taken from the token
// when the operation is created, never from the request body. Tokens that
// are not a CI platform's (an Entra ID app, a person) give none.
type BuildContext struct {
	Platform     string `json:"platform"` // "github" or "gitlab"
	Repository   string `json:"repository"`
	RepositoryID string `json:"repositoryid"`
	Ref          string `json:"ref"`
	SHA          string `json:"sha"`
	Workflow     string `json:"workflow"`              // GitHub workflow_ref; GitLab ci_config_ref_uri
	JobWorkflow  string `json:"jobworkflow,omitempty"` // GitHub job_workflow_ref, when a reusable workflow runs
	RunID        string `json:"runid"`                 // GitHub run_id; GitLab pipeline_id
	RunAttempt   string `json:"runattempt,omitempty"`  // GitHub run_attempt
	Job          string `json:"job,omitempty"`         // GitLab job_id
	Actor        string `json:"actor"`
	Event        string `json:"event"` // GitHub event_name; GitLab pipeline_source
	Environment  string `json:"environment,omitempty"`
	// RunURL links to the run, when the issuer tells the platform's web address.
	RunURL string `json:"runurl,omitempty"`
}

// maxContextValue bounds each value taken from a token.
const maxContextValue = 512

// BuildContextOf reads the build context from a CI platform token's claims;
// nil when the claims are not a GitHub Actions or GitLab CI job's.
func BuildContextOf(issuer string, claims map[string]any) *BuildContext {
	get := func(name string) string {
		v, _ := ClaimString(claims, name)
		if utf8.RuneCountInString(v) > maxContextValue {
			v = string([]rune(v)[:maxContextValue])
		}
		return v
	}
	switch {
	case get("repository") != "" && get("run_id") != "" && get("workflow_ref") != "":
		bc := &BuildContext{Platform: "github", Repository: get("repository"), RepositoryID: get("repository_id"),
			Ref: get("ref"), SHA: get("sha"), Workflow: get("workflow_ref"), RunID: get("run_id"), RunAttempt: get("run_attempt"),
			Actor: get("actor"), Event: get("event_name"), Environment: get("environment")}
		if jw := get("job_workflow_ref"); jw != bc.Workflow {
			bc.JobWorkflow = jw
		}
		if web, repo := githubWeb(issuer), pathOf(bc.Repository); web != "" && repo != "" {
			bc.RunURL = web + "/" + repo + "/actions/runs/" + url.PathEscape(bc.RunID)
			if bc.RunAttempt != "" {
				bc.RunURL += "/attempts/" + url.PathEscape(bc.RunAttempt)
			}
		}
		return bc
	case get("project_path") != "" && get("pipeline_id") != "":
		ref := get("ref_path")
		if ref == "" {
			ref = get("ref")
		}
		bc := &BuildContext{Platform: "gitlab", Repository: get("project_path"), RepositoryID: get("project_id"),
			Ref: ref, SHA: get("sha"), Workflow: get("ci_config_ref_uri"), RunID: get("pipeline_id"), Job: get("job_id"),
			Actor: get("user_login"), Event: get("pipeline_source"), Environment: get("environment")}
		if web, project := webBase(issuer), pathOf(bc.Repository); web != "" && project != "" {
			bc.RunURL = web + "/" + project + "/-/pipelines/" + url.PathEscape(bc.RunID)
		}
		return bc
	}
	return nil
}

// githubWeb is GitHub's web address for a GitHub Actions issuer: github.com
// for token.actions.githubusercontent.com (with or without an enterprise
// slug), the server for GitHub Enterprise Server (https://HOST/_services/token).
func githubWeb(issuer string) string {
	u, err := url.Parse(issuer)
	if err != nil || u.Scheme != "https" {
		return ""
	}
	switch {
	case u.Host == "token.actions.githubusercontent.com":
		return "https://github.com"
	case strings.TrimRight(u.Path, "/") == "/_services/token":
		return "https://" + u.Host
	}
	return ""
}

// webBase is an issuer URL usable as a web address: https, no query.
func webBase(issuer string) string {
	u, err := url.Parse(strings.TrimRight(issuer, "/"))
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil ||
		(u.Scheme != "https" && !(u.Scheme == "http" && (u.Hostname() == "localhost" || u.Hostname() == "127.0.0.1"))) {
		return ""
	}
	return u.String()
}

// pathOf escapes each segment of a repository or project path; "" when a
// segment is empty, "." or "..".
func pathOf(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if s == "" || s == "." || s == ".." {
			return ""
		}
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}
