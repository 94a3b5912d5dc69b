package keyserver

import (
	"fmt"
	"path"
	"strconv"
)

// ConditionResult is how one condition of a policy fared against a token.
type ConditionResult struct {
	Condition
	// Actual is the token's value of the claim; Present is false when it has none.
	Actual  string
	Present bool
	OK      bool
	// Reason says why the condition holds or not, in a sentence.
	Reason string
}

// PolicyResult is how a policy fared against a token, condition by condition.
type PolicyResult struct {
	Policy     *Policy
	Matched    bool
	Conditions []ConditionResult
	// Refusal, when set, is why the policy cannot match this token whatever
	// its conditions say: another issuer, a person, or a risky event the
	// policy does not name.
	Refusal string
}

// ClaimString returns a claim as text: strings as they are, numbers and
// booleans formatted; ok is false when the claim is absent or not a scalar.
func ClaimString(claims map[string]any, name string) (string, bool) {
	switch v := claims[name].(type) {
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case int64:
		return strconv.FormatInt(v, 10), true
	case int:
		return strconv.Itoa(v), true
	case fmt.Stringer: // json.Number
		return v.String(), true
	}
	return "", false
}

// EvaluatePolicy tests a policy against the verified identity and claims of a token.
func EvaluatePolicy(p *Policy, who Principal, claims map[string]any) PolicyResult {
	r := PolicyResult{Policy: p, Conditions: make([]ConditionResult, 0, len(p.Conditions))}
	all := true
	for _, c := range p.Conditions {
		cr := evaluateCondition(c, claims)
		all = all && cr.OK
		r.Conditions = append(r.Conditions, cr)
	}
	r.Refusal = refusal(p, who, claims)
	r.Matched = all && r.Refusal == ""
	return r
}

func evaluateCondition(c Condition, claims map[string]any) ConditionResult {
	cr := ConditionResult{Condition: c}
	cr.Actual, cr.Present = ClaimString(claims, c.Claim)
	switch {
	case !cr.Present:
		cr.Reason = fmt.Sprintf("the token has no %s claim", c.Claim)
	case c.Glob:
		cr.OK, _ = path.Match(c.Value, cr.Actual)
		cr.Reason = fmt.Sprintf("%s is %q, which %s the glob %q", c.Claim, cr.Actual, verb(cr.OK, "matches", "does not match"), c.Value)
	default:
		cr.OK = cr.Actual == c.Value
		cr.Reason = fmt.Sprintf("%s is %q, %s %q", c.Claim, cr.Actual, verb(cr.OK, "as required:", "not"), c.Value)
	}
	return cr
}

func verb(ok bool, yes, no string) string {
	if ok {
		return yes
	}
	return no
}

// refusal says why p may not match a token whatever its conditions.
func refusal(p *Policy, who Principal, claims map[string]any) string {
	switch {
	case who.Issuer != p.Issuer:
		return fmt.Sprintf("the token's issuer is %q, not the policy's %q", who.Issuer, p.Issuer)
	case who.Kind == KindPerson:
		return "the token is a person's; policies grant roles to apps (pipelines, service connections) only"
	case IsPullRequestTarget(claims) && !p.requires("event_name", "pull_request_target"):
		return "the token comes from a pull_request_target workflow, which runs with the base repository's rights for a pull request; a policy trusts those only when it requires event_name to be pull_request_target"
	case IsForkMergeRequest(claims) && !(p.requires("pipeline_source", "merge_request_event") && (p.exactOn("project_path") || p.exactOn("project_id"))):
		job, _ := ClaimString(claims, "job_project_path")
		fork, _ := ClaimString(claims, "project_path")
		return fmt.Sprintf("the token comes from a merge request pipeline of the fork %q running in %q; a policy trusts those only when it requires pipeline_source to be merge_request_event and names the fork's project_path or project_id exactly", fork, job)
	}
	return ""
}

// requires reports whether p has the exact condition claim = value.
func (p *Policy) requires(claim, value string) bool {
	for _, c := range p.Conditions {
		if c.Claim == claim && !c.Glob && c.Value == value {
			return true
		}
	}
	return false
}

// exactOn reports whether p has an exact condition on claim.
func (p *Policy) exactOn(claim string) bool {
	for _, c := range p.Conditions {
		if c.Claim == claim && !c.Glob {
			return true
		}
	}
	return false
}

// IsPullRequestTarget reports a GitHub token of a pull_request_target
// workflow: it runs the base repository's workflow, with its secrets and
// often its ref, on behalf of a pull request.
func IsPullRequestTarget(claims map[string]any) bool {
	ev, _ := ClaimString(claims, "event_name")
	return ev == "pull_request_target"
}

// IsForkMergeRequest reports a GitLab token of a merge request pipeline
// from a fork: its project_* claims name the fork, its job_project_* claims
// the project the job runs in.
func IsForkMergeRequest(claims map[string]any) bool {
	if src, _ := ClaimString(claims, "pipeline_source"); src != "merge_request_event" {
		return false
	}
	for _, pair := range [][2]string{{"project_path", "job_project_path"}, {"project_id", "job_project_id"}} {
		own, _ := ClaimString(claims, pair[0])
		job, ok := ClaimString(claims, pair[1])
		if ok && job != own {
			return true
		}
	}
	return false
}
