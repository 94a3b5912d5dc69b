// Package ciplatform knows the CI platforms the ks CLI runs on: GitHub
// Actions, GitLab CI and Azure Pipelines. It detects the platform from the
// job's environment, fetches the job's OIDC token from the platform, and
// names the run, attempt and job so that a re-run step finds the operation
// its first try opened.
package ciplatform

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"keyserver/internal/ksc"
)

// Platform is the CI platform a job runs on.
type Platform interface {
	// Name names the platform in messages.
	Name() string
	// Token fetches a fresh OIDC token for audience.
	Token(ctx context.Context, audience string) (string, error)
	// RunKey names the run, attempt and job; "" when the job does not say.
	RunKey() string
}

// Detect returns the platform named by the environment, or nil when the job
// runs on none of them. hc makes the platform's token requests.
func Detect(getenv func(string) string, hc *http.Client) Platform {
	switch {
	case getenv("GITHUB_ACTIONS") == "true":
		return &github{getenv: getenv, http: hc}
	case getenv("GITLAB_CI") == "true":
		return &gitlab{getenv: getenv}
	case strings.EqualFold(getenv("TF_BUILD"), "true"):
		return &azurePipelines{getenv: getenv, http: hc}
	}
	return nil
}

// joinKey builds a run key from its parts; "" when one is missing.
func joinKey(prefix string, parts ...string) string {
	for _, p := range parts {
		if strings.TrimSpace(p) == "" {
			return ""
		}
	}
	return prefix + ":" + strings.Join(parts, ":")
}

// endpoint checks a platform URL read from the environment: https, or http
// to a loopback host (a local stand-in for the platform).
func endpoint(name, raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("%s %q is not a URL", name, raw)
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && ksc.IsLoopback(u.Hostname())) {
		return nil, fmt.Errorf("%s %q must be an https URL", name, raw)
	}
	return u, nil
}

const maxTokenAnswer = 64 << 10

// fetchToken sends req and returns the string field of its JSON answer.
func fetchToken(hc *http.Client, req *http.Request, what, field string) (string, error) {
	var answer map[string]any
	if err := fetchJSON(hc, req, what, &answer); err != nil {
		return "", err
	}
	tok, _ := answer[field].(string)
	if tok == "" {
		return "", fmt.Errorf("%s: the answer holds no token", what)
	}
	return tok, nil
}

// fetchJSON sends req and decodes a 200 answer into out. what names the
// request in errors; the answer body is never quoted, as it may hold a token.
func fetchJSON(hc *http.Client, req *http.Request, what string, out any) error {
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenAnswer))
	if err != nil {
		return fmt.Errorf("%s: reading the answer: %w", what, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d%s", what, resp.StatusCode, oauthReason(body))
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s: the answer is not JSON", what)
	}
	return nil
}

// oauthReason quotes an OAuth error code and description, which carry no secrets.
func oauthReason(body []byte) string {
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error == "" {
		return ""
	}
	if len(e.Description) > 300 {
		e.Description = e.Description[:300] + "..."
	}
	return fmt.Sprintf(" (%s: %s)", e.Error, e.Description)
}
