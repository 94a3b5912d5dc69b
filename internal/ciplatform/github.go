package ciplatform

import (
	"context"
	"fmt"
	"net/http"
)

// github is GitHub Actions: the job's OIDC token comes from
// ACTIONS_ID_TOKEN_REQUEST_URL, which is set when the job has the
// id-token: write permission.
type github struct {
	getenv func(string) string
	http   *http.Client
}

func (g *github) Name() string { return "GitHub Actions" }

func (g *github) Token(ctx context.Context, audience string) (string, error) {
	raw, bearer := g.getenv("ACTIONS_ID_TOKEN_REQUEST_URL"), g.getenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
	if raw == "" || bearer == "" {
		return "", fmt.Errorf("GitHub Actions gives this job no OIDC token: add `permissions: id-token: write` to the workflow or job")
	}
	u, err := endpoint("ACTIONS_ID_TOKEN_REQUEST_URL", raw)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set("audience", audience)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "bearer "+bearer)
	req.Header.Set("Accept", "application/json; api-version=2.0")
	return fetchToken(g.http, req, "requesting the GitHub Actions OIDC token", "value")
}

// RunKey is the repository, run id, run attempt and job id. Matrix legs share
// a job id: give each its own --idempotency-key.
func (g *github) RunKey() string {
	e := g.getenv
	return joinKey("github", e("GITHUB_REPOSITORY"), e("GITHUB_RUN_ID"), e("GITHUB_RUN_ATTEMPT"), e("GITHUB_JOB"))
}
