package keyserver_test

import (
	"context"
	"strings"
	"testing"

	"keyserver/internal/devauth/ciauth"
	"keyserver/internal/keyserver"
)

const (
	githubIssuer = "https://token.actions.githubusercontent.com"
	gitlabIssuer = "https://gitlab.example.com"
)

func exact(claim, value string) keyserver.Condition {
	return keyserver.Condition{Claim: claim, Value: value}
}
func glob(claim, value string) keyserver.Condition {
	return keyserver.Condition{Claim: claim, Value: value, Glob: true}
}

// mainPolicy trusts octo/fw (id 4711) on main to order key2.
func mainPolicy() *keyserver.Policy {
	return &keyserver.Policy{ID: "github:octo/fw:main", Issuer: githubIssuer, Roles: []string{"orderer:key2"},
		Conditions: []keyserver.Condition{exact("repository_id", "4711"), exact("repository", "octo/fw"), exact("ref", "refs/heads/main")}}
}

func ciIdentity(issuer string, claims map[string]any) keyserver.Identity {
	return keyserver.Identity{Principal: keyserver.Principal{Issuer: issuer, Subject: claims["sub"].(string)}, Claims: claims}
}

func githubIdentity(j ciauth.GitHubJob) keyserver.Identity {
	return ciIdentity(githubIssuer, ciauth.GitHubClaims(j))
}

func (f *fixture) mustPutPolicy(tb testing.TB, p *keyserver.Policy) {
	tb.Helper()
	if err := f.svc.PutPolicy(context.Background(), f.mustCaller(tb, "admin"), p); err != nil {
		tb.Fatalf("PutPolicy(%s): %v", p.ID, err)
	}
}

func TestPolicyValidation(t *testing.T) {
	anchor := exact("repository_id", "4711")
	cases := []struct {
		name  string
		p     keyserver.Policy
		want  string // "" for valid
		field string // the request field the error names, next to which the UI shows it
	}{
		{"valid", keyserver.Policy{ID: "github:octo/fw:release/*", Issuer: githubIssuer, Roles: []string{"orderer:key1"},
			Conditions: []keyserver.Condition{anchor, glob("ref", "refs/heads/release/*")}}, "", ""},
		{"owner glob anchors", keyserver.Policy{ID: "octo", Issuer: githubIssuer, Roles: []string{"orderer:key1"}, Conditions: []keyserver.Condition{glob("repository", "octo/*")}}, "", ""},
		{"no anchor", keyserver.Policy{ID: "p", Issuer: githubIssuer, Roles: []string{"orderer:key1"}, Conditions: []keyserver.Condition{exact("ref", "refs/heads/main")}}, "must pin the repository", "conditions"},
		{"no conditions", keyserver.Policy{ID: "p", Issuer: githubIssuer, Roles: []string{"orderer:key1"}}, "must pin the repository", "conditions"},
		{"wildcard owner", keyserver.Policy{ID: "p", Issuer: githubIssuer, Roles: []string{"orderer:key1"}, Conditions: []keyserver.Condition{glob("repository", "*/fw")}}, "must pin the repository", "conditions"},
		{"glob on an exact claim", keyserver.Policy{ID: "p", Issuer: githubIssuer, Roles: []string{"orderer:key1"}, Conditions: []keyserver.Condition{anchor, glob("event_name", "pull_*")}}, "exact values only", "conditions"},
		{"glob on sub", keyserver.Policy{ID: "p", Issuer: githubIssuer, Roles: []string{"orderer:key1"}, Conditions: []keyserver.Condition{anchor, glob("sub", "repo:octo/*")}}, "exact values only", "conditions"},
		{"malformed glob", keyserver.Policy{ID: "p", Issuer: githubIssuer, Roles: []string{"orderer:key1"}, Conditions: []keyserver.Condition{anchor, glob("ref", "refs/[")}}, "malformed", "conditions"},
		{"claim twice", keyserver.Policy{ID: "p", Issuer: githubIssuer, Roles: []string{"orderer:key1"}, Conditions: []keyserver.Condition{anchor, exact("repository_id", "1")}}, "more than one condition", "conditions"},
		{"bad claim name", keyserver.Policy{ID: "p", Issuer: githubIssuer, Roles: []string{"orderer:key1"}, Conditions: []keyserver.Condition{anchor, exact("Ref", "x")}}, "not a claim name", "conditions"},
		{"empty value", keyserver.Policy{ID: "p", Issuer: githubIssuer, Roles: []string{"orderer:key1"}, Conditions: []keyserver.Condition{anchor, exact("ref", "")}}, "needs a value", "conditions"},
		{"no roles", keyserver.Policy{ID: "p", Issuer: githubIssuer, Conditions: []keyserver.Condition{anchor}}, "1 to 64 roles", "roles"},
		{"bad role", keyserver.Policy{ID: "p", Issuer: githubIssuer, Roles: []string{"king"}, Conditions: []keyserver.Condition{anchor}}, "is not one of", "roles"},
		{"no issuer", keyserver.Policy{ID: "p", Roles: []string{"orderer:key1"}, Conditions: []keyserver.Condition{anchor}}, "issuer", "issuer"},
		{"space in id", keyserver.Policy{ID: "a b", Issuer: githubIssuer, Roles: []string{"orderer:key1"}, Conditions: []keyserver.Condition{anchor}}, "visible characters", "id"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			err := f.svc.PutPolicy(context.Background(), f.mustCaller(t, "admin"), &c.p)
			if c.want == "" {
				if err != nil {
					t.Fatalf("PutPolicy: %v", err)
				}
				return
			}
			wantCode(t, err, keyserver.EINVALID)
			if !strings.Contains(keyserver.ErrorMessage(err), c.want) {
				t.Fatalf("message %q does not say %q", keyserver.ErrorMessage(err), c.want)
			}
			if got := keyserver.ErrorField(err); got != c.field {
				t.Fatalf("the error names field %q, want %q", got, c.field)
			}
			if ps, _ := f.store.Policies(context.Background()); len(ps) != 0 || len(f.store.GlobalAudit()) != 0 {
				t.Fatalf("a refused policy was stored or audited")
			}
		})
	}
}

