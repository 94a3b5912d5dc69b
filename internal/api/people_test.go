package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"keyserver/internal/devauth"
	"keyserver/internal/keyserver"
	"keyserver/internal/keyserver/memstore"
	"keyserver/internal/oidc"
	"keyserver/internal/oidc/entratest"
)

var v1, v2 = entratest.V1(tid), entratest.V2(tid)

// Entra ID as the tests see it: one tenant's v1 and v2 issuers, both played
// by the dev auth server, and the ids of the UI, a pipeline and two people.
const (
	tid      = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	audience = "api://keyserver"
	uiApp    = "11111111-0000-4000-8000-00000000a001" // the web UI's client id
	pipeline = "22222222-0000-4000-8000-00000000a002" // a pipeline's client id
	alice    = "aaaaaaaa-0000-4000-8000-000000000001"
	bob      = "bbbbbbbb-0000-4000-8000-000000000002"
)

// entra serves the issuers' discovery and JWKS in process, by host.
type entra map[string]*devauth.Server

func (e entra) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	e[r.URL.Host].Handler().ServeHTTP(rec, r)
	return rec.Result(), nil
}

type entraFixture struct {
	t        *testing.T
	issuers  map[string]*devauth.Server
	store    *memstore.Store
	verifier *oidc.Verifier
	handler  http.Handler
}

