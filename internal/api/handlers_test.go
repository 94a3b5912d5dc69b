package api

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"keyserver/internal/keyserver"
	"keyserver/internal/keyserver/memstore"
	"keyserver/internal/webui"
)

const issuer = "https://issuer.test"

// tokenIsSubject is a TokenVerifier whose tokens are subject ids.
type tokenIsSubject struct{}

func (tokenIsSubject) Verify(_ context.Context, token string) (keyserver.Identity, error) {
	return keyserver.Identity{Principal: keyserver.Principal{Issuer: issuer, Subject: token}}, nil
}

type harness struct {
	t     *testing.T
	h     http.Handler
	store *memstore.Store
	now   time.Time
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	ctx := context.Background()
	store := memstore.New()
	for sub, roles := range map[string][]string{
		"pipeline": {"orderer:*"}, "alice": {"approver:key4"}, "bob": {"approver:key2"},
		"audit": {keyserver.RoleAuditor}, "root": {keyserver.RoleAdmin},
	} {
		p := keyserver.Principal{Issuer: issuer, Subject: sub}
		if err := store.PutSubject(ctx, &keyserver.Subject{Principal: p, Name: "Name of " + sub, Roles: roles}, keyserver.AuditEvent{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []*keyserver.Key{
		{KeyID: "key1", HSMKey: "h1", KeyInfo: "Demo key 1", Algorithm: "RSA-2048", Enabled: true, Certificate: selfSigned(t, "key1")},
		{KeyID: "key4", HSMKey: "h4", RequiredApprovals: 1, KeyInfo: "Demo key 4", Algorithm: "EC-P384", Enabled: true},
	} {
		if err := store.PutKey(ctx, k, keyserver.AuditEvent{}); err != nil {
			t.Fatal(err)
		}
	}
	hs := &harness{t: t, store: store, now: time.Now()}
	ui, err := webui.New(webui.Config{Issuer: "https://login.test/tenant/v2.0", ClientID: "ui", Scope: "openid"})
	if err != nil {
		t.Fatal(err)
	}
	svc := &keyserver.Service{Ops: store, Keys: store, Subjects: store, Audit: store, Limits: keyserver.DefaultLimits, Now: func() time.Time { return hs.now }}
	hs.h = (&Server{Service: svc, Verifier: tokenIsSubject{}, UI: ui}).Handler()
	return hs
}

func selfSigned(tb testing.TB, cn string) string {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2035, 1, 1, 0, 0, 0, 0, time.UTC)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// do sends a request as who (empty: no token) and decodes a JSON answer into out.
func (hs *harness) do(method, path, who string, body any, out any) *httptest.ResponseRecorder {
	hs.t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req := httptest.NewRequest(method, path, rd)
	if who != "" {
		req.Header.Set("Authorization", "Bearer "+who)
	}
	rec := httptest.NewRecorder()
	hs.h.ServeHTTP(rec, req)
	if out != nil && strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			hs.t.Fatalf("%s %s: %v in %s", method, path, err, rec.Body.String())
		}
	}
	return rec
}

func (hs *harness) create(who, description string) Operation {
	hs.t.Helper()
	var op Operation
	rec := hs.do("POST", "/api/operations", who, map[string]any{"validms": 60000, "description": description,
		"new-keyusagerestrictions": []map[string]any{{"keyid": "key1", "maxusagecount": 1}, {"keyid": "key4", "maxusagecount": 1}}}, &op)
	if rec.Code != http.StatusCreated {
		hs.t.Fatalf("creating: %d %s", rec.Code, rec.Body.String())
	}
	return op
}

func TestOperationViewNamesKeysAndActions(t *testing.T) {
	hs := newHarness(t)
	op := hs.create("pipeline", "Firmware <b>1.0</b>")
	var v Operation
	hs.do("GET", "/api/operations/"+op.ID, "alice", nil, &v)
	if v.Requester.Name != "Name of pipeline" || v.Requester.Subject != "pipeline" || v.Requester.Issuer != issuer {
		t.Errorf("requester = %+v", v.Requester)
	}
	if v.Description != "Firmware <b>1.0</b>" || v.Status != "pending" || v.Approved {
		t.Errorf("view = %+v", v)
	}
	if g := v.Keys[1]; g.KeyID != "key4" || g.KeyInfo != "Demo key 4" || g.Algorithm != "EC-P384" || g.RequiredApprovals != 1 || g.MaxUsageCount != 1 {
		t.Errorf("key4 grant = %+v", g)
	}
	if !v.Actions.Approve.Allowed || !v.Actions.Reject.Allowed || v.Actions.Cancel.Allowed {
		t.Errorf("alice's actions = %+v", v.Actions)
	}
	hs.do("GET", "/api/operations/"+op.ID, "pipeline", nil, &v)
	if v.Actions.Approve.Allowed || !strings.Contains(v.Actions.Approve.Reason, "You requested this operation") || !v.Actions.Cancel.Allowed {
		t.Errorf("requester's actions = %+v", v.Actions)
	}
	hs.do("GET", "/api/operations/"+op.ID, "audit", nil, &v)
	if v.Actions.Approve.Allowed || !strings.Contains(v.Actions.Approve.Reason, "not an approver") {
		t.Errorf("auditor's actions = %+v", v.Actions)
	}
	if rec := hs.do("GET", "/api/operations/"+op.ID, "bob", nil, nil); rec.Code != http.StatusNotFound {
		t.Errorf("bob reads another key's operation: %d", rec.Code)
	}

	hs.do("POST", "/api/operations/"+op.ID+"/approve", "alice", map[string]string{"comment": "looks right"}, &v)
	a := v.Keys[1].Approvals
	if !v.Approved || len(a) != 1 || a[0].Approver.Name != "Name of alice" || a[0].Comment != "looks right" || a[0].Time.IsZero() {
		t.Errorf("after approval: approved %v, approvals %+v", v.Approved, a)
	}
	if v.Actions.Approve.Allowed || !strings.Contains(v.Actions.Approve.Reason, "already approved") {
		t.Errorf("alice's actions after approving = %+v", v.Actions)
	}
}

func TestOperationAudit(t *testing.T) {
	hs := newHarness(t)
	op := hs.create("pipeline", "Firmware for the audit")
	hs.do("POST", "/api/operations/"+op.ID+"/reject", "alice", map[string]string{"reason": "wrong branch"}, nil)
	var evs []Event
	if rec := hs.do("GET", "/api/operations/"+op.ID+"/audit", "pipeline", nil, &evs); rec.Code != http.StatusOK {
		t.Fatalf("audit: %d %s", rec.Code, rec.Body.String())
	}
	if len(evs) != 2 || evs[0].Action != keyserver.ActionCreate || evs[0].Actor.Name != "Name of pipeline" ||
		evs[1].Action != keyserver.ActionReject || evs[1].Detail != "wrong branch" || evs[1].Actor.Name != "Name of alice" {
		t.Fatalf("audit = %+v", evs)
	}
	for who, want := range map[string]int{"bob": http.StatusNotFound, "audit": http.StatusOK, "": http.StatusUnauthorized} {
		if rec := hs.do("GET", "/api/operations/"+op.ID+"/audit", who, nil, nil); rec.Code != want {
			t.Errorf("audit as %q: %d, want %d", who, rec.Code, want)
		}
	}
}

func TestOperationListings(t *testing.T) {
	hs := newHarness(t)
	open := hs.create("pipeline", "An open operation")
	closed := hs.create("pipeline", "A cancelled operation")
	hs.do("POST", "/api/operations/"+closed.ID+"/cancel", "pipeline", nil, nil)
	ids := func(who, query string) []string {
		t.Helper()
		var ops []Operation
		if rec := hs.do("GET", "/api/operations"+query, who, nil, &ops); rec.Code != http.StatusOK {
			t.Fatalf("%s as %s: %d %s", query, who, rec.Code, rec.Body.String())
		}
		var out []string
		for _, op := range ops {
			out = append(out, op.ID)
		}
		slices.Sort(out)
		return out
	}
	tests := []struct {
		who, query string
		want       []string
	}{
		{"alice", "?status=pending", []string{open.ID}},
		{"pipeline", "?mine=1", []string{open.ID, closed.ID}},
		{"pipeline", "?mine=1&status=cancelled", []string{closed.ID}},
		{"alice", "?mine=1", nil},
		{"audit", "?all=1", []string{open.ID, closed.ID}},
		{"audit", "?all=1&status=cancelled", []string{closed.ID}},
		{"bob", "?all=1", nil},
	}
	for _, tc := range tests {
		slices.Sort(tc.want)
		if got := ids(tc.who, tc.query); strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%s as %s = %v, want %v", tc.query, tc.who, got, tc.want)
		}
	}
	var e Error
	for _, q := range []string{"?all=1&status=bogus", "?mine=yes", "?mine=1&all=1"} {
		if rec := hs.do("GET", "/api/operations"+q, "audit", nil, &e); rec.Code != http.StatusBadRequest {
			t.Errorf("%s: %d %s", q, rec.Code, rec.Body.String())
		}
	}
	hs.do("GET", "/api/operations?all=1&status=bogus", "audit", nil, &e)
	if e.Field != "status" {
		t.Errorf("bad status names field %q", e.Field)
	}
}