// TestGitHubPolicies is issue 11's "done when" in the domain: the policy
// naming octo/fw (id 4711) and main lets that repository's main branch open
// operations, and refuses every near miss.
func TestGitHubPolicies(t *testing.T) {
	main := ciauth.GitHubJob{Repository: "octo/fw", RepositoryID: "4711", Ref: "refs/heads/main"}
	cases := []struct {
		name    string
		job     func(j ciauth.GitHubJob) ciauth.GitHubJob
		allowed bool
		why     string
	}{
		{"repository on main", func(j ciauth.GitHubJob) ciauth.GitHubJob { return j }, true, ""},
		{"another branch", func(j ciauth.GitHubJob) ciauth.GitHubJob { j.Ref = "refs/heads/dev"; return j }, false, `ref is "refs/heads/dev", not "refs/heads/main"`},
		{"another repository", func(j ciauth.GitHubJob) ciauth.GitHubJob {
			j.Repository, j.RepositoryID = "octo/other", "5000"
			return j
		}, false, `repository_id is "5000", not "4711"`},
		{"pull_request_target", func(j ciauth.GitHubJob) ciauth.GitHubJob { j.Event = "pull_request_target"; return j }, false, "pull_request_target"},
		{"recycled name", func(j ciauth.GitHubJob) ciauth.GitHubJob { j.RepositoryID = "9999"; return j }, false, `repository_id is "9999", not "4711"`},
		{"environment", func(j ciauth.GitHubJob) ciauth.GitHubJob { j.Environment = "production"; return j }, true, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			f.mustPutPolicy(t, mainPolicy())
			id := githubIdentity(c.job(main))
			caller, err := f.svc.Caller(context.Background(), id)
			me, merr := f.svc.Me(context.Background(), id)
			if merr != nil || len(me.Policies) != 1 {
				t.Fatalf("Me = %+v, %v", me, merr)
			}
			r := me.Policies[0]
			if c.allowed {
				if err != nil || !r.Matched || caller.Policies[0] != "github:octo/fw:main" {
					t.Fatalf("Caller = %+v, %v; policy result %+v", caller, err, r)
				}
				if _, err := f.svc.CreateOperation(context.Background(), caller, request(kr("key2", 1))); err != nil {
					t.Fatalf("CreateOperation: %v", err)
				}
				return
			}
			wantCode(t, err, keyserver.EFORBIDDEN)
			if !strings.Contains(keyserver.ErrorMessage(err), "GET /api/me") {
				t.Fatalf("refusal %q does not point at GET /api/me", keyserver.ErrorMessage(err))
			}
			if r.Matched || !strings.Contains(explain(r), c.why) {
				t.Fatalf("Me explains %q, want it to say %q", explain(r), c.why)
			}
		})
	}
}

