package kscli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// githubTokens emulates GitHub's ACTIONS_ID_TOKEN_REQUEST_URL: each request
// gets a new token that lives five minutes, accepted by the fake Keyserver.
type githubTokens struct {
	mu        sync.Mutex
	h         *harness
	issued    []string
	audiences []string
}

func (g *githubTokens) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "bearer request-token" || r.URL.Query().Get("api-version") != "2.0" {
		http.Error(w, `{"message":"bad request token"}`, http.StatusUnauthorized)
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	aud := r.URL.Query().Get("audience")
	tok := jwt(fmt.Sprintf(`{"aud":%q,"exp":%d,"n":%d}`, aud, g.h.clock.Now().Add(5*time.Minute).Unix(), len(g.issued)))
	g.issued = append(g.issued, tok)
	g.audiences = append(g.audiences, aud)
	g.h.fake.AcceptToken(tok)
	json.NewEncoder(w).Encode(map[string]string{"value": tok})
}

func (h *harness) onGitHub(tb testing.TB) *githubTokens {
	g := &githubTokens{h: h}
	srv := httptest.NewServer(g)
	tb.Cleanup(srv.Close)
	delete(h.env, "KSC_ID_TOKEN")
	h.githubRun("1")
	h.env["ACTIONS_ID_TOKEN_REQUEST_URL"] = srv.URL + "/token?api-version=2.0"
	h.env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = "request-token"
	return g
}

func TestTokenFromTheEnvironment(t *testing.T) {
	h := newHarness(t)
	if r := h.mustRun(0, "token"); r.stdout != testToken+"\n" {
		t.Fatalf("ks token = %q", r.stdout)
	}
	file := filepath.Join(t.TempDir(), "token")
	os.WriteFile(file, []byte("from-a-file\n"), 0o600)
	h.env["KSC_ID_TOKEN_FILE"] = file
	if r := h.mustRun(0, "token"); r.stdout != "from-a-file\n" {
		t.Fatalf("ks token with KSC_ID_TOKEN_FILE = %q", r.stdout)
	}
	delete(h.env, "KSC_ID_TOKEN")
	delete(h.env, "KSC_ID_TOKEN_FILE")
	h.mustFail(ExitAuth, "no token", "token")
}

func TestTokenFromGitHubActions(t *testing.T) {
	h := newHarness(t)
	g := h.onGitHub(t)
	r := h.mustRun(0, "token", "--audience", "api://keyserver")
	if len(g.issued) != 1 || r.stdout != g.issued[0]+"\n" || g.audiences[0] != "api://keyserver" {
		t.Fatalf("ks token = %q; issued %q for %q", r.stdout, g.issued, g.audiences)
	}
	h.env["KSC_AUDIENCE"] = "api://from-env"
	h.mustRun(0, "token")
	delete(h.env, "KSC_AUDIENCE")
	h.mustRun(0, "token")
	if g.audiences[1] != "api://from-env" || g.audiences[2] != h.server.URL {
		t.Fatalf("audiences asked = %q; want KSC_AUDIENCE, then KSC_API_SERVER", g.audiences)
	}
	delete(h.env, "ACTIONS_ID_TOKEN_REQUEST_TOKEN")
	h.mustFail(ExitAuth, "id-token: write", "token")
}

// TestWaitRenewsTheGitHubToken: GitHub tokens live five minutes; a wait of
// twenty asks for new ones and never sends an expired one.
func TestWaitRenewsTheGitHubToken(t *testing.T) {
	h := newHarness(t)
	g := h.onGitHub(t)
	id := h.mustCreate("--key", "key2", "--valid", "30m")
	h.clock.onSleep = func(n int) {
		g.mu.Lock()
		for _, tok := range g.issued {
			var claims struct{ Exp int64 }
			json.Unmarshal(decodePart(tok), &claims)
			if h.clock.Now().Unix() >= claims.Exp {
				h.fake.RevokeToken(tok)
			}
		}
		g.mu.Unlock()
		if n == 240 {
			h.fake.Approve(id, "alice")
		}
	}
	h.mustRun(0, "wait", id)
	if len(g.issued) < 4 {
		t.Fatalf("%d tokens issued during a 20-minute wait, want a new one every 5 minutes", len(g.issued))
	}
}

func TestTokenFromGitLab(t *testing.T) {
	h := newHarness(t)
	delete(h.env, "KSC_ID_TOKEN")
	h.env["GITLAB_CI"] = "true"
	h.mustFail(ExitAuth, "id_tokens: { KEYSERVER_ID_TOKEN", "token")
	tok := jwt(`{"aud":"api://keyserver","exp":4102444800}`)
	h.env["KEYSERVER_ID_TOKEN"] = tok
	if r := h.mustRun(0, "token", "--audience", "api://keyserver"); r.stdout != tok+"\n" {
		t.Fatalf("ks token = %q", r.stdout)
	}
	h.mustFail(ExitAuth, "set its aud to api://other", "token", "--audience", "api://other")
	h.env["KSC_ID_TOKEN_VARIABLE"] = "MY_TOKEN"
	h.env["MY_TOKEN"] = "other-token"
	if r := h.mustRun(0, "token"); r.stdout != "other-token\n" {
		t.Fatalf("ks token with KSC_ID_TOKEN_VARIABLE = %q", r.stdout)
	}
}

// TestTokenFromAzurePipelines: the pipeline's token is fetched for the
// service connection and exchanged at Entra ID for the Keyserver's audience.
func TestTokenFromAzurePipelines(t *testing.T) {
	h := newHarness(t)
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		switch r.URL.Path {
		case "/org/_apis/distributedtask/oidctoken":
			seen = append(seen, "oidc "+r.Method+" "+r.URL.Query().Get("api-version")+" "+r.URL.Query().Get("serviceConnectionId")+" "+r.Header.Get("Authorization"))
			json.NewEncoder(w).Encode(map[string]string{"oidcToken": "ado-token"})
		case "/tenant-1/oauth2/v2.0/token":
			seen = append(seen, "entra "+r.PostForm.Get("client_id")+" "+r.PostForm.Get("scope")+" "+r.PostForm.Get("client_assertion")+" "+r.PostForm.Get("grant_type"))
			json.NewEncoder(w).Encode(map[string]any{"access_token": "entra-token", "expires_in": 3600})
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	delete(h.env, "KSC_ID_TOKEN")
	for k, v := range map[string]string{"TF_BUILD": "True", "SYSTEM_OIDCREQUESTURI": srv.URL + "/org/_apis/distributedtask/oidctoken",
		"SYSTEM_ACCESSTOKEN": "system-token", "AZURE_AUTHORITY_HOST": srv.URL} {
		h.env[k] = v
	}
	h.mustFail(ExitAuth, "KSC_AZURE_CLIENT_ID", "token", "--audience", "api://keyserver-app")
	h.env["KSC_AZURE_CLIENT_ID"], h.env["KSC_AZURE_TENANT_ID"] = "client-1", "tenant-1"
	h.env["AZURESUBSCRIPTION_SERVICE_CONNECTION_ID"] = "connection-1"
	if r := h.mustRun(0, "token", "--audience", "api://keyserver-app"); r.stdout != "entra-token\n" {
		t.Fatalf("ks token = %q", r.stdout)
	}
	want := []string{"oidc POST 7.1 connection-1 Bearer system-token", "entra client-1 api://keyserver-app/.default ado-token client_credentials"}
	if strings.Join(seen, "\n") != strings.Join(want, "\n") {
		t.Fatalf("requests:\n%s\nwant:\n%s", strings.Join(seen, "\n"), strings.Join(want, "\n"))
	}
}
