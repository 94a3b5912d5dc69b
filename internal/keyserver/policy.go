package keyserver

import (
	"path"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Policy is a trust policy: callers of Issuer whose verified token meets
// every condition hold Roles, without being registered one by one. It is
// how pipelines are trusted, whose subjects change with every branch,
// environment and event.
type Policy struct {
	ID          string
	Issuer      string
	Description string
	Conditions  []Condition
	Roles       []string
}

// Condition is one test of a token claim: an exact value, or a glob (path.Match
// syntax, `*` not crossing `/`) on a claim that is a path or a ref.
type Condition struct {
	Claim string
	Value string
	Glob  bool
}

// AnchorClaims name the repository, project or app a policy must pin: a
// policy without a condition on one of them would trust everything an issuer
// signs (every repository on github.com).
var AnchorClaims = []string{"repository_id", "repository", "project_id", "project_path", "job_project_id", "job_project_path", "appid", "azp"}

// GlobClaims are the claims that are paths or refs, where a condition may be a glob.
var GlobClaims = []string{"repository", "ref", "base_ref", "head_ref", "workflow_ref", "job_workflow_ref",
	"project_path", "job_project_path", "namespace_path", "ref_path", "ci_config_ref_uri"}

// Limits of a policy.
const (
	maxPolicyID         = 128
	maxPolicyConditions = 16
	maxConditionValue   = 512
	maxPolicyRoles      = 64
)

var claimNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// ValidatePolicyID accepts 1 to 128 visible characters; `/` and `:` are fine.
func ValidatePolicyID(id string) error {
	if id == "" || utf8.RuneCountInString(id) > maxPolicyID || strings.ContainsFunc(id, func(r rune) bool { return r < 0x21 || r == 0x7f }) {
		return Errorf(EINVALID, "A policy id must be 1 to %d visible characters without spaces.", maxPolicyID).On("id")
	}
	return nil
}

// Validate checks a policy before it is stored.
func (p *Policy) Validate() error {
	if err := ValidatePolicyID(p.ID); err != nil {
		return err
	}
	if p.Issuer == "" || len(p.Issuer) > 512 {
		return Errorf(EINVALID, "A policy needs the issuer whose tokens it matches (at most 512 characters).").On("issuer")
	}
	if utf8.RuneCountInString(p.Description) > 1024 {
		return Errorf(EINVALID, "description must be at most 1024 characters long.").On("description")
	}
	if len(p.Roles) == 0 || len(p.Roles) > maxPolicyRoles {
		return Errorf(EINVALID, "A policy grants 1 to %d roles.", maxPolicyRoles).On("roles")
	}
	for _, r := range p.Roles {
		if err := ValidateRole(r); err != nil {
			return err
		}
	}
	if len(p.Conditions) > maxPolicyConditions {
		return Errorf(EINVALID, "A policy has at most %d conditions.", maxPolicyConditions).On("conditions")
	}
	seen := map[string]bool{}
	anchored := false
	for _, c := range p.Conditions {
		if err := c.validate(); err != nil {
			return err
		}
		if seen[c.Claim] {
			return Errorf(EINVALID, "Claim %q has more than one condition; a token has one value for it.", c.Claim).On("conditions")
		}
		seen[c.Claim] = true
		anchored = anchored || c.anchors()
	}
	if !anchored {
		return Errorf(EINVALID, "A policy must pin the repository, project or app with a condition on one of %s: without one it would trust every repository the issuer signs for.", strings.Join(AnchorClaims, ", ")).On("conditions")
	}
	return nil
}

func (c Condition) validate() error {
	if !claimNamePattern.MatchString(c.Claim) {
		return Errorf(EINVALID, "Condition claim %q is not a claim name (lower-case letters, digits and _).", c.Claim).On("conditions")
	}
	if c.Value == "" || utf8.RuneCountInString(c.Value) > maxConditionValue {
		return Errorf(EINVALID, "The condition on %s needs a value of 1 to %d characters.", c.Claim, maxConditionValue).On("conditions")
	}
	if !c.Glob {
		return nil
	}
	if !isGlobClaim(c.Claim) {
		return Errorf(EINVALID, "Claim %s takes exact values only; globs are for the paths and refs %s.", c.Claim, strings.Join(GlobClaims, ", ")).On("conditions")
	}
	if _, err := path.Match(c.Value, ""); err != nil {
		return Errorf(EINVALID, "The glob %q on %s is malformed.", c.Value, c.Claim).On("conditions")
	}
	return nil
}

// anchors reports whether c pins a repository, project or app: an exact
// value, or a glob on a path whose first segment (the owner) is literal.
func (c Condition) anchors() bool {
	if !isAnchorClaim(c.Claim) {
		return false
	}
	if !c.Glob {
		return true
	}
	owner, _, _ := strings.Cut(c.Value, "/")
	return owner != "" && !strings.ContainsAny(owner, `*?[\`)
}

func isAnchorClaim(claim string) bool { return contains(AnchorClaims, claim) }
func isGlobClaim(claim string) bool   { return contains(GlobClaims, claim) }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