// explain joins a policy result's reasons as /api/me shows them.
func explain(r keyserver.PolicyResult) string {
	parts := []string{r.Refusal}
	for _, c := range r.Conditions {
		parts = append(parts, c.Reason)
	}
	return strings.Join(parts, "; ")
}

func TestPullRequestTargetMatchesOnlyWhenNamed(t *testing.T) {
	f := newFixture(t)
	p := mainPolicy()
	p.ID, p.Conditions = "prt", append(p.Conditions, exact("event_name", "pull_request_target"))
	f.mustPutPolicy(t, p)
	c, err := f.svc.Caller(context.Background(), githubIdentity(ciauth.GitHubJob{Repository: "octo/fw", RepositoryID: "4711", Ref: "refs/heads/main", Event: "pull_request_target"}))
	if err != nil || len(c.Policies) != 1 {
		t.Fatalf("a policy naming pull_request_target did not match: %+v, %v", c, err)
	}
}

func TestGitLabForkMergeRequests(t *testing.T) {
	f := newFixture(t)
	f.mustPutPolicy(t, &keyserver.Policy{ID: "gitlab:group/fw", Issuer: gitlabIssuer, Roles: []string{"orderer:key2"},
		Conditions: []keyserver.Condition{glob("project_path", "group/*"), exact("ref_protected", "true")}})
	own := ciauth.GitLabClaims(ciauth.GitLabJob{ProjectPath: "group/fw", ProjectID: "8800", Ref: "main", RefProtected: true})
	if _, err := f.svc.Caller(context.Background(), ciIdentity(gitlabIssuer, own)); err != nil {
		t.Fatalf("the project's own protected branch: %v", err)
	}
	// A fork inside the group, its merge request pipeline running in group/fw.
	fork := ciauth.GitLabClaims(ciauth.GitLabJob{ProjectPath: "group/fw-fork", ProjectID: "9900", Ref: "main", RefProtected: true, PipelineSource: "merge_request_event"})
	fork["job_project_path"], fork["job_project_id"] = "group/fw", "8800"
	_, err := f.svc.Caller(context.Background(), ciIdentity(gitlabIssuer, fork))
	wantCode(t, err, keyserver.EFORBIDDEN)
	me, _ := f.svc.Me(context.Background(), ciIdentity(gitlabIssuer, fork))
	if r := me.Policies[0]; r.Matched || !strings.Contains(r.Refusal, `fork "group/fw-fork" running in "group/fw"`) {
		t.Fatalf("Me = %+v", r)
	}
	// A policy that names the fork's merge requests trusts them.
	f.mustPutPolicy(t, &keyserver.Policy{ID: "gitlab:fork", Issuer: gitlabIssuer, Roles: []string{"orderer:key1"},
		Conditions: []keyserver.Condition{exact("project_path", "group/fw-fork"), exact("pipeline_source", "merge_request_event")}})
	c, err := f.svc.Caller(context.Background(), ciIdentity(gitlabIssuer, fork))
	if err != nil || strings.Join(c.Roles, ",") != "orderer:key1" {
		t.Fatalf("Caller = %+v, %v; want the fork policy's role only", c, err)
	}
}