func TestKeyCertificateDetails(t *testing.T) {
	hs := newHarness(t)
	var keys []Key
	hs.do("GET", "/api/keys", "root", nil, &keys)
	if len(keys) != 2 {
		t.Fatalf("keys = %+v", keys)
	}
	k := keys[0]
	block, _ := pem.Decode([]byte(k.Certificate))
	if k.CertSubject != "CN=key1" || k.CertNotBefore == nil || k.CertNotBefore.Year() != 2030 || k.CertNotAfter.Year() != 2035 || len(k.CertSHA256) != 64 || block == nil {
		t.Errorf("key1 = %+v", k)
	}
	if keys[1].CertSubject != "" || keys[1].CertSHA256 != "" {
		t.Errorf("key4 without a certificate = %+v", keys[1])
	}
}

func TestAdminListsAndFieldErrors(t *testing.T) {
	hs := newHarness(t)
	var subs []Subject
	if rec := hs.do("GET", "/api/admin/subjects", "root", nil, &subs); rec.Code != http.StatusOK || len(subs) != 5 || subs[0].Subject != "alice" || subs[0].Name != "Name of alice" {
		t.Fatalf("subjects: %d %+v", rec.Code, subs)
	}
	var keys []AdminKey
	if rec := hs.do("GET", "/api/admin/keys", "root", nil, &keys); rec.Code != http.StatusOK || len(keys) != 2 || keys[1].HSMKey != "h4" || !keys[1].Enabled {
		t.Fatalf("admin keys: %d %+v", rec.Code, keys)
	}
	for _, p := range []string{"/api/admin/subjects", "/api/admin/keys"} {
		if rec := hs.do("GET", p, "audit", nil, nil); rec.Code != http.StatusForbidden {
			t.Errorf("%s as auditor: %d", p, rec.Code)
		}
	}
	var e Error
	hs.do("PUT", "/api/admin/subjects/carol", "root", map[string]any{"issuer": issuer, "roles": []string{"superuser"}}, &e)
	if e.Field != "roles" || !strings.Contains(e.Message, "superuser") {
		t.Errorf("bad role: %+v", e)
	}
	hs.do("PUT", "/api/admin/keys/key9", "root", map[string]any{"hsmkey": "h9", "requiredapprovals": 11}, &e)
	if e.Field != "requiredapprovals" {
		t.Errorf("bad policy: %+v", e)
	}
}

func TestUIRoutes(t *testing.T) {
	hs := newHarness(t)
	rec := hs.do("GET", "/operations/abc", "", nil, nil)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Header().Get("Content-Security-Policy"), "frame-ancestors 'none'") || !strings.Contains(rec.Body.String(), "/assets/app.js") {
		t.Errorf("UI page: %d %v", rec.Code, rec.Header())
	}
	var cfg UIConfig
	if rec := hs.do("GET", "/api/ui/config", "", nil, &cfg); rec.Code != http.StatusOK || cfg.ClientID != "ui" || cfg.Issuer != "https://login.test/tenant/v2.0" {
		t.Errorf("config: %d %+v", rec.Code, cfg)
	}
	var e Error
	if rec := hs.do("GET", "/api/nothing", "", nil, &e); rec.Code != http.StatusNotFound || e.Error != keyserver.ENOTFOUND {
		t.Errorf("unknown API path: %d %s", rec.Code, rec.Body.String())
	}
	if rec := hs.do("GET", "/assets/nothing.js", "", nil, nil); rec.Code != http.StatusNotFound {
		t.Errorf("missing asset: %d", rec.Code)
	}
}
