package ciplatform

import (
	"context"
	"fmt"
	"strings"

	"keyserver/internal/ksc"
)

// DefaultGitLabVariable is the id_tokens variable ks reads on GitLab unless
// KSC_ID_TOKEN_VARIABLE names another.
const DefaultGitLabVariable = "KEYSERVER_ID_TOKEN"

// gitlab is GitLab CI: the job's OIDC token is the id_tokens variable its
// YAML names, with the audience the YAML sets. GitLab issues it once per
// job, valid until the job's timeout.
type gitlab struct {
	getenv func(string) string
}

func (g *gitlab) Name() string { return "GitLab CI" }

func (g *gitlab) variable() string {
	if v := strings.TrimSpace(g.getenv("KSC_ID_TOKEN_VARIABLE")); v != "" {
		return v
	}
	return DefaultGitLabVariable
}

// Token returns the id_tokens variable. GitLab fixes its audience in the
// job's YAML; a token for another audience than asked is refused here, as
// the Keyserver would refuse it.
func (g *gitlab) Token(ctx context.Context, audience string) (string, error) {
	name := g.variable()
	tok := strings.TrimSpace(g.getenv(name))
	if tok == "" {
		return "", fmt.Errorf("the GitLab job has no id_tokens variable %s: add `id_tokens: { %s: { aud: %s } }` to the job (or name yours in KSC_ID_TOKEN_VARIABLE)", name, name, audience)
	}
	if audience != "" {
		if auds := ksc.JWTAudiences(tok); len(auds) > 0 && !contains(auds, audience) {
			return "", fmt.Errorf("the id_tokens variable %s is for audience %s, not %s: set its aud to %s in the job's YAML", name, strings.Join(auds, ", "), audience, audience)
		}
	}
	return tok, nil
}

// RunKey is the project, pipeline id and job id; a retried job has a new job id.
func (g *gitlab) RunKey() string {
	e := g.getenv
	return joinKey("gitlab", e("CI_PROJECT_PATH"), e("CI_PIPELINE_ID"), e("CI_JOB_ID"))
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