func TestPolicyRolesAddUp(t *testing.T) {
	f := newFixture(t)
	f.mustPutPolicy(t, mainPolicy())
	f.mustPutPolicy(t, &keyserver.Policy{ID: "octo-any", Issuer: githubIssuer, Roles: []string{"approver:key3"}, Conditions: []keyserver.Condition{glob("repository", "octo/*")}})
	f.mustPutPolicy(t, &keyserver.Policy{ID: "gitlab", Issuer: gitlabIssuer, Roles: []string{"admin"}, Conditions: []keyserver.Condition{exact("project_id", "4711")}})
	id := githubIdentity(ciauth.GitHubJob{Repository: "octo/fw", RepositoryID: "4711", Ref: "refs/heads/main"})
	mustDo(t, f.store.PutSubject(context.Background(), &keyserver.Subject{Principal: id.Principal, Roles: []string{"orderer:key1"}}, keyserver.AuditEvent{}))
	c, err := f.svc.Caller(context.Background(), id)
	if err != nil || strings.Join(c.Roles, ",") != "orderer:key1,orderer:key2,approver:key3" || len(c.Policies) != 2 {
		t.Fatalf("Caller = %+v, %v; want the subject's and both matching policies' roles", c, err)
	}
	me, _ := f.svc.Me(context.Background(), id)
	if len(me.Policies) != 2 {
		t.Fatalf("Me shows %d policies, want the 2 of the caller's issuer", len(me.Policies))
	}
}

func TestPoliciesNeverMatchPeople(t *testing.T) {
	f := newFixture(t)
	f.mustPutPolicy(t, &keyserver.Policy{ID: "entra-app", Issuer: "https://login.microsoftonline.com/t/v2.0", Roles: []string{"orderer:key1"},
		Conditions: []keyserver.Condition{exact("azp", "client-app")}})
	person := keyserver.Identity{Principal: keyserver.Principal{Issuer: "https://login.microsoftonline.com/t/v2.0", Subject: "oid-1", Kind: keyserver.KindPerson},
		Claims: map[string]any{"azp": "client-app", "scp": "access", "oid": "oid-1"}}
	_, err := f.svc.Caller(context.Background(), person)
	wantCode(t, err, keyserver.EFORBIDDEN)
	me, err := f.svc.Me(context.Background(), person)
	if err != nil || !strings.Contains(me.Policies[0].Refusal, "person") {
		t.Fatalf("Me = %+v, %v", me, err)
	}
}

func TestPolicyChangesAreAuditedAndAdminOnly(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	wantCode(t, f.svc.PutPolicy(ctx, f.mustCaller(t, "ordapp"), mainPolicy()), keyserver.EFORBIDDEN)
	_, err := f.svc.AdminPolicies(ctx, f.mustCaller(t, "auditor"))
	wantCode(t, err, keyserver.EFORBIDDEN)
	id := githubIdentity(ciauth.GitHubJob{Repository: "octo/fw", RepositoryID: "4711", Ref: "refs/heads/main"})
	_, err = f.svc.Caller(ctx, id)
	wantCode(t, err, keyserver.EFORBIDDEN)
	f.mustPutPolicy(t, mainPolicy())
	if _, err := f.svc.Caller(ctx, id); err != nil {
		t.Fatalf("a new policy does not apply at once: %v", err)
	}
	mustDo(t, f.svc.DeletePolicy(ctx, f.mustCaller(t, "admin"), "github:octo/fw:main"))
	_, err = f.svc.Caller(ctx, id)
	wantCode(t, err, keyserver.EFORBIDDEN)
	wantCode(t, f.svc.DeletePolicy(ctx, f.mustCaller(t, "admin"), "github:octo/fw:main"), keyserver.ENOTFOUND)
	evs := f.store.GlobalAudit()
	// The put and the delete; the refused delete left no record.
	if len(evs) != 2 || !strings.HasPrefix(evs[0].Detail, "put policy github:octo/fw:main issuer") || evs[1].Detail != "delete policy github:octo/fw:main" ||
		evs[0].Action != keyserver.ActionAdminPolicy || evs[0].Target != "github:octo/fw:main" || evs[1].Result != "ok" {
		t.Fatalf("audit = %+v", evs)
	}
}
