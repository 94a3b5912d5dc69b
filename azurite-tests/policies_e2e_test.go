package azuritetests

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"keyserver/internal/devauth/ciauth"
	"keyserver/internal/localstack"
)

// githubToken asks the local stack's GitHub stand-in for a job's token, as
// the job itself would (ACTIONS_ID_TOKEN_REQUEST_URL).
func githubToken(tb testing.TB, job ciauth.GitHubJob) string {
	tb.Helper()
	st := mustStack(tb)
	u, bearer := st.CI.GitHubJobEnv(ciauth.GitHubClaims(job))
	req, err := http.NewRequest("GET", u+"&audience="+url.QueryEscape(localstack.Audience), nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "bearer "+bearer)
	resp, err := apiClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var answer struct{ Value string }
	if err := json.NewDecoder(resp.Body).Decode(&answer); err != nil || answer.Value == "" {
		tb.Fatalf("GitHub stand-in: %s %v", resp.Status, err)
	}
	return answer.Value
}

// mustPolicy registers a trust policy through the admin API, id in the query.
func mustPolicy(tb testing.TB, id string, body map[string]any) {
	tb.Helper()
	a := mustDo(tb, "PUT", "/api/admin/policies?"+url.Values{"id": {id}}.Encode(), mustToken(tb, "adminclient"), body)
	if a.Status != http.StatusOK {
		tb.Fatalf("PUT policy %s: %d %s", id, a.Status, a.Body)
	}
}

// meAnswer is GET /api/me as the tests read it.
type meAnswer struct {
	Subject  string   `json:"subject"`
	Roles    []string `json:"roles"`
	Policies []struct {
		ID         string `json:"id"`
		Matched    bool   `json:"matched"`
		Refusal    string `json:"refusal"`
		Conditions []struct {
			Claim  string  `json:"claim"`
			Actual *string `json:"actual"`
			OK     bool    `json:"ok"`
			Reason string  `json:"reason"`
		} `json:"conditions"`
	} `json:"policies"`
}

func mustExplain(tb testing.TB, token string) meAnswer {
	tb.Helper()
	var me meAnswer
	mustDo(tb, "GET", "/api/me", token, nil).mustDecode(tb, http.StatusOK, &me)
	return me
}

// TestGitHubTrustPolicy is issue 11's "done when" for GitHub against the
// local stack: a policy naming repository X (by id and name) and main lets
// X's main branch open operations; another branch, another repository, a
// pull_request_target event and a recycled name with another repository_id
// are refused, and GET /api/me explains each, condition by condition.
func TestGitHubTrustPolicy(t *testing.T) {
	st := mustStack(t)
	repo, id, other := uniqueName("octo/fw"), uniqueNumber(), uniqueNumber()
	policyID := "github:" + repo + ":main"
	mustPolicy(t, policyID, map[string]any{"issuer": st.CI.GitHubIssuer(), "description": "releases of " + repo, "roles": []string{"orderer:key4"},
		"conditions": []map[string]string{{"claim": "repository_id", "equals": id}, {"claim": "repository", "equals": repo}, {"claim": "ref", "equals": "refs/heads/main"}}})
	main := ciauth.GitHubJob{Repository: repo, RepositoryID: id, Ref: "refs/heads/main", RunID: "8080"}

	tok := githubToken(t, main)
	var op opView
	var raw map[string]any
	a := mustDo(t, "POST", "/api/operations", tok, opRequest(60000, map[string]int{"key4": 1}))
	a.mustDecode(t, http.StatusCreated, &op)
	json.Unmarshal(a.Body, &raw)
	bc, _ := raw["buildcontext"].(map[string]any)
	if bc["repository"] != repo || bc["ref"] != "refs/heads/main" || bc["runid"] != "8080" || bc["platform"] != "github" {
		t.Fatalf("the operation's build context = %v", raw["buildcontext"])
	}
	if me := mustExplain(t, tok); len(me.Policies) == 0 || strings.Join(me.Roles, ",") != "orderer:key4" {
		t.Fatalf("GET /api/me on main = %+v", me)
	}

	refused := []struct {
		name  string
		job   ciauth.GitHubJob
		claim string // a condition that fails, or "" for a refusal of the whole policy
		says  string
		alone bool // the only condition that fails
	}{
		{"another branch", ciauth.GitHubJob{Repository: repo, RepositoryID: id, Ref: "refs/heads/dev"}, "ref", `ref is "refs/heads/dev", not "refs/heads/main"`, true},
		{"another repository", ciauth.GitHubJob{Repository: repo + "-other", RepositoryID: other, Ref: "refs/heads/main"}, "repository_id", `repository_id is "` + other + `", not "` + id + `"`, false},
		{"pull_request_target", ciauth.GitHubJob{Repository: repo, RepositoryID: id, Ref: "refs/heads/main", Event: "pull_request_target"}, "", "pull_request_target", true},
		{"recycled name", ciauth.GitHubJob{Repository: repo, RepositoryID: other, Ref: "refs/heads/main"}, "repository_id", `repository_id is "` + other + `", not "` + id + `"`, true},
	}
	for _, r := range refused {
		t.Run(r.name, func(t *testing.T) {
			tok := githubToken(t, r.job)
			e := mustDo(t, "POST", "/api/operations", tok, opRequest(60000, map[string]int{"key4": 1})).mustRefuse(t, http.StatusForbidden, "forbidden")
			if !strings.Contains(e.Message, "GET /api/me") {
				t.Fatalf("the refusal %q does not point at GET /api/me", e.Message)
			}
			me := mustExplain(t, tok)
			explained := false
			for _, p := range me.Policies {
				if p.ID != policyID {
					continue
				}
				if p.Matched || len(me.Roles) != 0 {
					t.Fatalf("policy %s matched: %+v", policyID, me)
				}
				if r.claim == "" {
					explained = strings.Contains(p.Refusal, r.says)
				}
				for _, c := range p.Conditions {
					if c.Claim == r.claim {
						explained = !c.OK && c.Reason == r.says
					} else if r.alone && !c.OK {
						t.Errorf("condition %s fails too: %s", c.Claim, c.Reason)
					}
				}
			}
			if !explained {
				t.Fatalf("GET /api/me does not explain %q: %+v", r.says, me)
			}
		})
	}
}

