package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"keyserver/internal/devauth/ciauth"
	"keyserver/internal/keyserver"
	"keyserver/internal/keyserver/memstore"
)

const ghIssuer = "https://token.actions.githubusercontent.com"

// tokens is a verifier that knows each test token by name.
type tokens map[string]keyserver.Identity

func (t tokens) Verify(ctx context.Context, token string) (keyserver.Identity, error) {
	id, ok := t[token]
	if !ok {
		return keyserver.Identity{}, keyserver.Errorf(keyserver.EUNAUTHENTICATED, "unknown test token")
	}
	return id, nil
}

func ghToken(ref, event, repoID string) keyserver.Identity {
	claims := ciauth.GitHubClaims(ciauth.GitHubJob{Repository: "octo/fw", RepositoryID: repoID, Ref: ref, Event: event, RunID: "77"})
	return keyserver.Identity{Principal: keyserver.Principal{Issuer: ghIssuer, Subject: claims["sub"].(string)}, Claims: claims}
}

type policyFixture struct {
	t       *testing.T
	store   *memstore.Store
	handler http.Handler
}

func newPolicyFixture(t *testing.T) *policyFixture {
	f := &policyFixture{t: t, store: memstore.New()}
	admin := keyserver.Principal{Issuer: "https://auth.example", Subject: "admin"}
	svc := &keyserver.Service{Ops: f.store, Keys: f.store, Subjects: f.store, Policies: f.store, Audit: f.store,
		Limits: keyserver.DefaultLimits, BootstrapAdmins: []keyserver.Principal{admin}}
	verifier := tokens{
		"admin":   {Principal: admin},
		"main":    ghToken("refs/heads/main", "push", "4711"),
		"dev":     ghToken("refs/heads/dev", "push", "4711"),
		"prt":     ghToken("refs/heads/main", "pull_request_target", "4711"),
		"recycle": ghToken("refs/heads/main", "push", "9999"),
	}
	f.handler = (&Server{Service: svc, Verifier: verifier, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler()
	mustNil(t, f.store.PutKey(context.Background(), &keyserver.Key{KeyID: "key2", HSMKey: "https://vault.example/keys/k2", RequiredApprovals: 1, Enabled: true}, keyserver.AuditEvent{}))
	return f
}

// call sends a request and decodes the JSON answer into out, if any.
func (f *policyFixture) call(method, target, token string, body, out any) int {
	f.t.Helper()
	var rd io.Reader = strings.NewReader("")
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req := httptest.NewRequest(method, target, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	if out != nil && rec.Body.Len() > 0 {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			f.t.Fatalf("%s %s: %d %s", method, target, rec.Code, rec.Body)
		}
	}
	return rec.Code
}

const policyID = "github:octo/fw:refs/heads/main"

var mainPolicyBody = map[string]any{
	"issuer": ghIssuer, "description": "Releases of octo/fw", "roles": []string{"orderer:key2"},
	"conditions": []map[string]string{{"claim": "repository_id", "equals": "4711"}, {"claim": "ref", "glob": "refs/heads/main"}},
}

func byID(id string) string { return "?" + url.Values{"id": {id}}.Encode() }

func TestAdminPolicyRoutes(t *testing.T) {
	f := newPolicyFixture(t)
	var got policyView
	if st := f.call("PUT", "/api/admin/policies"+byID(policyID), "admin", mainPolicyBody, &got); st != 200 || got.ID != policyID || got.Conditions[1].Glob != "refs/heads/main" {
		t.Fatalf("PUT = %d %+v", st, got)
	}
	var list []policyView
	if st := f.call("GET", "/api/admin/policies", "admin", nil, &list); st != 200 || len(list) != 1 || list[0].ID != policyID {
		t.Fatalf("GET list = %d %+v", st, list)
	}
	var one policyView
	if st := f.call("GET", "/api/admin/policies"+byID(policyID), "admin", nil, &one); st != 200 || one.Description != "Releases of octo/fw" {
		t.Fatalf("GET one = %d %+v", st, one)
	}
	f.call("PUT", "/api/admin/policies/simple-id", "admin", mainPolicyBody, nil)
	if st := f.call("GET", "/api/admin/policies/simple-id", "admin", nil, &one); st != 200 || one.ID != "simple-id" {
		t.Fatalf("GET by path = %d %+v", st, one)
	}
	refusals := []struct {
		method, target, token string
		body                  any
		want                  int
	}{
		{"PUT", "/api/admin/policies", "admin", mainPolicyBody, 400},
		{"PUT", "/api/admin/policies/a" + byID("b"), "admin", mainPolicyBody, 400},
		{"PUT", "/api/admin/policies" + byID("x"), "admin", map[string]any{"issuer": ghIssuer, "roles": []string{"orderer:key2"},
			"conditions": []map[string]string{{"claim": "repository_id", "equals": "1", "glob": "1"}}}, 400},
		{"PUT", "/api/admin/policies" + byID("x"), "admin", map[string]any{"issuer": ghIssuer, "roles": []string{"orderer:key2"},
			"conditions": []map[string]string{{"claim": "ref", "equals": "refs/heads/main"}}}, 400},
		{"PUT", "/api/admin/policies" + byID("x"), "main", mainPolicyBody, 403},
		{"GET", "/api/admin/policies", "main", nil, 403},
		{"GET", "/api/admin/policies" + byID("nope"), "admin", nil, 404},
	}
	for _, r := range refusals {
		if st := f.call(r.method, r.target, r.token, r.body, nil); st != r.want {
			t.Errorf("%s %s as %s = %d, want %d", r.method, r.target, r.token, st, r.want)
		}
	}
	if st := f.call("DELETE", "/api/admin/policies"+byID(policyID), "admin", nil, nil); st != 204 {
		t.Fatalf("DELETE = %d", st)
	}
	if st := f.call("GET", "/api/admin/policies"+byID(policyID), "admin", nil, nil); st != 404 {
		t.Fatalf("GET after DELETE = %d", st)
	}
	if evs := f.store.GlobalAudit(); len(evs) != 3 || evs[2].Detail != "delete policy "+policyID {
		t.Fatalf("audit = %+v", evs)
	}
}

func TestSubjectIDsWithSlashesGoInTheQuery(t *testing.T) {
	f := newPolicyFixture(t)
	sub := "repo:octo/fw:ref:refs/heads/main"
	var got map[string]any
	if st := f.call("PUT", "/api/admin/subjects"+byID(sub), "admin", map[string]any{"issuer": ghIssuer, "roles": []string{"orderer:key2"}}, &got); st != 200 || got["subject"] != sub {
		t.Fatalf("PUT = %d %v", st, got)
	}
	if st := f.call("GET", "/api/admin/subjects"+byID(sub)+"&issuer="+url.QueryEscape(ghIssuer), "admin", nil, &got); st != 200 || got["subject"] != sub {
		t.Fatalf("GET = %d %v", st, got)
	}
	var me meBody
	if st := f.call("GET", "/api/me", "main", nil, &me); st != 200 || strings.Join(me.Roles, ",") != "orderer:key2" {
		t.Fatalf("GET /api/me of the registered subject = %d %+v", st, me)
	}
	if st := f.call("DELETE", "/api/admin/subjects"+byID(sub), "admin", nil, nil); st != 204 {
		t.Fatalf("DELETE = %d", st)
	}
	var list []map[string]any
	if st := f.call("GET", "/api/admin/subjects", "admin", nil, &list); st != 200 || len(list) != 0 {
		t.Fatalf("GET without an id = %d %v, want the (now empty) list", st, list)
	}
}

// TestMeExplainsEveryRefusal: each near miss gets 200 from GET /api/me with
// no roles and the policy's verdict, condition by condition.
func TestMeExplainsEveryRefusal(t *testing.T) {
	f := newPolicyFixture(t)
	f.call("PUT", "/api/admin/policies"+byID(policyID), "admin", mainPolicyBody, nil)
	cases := []struct {
		token   string
		matched bool
		failing string // the claim of the failing condition, or "refusal"
		says    string
	}{
		{"main", true, "", ""},
		{"dev", false, "ref", `ref is "refs/heads/dev", which does not match the glob "refs/heads/main"`},
		{"recycle", false, "repository_id", `repository_id is "9999", not "4711"`},
		{"prt", false, "refusal", "pull_request_target"},
	}
	for _, c := range cases {
		var me meBody
		if st := f.call("GET", "/api/me", c.token, nil, &me); st != 200 || len(me.Policies) != 1 {
			t.Fatalf("GET /api/me as %s = %d %+v", c.token, st, me)
		}
		p := me.Policies[0]
		if p.Matched != c.matched || (c.matched != (len(me.Roles) == 1)) {
			t.Fatalf("%s: %+v", c.token, me)
		}
		for _, cond := range p.Conditions {
			if cond.Actual == nil || cond.OK != (cond.Claim != c.failing) {
				t.Errorf("%s: condition %+v", c.token, cond)
			}
			if cond.Claim == c.failing && cond.Reason != c.says {
				t.Errorf("%s: reason %q, want %q", c.token, cond.Reason, c.says)
			}
		}
		if c.failing == "refusal" && !strings.Contains(p.Refusal, c.says) {
			t.Errorf("%s: refusal %q", c.token, p.Refusal)
		}
		if !c.matched && f.call("POST", "/api/operations", c.token, map[string]any{"validms": 60000, "description": "Release 1.2.3",
			"new-keyusagerestrictions": []map[string]any{{"keyid": "key2", "maxusagecount": 1}}}, nil) != 403 {
			t.Errorf("%s may open operations", c.token)
		}
	}
}

// TestOperationsShowTheirBuildContext: from the token, never from the body.
func TestOperationsShowTheirBuildContext(t *testing.T) {
	f := newPolicyFixture(t)
	f.call("PUT", "/api/admin/policies"+byID(policyID), "admin", mainPolicyBody, nil)
	req := map[string]any{"validms": 60000, "description": "Release 1.2.3", "new-keyusagerestrictions": []map[string]any{{"keyid": "key2", "maxusagecount": 1}}}
	var op struct {
		ID           string            `json:"id"`
		BuildContext *buildContextView `json:"buildcontext"`
	}
	if st := f.call("POST", "/api/operations", "main", req, &op); st != 201 || op.BuildContext == nil {
		t.Fatalf("POST = %d %+v", st, op)
	}
	want := buildContextView{Platform: "github", Repository: "octo/fw", RepositoryID: "4711", Ref: "refs/heads/main",
		SHA: "0123456789abcdef0123456789abcdef01234567", Workflow: "octo/fw/.github/workflows/release.yml@refs/heads/main",
		RunID: "77", RunAttempt: "1", Actor: "octocat", Event: "push", RunURL: "https://github.com/octo/fw/actions/runs/77/attempts/1"}
	var again struct {
		BuildContext *buildContextView `json:"buildcontext"`
	}
	if st := f.call("GET", "/api/operations/"+op.ID, "main", nil, &again); st != 200 || *again.BuildContext != want {
		t.Fatalf("GET = %d %+v, want %+v", st, again.BuildContext, want)
	}
	req["buildcontext"] = map[string]any{"repository": "forged/repo"}
	if st := f.call("POST", "/api/operations", "main", req, nil); st != 400 {
		t.Fatalf("a body naming its own build context answered %d, want 400", st)
	}
}
