package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"keyserver/internal/api"
	"keyserver/internal/keyserver"
	"keyserver/internal/keyserver/memstore"
)

// adminToken is the one token the test's verifier knows: a bootstrap admin.
type adminToken struct{ p keyserver.Principal }

func (a adminToken) Verify(ctx context.Context, token string) (keyserver.Identity, error) {
	if token != "admin" {
		return keyserver.Identity{}, keyserver.Errorf(keyserver.EUNAUTHENTICATED, "unknown token")
	}
	return keyserver.Identity{Principal: a.p}, nil
}

// TestAdminIDsWithSlashesAndColons: GitHub subjects and policy ids hold /
// and :. In the id query parameter they reach the admin function through
// the Functions host's route unchanged, and the handler stores exactly them;
// in the path a / would end the {id} segment, so the host would not route it.
func TestAdminIDsWithSlashesAndColons(t *testing.T) {
	admin := keyserver.Principal{Issuer: "https://auth.example", Subject: "admin"}
	store := memstore.New()
	svc := &keyserver.Service{Ops: store, Keys: store, Subjects: store, Policies: store, Audit: store,
		Limits: keyserver.DefaultLimits, BootstrapAdmins: []keyserver.Principal{admin}}
	h := (&api.Server{Service: svc, Verifier: adminToken{admin}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler()
	var adminFn *function
	for _, fn := range mustFunctions(t) {
		if fn.name == "admin" {
			adminFn = &fn
		}
	}
	if adminFn == nil {
		t.Fatal("no admin function")
	}
	const id = "repo:octo/fw:ref:refs/heads/release/v1.2"
	const issuer = "https://token.actions.githubusercontent.com"
	bodies := map[string]any{
		"subjects": map[string]any{"issuer": issuer, "roles": []string{"orderer:*"}},
		"policies": map[string]any{"issuer": issuer, "roles": []string{"orderer:*"}, "conditions": []map[string]string{{"claim": "repository_id", "equals": "1"}}},
	}
	for kind, body := range bodies {
		forwarded := "/api/admin/" + kind + "?" + url.Values{"id": {id}}.Encode()
		u, err := url.Parse(forwarded)
		if err != nil {
			t.Fatal(err)
		}
		if !templateRegexp(adminFn.route).MatchString(u.Path) {
			t.Fatalf("the Functions host would not route %s to the admin function (%s)", u.Path, adminFn.route)
		}
		if templateRegexp(adminFn.route).MatchString("/api/admin/" + kind + "/" + id) {
			t.Fatalf("an id with / in the path would reach the admin function; the query parameter would not be needed")
		}
		for _, step := range []struct {
			method string
			body   any
			want   int
		}{{"PUT", body, 200}, {"GET", nil, 200}, {"DELETE", nil, 204}, {"GET", nil, 404}} {
			var rd io.Reader = strings.NewReader("")
			if step.body != nil {
				b, _ := json.Marshal(step.body)
				rd = strings.NewReader(string(b))
			}
			req := httptest.NewRequest(step.method, forwarded, rd)
			req.Header.Set("Authorization", "Bearer admin")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != step.want {
				t.Fatalf("%s %s = %d %s, want %d", step.method, forwarded, rec.Code, rec.Body, step.want)
			}
			if step.method == "GET" && step.want == 200 && !strings.Contains(rec.Body.String(), `"`+id+`"`) {
				t.Fatalf("GET %s answered %s, not the id %s", forwarded, rec.Body, id)
			}
		}
	}
	if evs := store.GlobalAudit(); len(evs) != 4 {
		t.Fatalf("%d audit events, want a put and a delete of each", len(evs))
	}
}