// TestGitLabForkMergeRequestIsRefused: a policy on the group's projects with
// protected refs trusts the project's own pipelines, never a fork's merge
// request pipeline running in it, and GET /api/me says why.
func TestGitLabForkMergeRequestIsRefused(t *testing.T) {
	st := mustStack(t)
	group := uniqueName("group")
	mustPolicy(t, "gitlab:"+group, map[string]any{"issuer": st.CI.GitLabIssuer(), "roles": []string{"orderer:key4"},
		"conditions": []map[string]string{{"claim": "project_path", "glob": group + "/*"}, {"claim": "ref_protected", "equals": "true"}}})
	ownID, forkID := uniqueNumber(), uniqueNumber()
	own := ciauth.GitLabClaims(ciauth.GitLabJob{ProjectPath: group + "/fw", ProjectID: ownID, Ref: "main", RefProtected: true})
	tok, err := st.CI.GitLabIDToken(own, localstack.Audience)
	if err != nil {
		t.Fatal(err)
	}
	mustDo(t, "POST", "/api/operations", tok, opRequest(60000, map[string]int{"key4": 1})).mustDecode(t, http.StatusCreated, &opView{})

	fork := ciauth.GitLabClaims(ciauth.GitLabJob{ProjectPath: group + "/fw-fork", ProjectID: forkID, Ref: "main", RefProtected: true, PipelineSource: "merge_request_event"})
	fork["job_project_path"], fork["job_project_id"] = group+"/fw", ownID
	if tok, err = st.CI.GitLabIDToken(fork, localstack.Audience); err != nil {
		t.Fatal(err)
	}
	mustDo(t, "POST", "/api/operations", tok, opRequest(60000, map[string]int{"key4": 1})).mustRefuse(t, http.StatusForbidden, "forbidden")
	me := mustExplain(t, tok)
	if len(me.Policies) == 0 || me.Policies[0].Matched || !strings.Contains(me.Policies[0].Refusal, "merge request pipeline of the fork") {
		t.Fatalf("GET /api/me = %+v", me)
	}
	for _, c := range me.Policies[0].Conditions {
		if !c.OK {
			t.Fatalf("condition %s fails; the refusal must come from the fork rule alone: %+v", c.Claim, me)
		}
	}
}