func newEntraFixture(t *testing.T, issuers []oidc.Issuer) *entraFixture {
	f := &entraFixture{t: t, issuers: map[string]*devauth.Server{}, store: memstore.New()}
	hosts := entra{}
	for _, iss := range []string{v1, v2} {
		s, err := devauth.New(devauth.Config{Issuer: iss, Audience: audience})
		if err != nil {
			t.Fatal(err)
		}
		f.issuers[iss] = s
		hosts[strings.Split(strings.TrimPrefix(iss, "https://"), "/")[0]] = s
	}
	var err error
	if f.verifier, err = oidc.NewVerifier(issuers, oidc.Options{Client: &http.Client{Transport: hosts}}); err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	svc := &keyserver.Service{Ops: f.store, Keys: f.store, Subjects: f.store, Audit: f.store, Limits: keyserver.DefaultLimits,
		IssuerAliases: oidc.Aliases(issuers)}
	f.handler = (&Server{Service: svc, Verifier: f.verifier, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler()
	ctx := context.Background()
	mustNil(t, f.store.PutKey(ctx, &keyserver.Key{KeyID: "key2", HSMKey: "https://vault.example/keys/k2", RequiredApprovals: 1, Enabled: true}, keyserver.AuditEvent{}))
	for _, sub := range []keyserver.Subject{
		{Principal: keyserver.Principal{Issuer: v2, Subject: alice, Kind: keyserver.KindPerson}, Name: "Alice", Roles: []string{"orderer:key2", "approver:key2"}},
		{Principal: keyserver.Principal{Issuer: v2, Subject: pipeline}, Name: "Pipeline", Roles: []string{"orderer:key2"}},
		// Traps: the UI app, which every delegated token names, and an app
		// whose client id is Bob's oid, each with rights Bob must not get.
		{Principal: keyserver.Principal{Issuer: v2, Subject: uiApp}, Name: "The UI as an app", Roles: []string{"admin"}},
		{Principal: keyserver.Principal{Issuer: v2, Subject: bob}, Name: "App named like Bob", Roles: []string{"approver:key2"}},
	} {
		mustNil(t, f.store.PutSubject(ctx, &sub, keyserver.AuditEvent{}))
	}
	return f
}

func entraIssuers(v1SameAs string) []oidc.Issuer {
	return []oidc.Issuer{
		{Issuer: v2, Audience: audience, SubjectClaim: "azp", PersonClaim: "oid"},
		{Issuer: v1, Audience: audience, SubjectClaim: "appid", PersonClaim: "oid", SameAs: v1SameAs},
	}
}

// person is a delegated token of the UI, as Entra shapes it for iss.
func (f *entraFixture) person(iss, oid, name string) string {
	return f.sign(iss, entratest.Delegated(iss, tid, uiApp, oid, name))
}

// app is an app-only token of clientID, with or without idtyp.
func (f *entraFixture) app(iss, clientID string, idtyp bool) string {
	return f.sign(iss, entratest.AppOnly(iss, tid, clientID, idtyp))
}

func (f *entraFixture) sign(iss string, claims map[string]any) string {
	tok, err := f.issuers[iss].SignClaims(claims, audience)
	if err != nil {
		f.t.Fatal(err)
	}
	return tok
}

func (f *entraFixture) call(method, path, token string, body any) (int, map[string]any) {
	f.t.Helper()
	var rd *strings.Reader
	if body == nil {
		rd = strings.NewReader("")
	} else {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req := httptest.NewRequest(method, path, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	var out map[string]any
	if rec.Body.Len() == 0 {
		return rec.Code, nil
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		f.t.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
	}
	return rec.Code, out
}

func mustNil(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

func TestMeTellsPeopleFromApps(t *testing.T) {
	f := newEntraFixture(t, entraIssuers(v2))
	cases := []struct {
		name, token           string
		wantStatus            int
		wantKind, wantSubject string
		wantRoles             string
	}{
		{"alice, v2", f.person(v2, alice, "Alice"), 200, "person", alice, "orderer:key2,approver:key2"},
		{"alice, v1: the same person", f.person(v1, alice, "Alice"), 200, "person", alice, "orderer:key2,approver:key2"},
		// Bob signs in through the same UI: not alice, not the UI app, not the app named like him.
		// GET /api/me answers a caller without roles too, so that it learns why it is refused.
		{"bob, v2", f.person(v2, bob, "Bob"), 200, "person", bob, ""},
		{"pipeline, v2 with idtyp", f.app(v2, pipeline, true), 200, "app", pipeline, "orderer:key2"},
		{"pipeline, v2 without idtyp", f.app(v2, pipeline, false), 200, "app", pipeline, "orderer:key2"},
		{"pipeline, v1 with idtyp", f.app(v1, pipeline, true), 200, "app", pipeline, "orderer:key2"},
		{"pipeline, v1 without idtyp", f.app(v1, pipeline, false), 200, "app", pipeline, "orderer:key2"},
		{"an app whose client id is alice's oid", f.app(v2, alice, true), 200, "app", alice, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, me := f.call("GET", "/api/me", tc.token, nil)
			if status != tc.wantStatus {
				t.Fatalf("status %d %v, want %d", status, me, tc.wantStatus)
			}
			if status != 200 {
				return
			}
			roles, _ := json.Marshal(me["roles"])
			want := `["` + strings.ReplaceAll(tc.wantRoles, ",", `","`) + `"]`
			if tc.wantRoles == "" {
				want = `[]`
			}
			if me["issuer"] != v2 || me["kind"] != tc.wantKind || me["subject"] != tc.wantSubject || string(roles) != want {
				t.Fatalf("GET /api/me = %v", me)
			}
		})
	}
}

// TestOneIdentityTwoIssuersNeverApprovesOwn: alice asks through Entra's v1
// issuer and tries to approve through v2, and the other way round.
func TestOneIdentityTwoIssuersNeverApprovesOwn(t *testing.T) {
	f := newEntraFixture(t, entraIssuers(v2))
	req := map[string]any{"validms": 60000, "description": "firmware 1.2", "new-keyusagerestrictions": []map[string]any{{"keyid": "key2", "maxusagecount": 1}}}
	for _, way := range [][2]string{{v1, v2}, {v2, v1}} {
		status, op := f.call("POST", "/api/operations", f.person(way[0], alice, "Alice"), req)
		if status != http.StatusCreated {
			t.Fatalf("create: %d %v", status, op)
		}
		status, body := f.call("POST", "/api/operations/"+op["id"].(string)+"/approve", f.person(way[1], alice, "Alice"), map[string]any{})
		if status != http.StatusForbidden || body["error"] != keyserver.EFORBIDDEN || !strings.Contains(body["message"].(string), "requester") {
			t.Fatalf("alice approving her own operation through the other issuer: %d %v", status, body)
		}
	}
	// The pipeline's operation is alice's to approve, and the app named
	// like Bob is not Bob: Bob, signed in, gets nothing.
	_, op := f.call("POST", "/api/operations", f.app(v1, pipeline, true), req)
	id := op["id"].(string)
	if status, body := f.call("POST", "/api/operations/"+id+"/approve", f.person(v2, bob, "Bob"), map[string]any{}); status != http.StatusForbidden {
		t.Fatalf("bob approving: %d %v", status, body)
	}
	status, body := f.call("POST", "/api/operations/"+id+"/approve", f.person(v1, alice, "Alice"), map[string]any{})
	if status != http.StatusOK || body["approved"] != true {
		t.Fatalf("alice approving the pipeline's operation: %d %v", status, body)
	}
}

// TestUnlinkedEntraIssuersAreRefused is the other half: without sameas the
// configuration does not start.
func TestUnlinkedEntraIssuersAreRefused(t *testing.T) {
	_, err := oidc.NewVerifier(entraIssuers(""), oidc.Options{})
	if err == nil || !strings.Contains(err.Error(), "sameas") {
		t.Fatalf("NewVerifier with Entra v1 and v2 unlinked: %v", err)
	}
}

func TestAdminRegistersPeopleAndApps(t *testing.T) {
	f := newEntraFixture(t, entraIssuers(v2))
	admin := f.app(v2, uiApp, true) // the trap app holds admin; it is an app token here
	put := func(id, kind string) (int, map[string]any) {
		body := map[string]any{"issuer": v2, "name": "Carol", "roles": []string{"approver:key2"}}
		if kind != "-" {
			body["kind"] = kind
		}
		return f.call("PUT", "/api/admin/subjects/"+id, admin, body)
	}
	const carol = "cccccccc-0000-4000-8000-000000000003"
	if status, body := put(carol, "person"); status != 200 || body["kind"] != "person" {
		t.Fatalf("PUT person: %d %v", status, body)
	}
	if status, body := put(carol, "-"); status != 200 || body["kind"] != "app" {
		t.Fatalf("PUT without kind: %d %v, want an app", status, body)
	}
	if status, body := put(carol, "robot"); status != 400 || body["error"] != keyserver.EINVALID {
		t.Fatalf("PUT kind robot: %d %v", status, body)
	}
	if status, body := f.call("GET", "/api/admin/subjects/"+carol, admin, nil); status != 400 || !strings.Contains(body["message"].(string), "kind=") {
		t.Fatalf("GET an id registered twice: %d %v", status, body)
	}
	if status, body := f.call("GET", "/api/admin/subjects/"+carol+"?kind=person", admin, nil); status != 200 || body["kind"] != "person" {
		t.Fatalf("GET ?kind=person: %d %v", status, body)
	}
	if status, body := f.call("DELETE", "/api/admin/subjects/"+carol+"?kind=person&issuer="+v2, admin, nil); status != http.StatusNoContent {
		t.Fatalf("DELETE the person: %d %v", status, body)
	}
	if status, body := f.call("GET", "/api/admin/subjects/"+carol, admin, nil); status != 200 || body["kind"] != "app" {
		t.Fatalf("after deleting the person: %d %v, want the app left", status, body)
	}
	// Subjects are registered under the issuer v1 is the same as.
	body := map[string]any{"issuer": v1, "kind": "person", "name": "Carol", "roles": []string{}}
	if status, body := f.call("PUT", "/api/admin/subjects/"+carol, admin, body); status != 400 || !strings.Contains(body["message"].(string), v2) {
		t.Fatalf("PUT under the v1 issuer: %d %v", status, body)
	}
}
