package api

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"keyserver/internal/keyserver"
	"keyserver/internal/keyserver/memhsm"
	"keyserver/internal/keyserver/memstore"
	"keyserver/internal/strictjson"
)

// routeFixture serves the routes over the in-memory store and HSM.
type routeFixture struct {
	t       *testing.T
	store   *memstore.Store
	hsm     *memhsm.HSM
	handler http.Handler
}

// newRouteFixture registers key1 (RSA, no approval) and key2 (P-256, one
// approver), and the subjects pipeline (orderer:*), limited (orderer:key1),
// approver2 (approver:key2) and root (admin).
func newRouteFixture(t *testing.T) *routeFixture {
	t.Helper()
	ctx := context.Background()
	f := &routeFixture{t: t, store: memstore.New(), hsm: memhsm.New()}
	svc := &keyserver.Service{Ops: f.store, Keys: f.store, Subjects: f.store, Audit: f.store,
		HSM: keyserver.Verified(f.hsm), Limits: keyserver.DefaultLimits}
	f.handler = (&Server{Service: svc, Verifier: tokenIsSubject{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler()
	for sub, roles := range map[string][]string{
		"pipeline": {"orderer:*"}, "limited": {"orderer:key1"}, "approver2": {"approver:key2"}, "root": {keyserver.RoleAdmin},
	} {
		p := keyserver.Principal{Issuer: issuer, Subject: sub}
		mustNil(t, f.store.PutSubject(ctx, &keyserver.Subject{Principal: p, Name: "Name of " + sub, Roles: roles}, keyserver.AuditEvent{}))
	}
	for id, body := range map[string]string{
		"key1": `{"hsmkey":"rsa2048","requiredapprovals":0,"keyinfo":"RSA key"}`,
		"key2": `{"hsmkey":"p256","requiredapprovals":1,"keyinfo":"EC key"}`,
	} {
		if rec := f.send("PUT", "/api/admin/keys/"+id, "root", body); rec.Code != http.StatusOK {
			t.Fatalf("registering %s: %d %s", id, rec.Code, rec.Body)
		}
	}
	return f
}

// send sends body (a JSON text, or "" for none) as who.
func (f *routeFixture) send(method, path, who, body string) *httptest.ResponseRecorder {
	f.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if who != "" {
		req.Header.Set("Authorization", "Bearer "+who)
	}
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	return rec
}

// mustAnswer checks the status and decodes the answer strictly into v, so
// that a member the wire type does not declare fails the test.
func (f *routeFixture) mustAnswer(rec *httptest.ResponseRecorder, status int, v any) {
	f.t.Helper()
	if rec.Code != status {
		f.t.Fatalf("status %d, want %d: %s", rec.Code, status, rec.Body)
	}
	if err := strictjson.Unmarshal(rec.Body.Bytes(), v); err != nil {
		f.t.Fatalf("the answer does not fit %T: %v: %s", v, err, rec.Body)
	}
}

// mustRefusal checks a JSON error answer and returns it.
func (f *routeFixture) mustRefusal(rec *httptest.ResponseRecorder, status int, code string) Error {
	f.t.Helper()
	var e Error
	f.mustAnswer(rec, status, &e)
	if e.Error != code || e.Message == "" {
		f.t.Fatalf("refusal %+v, want code %s", e, code)
	}
	return e
}

func operationBody(keys ...string) string {
	var grants []string
	for _, k := range keys {
		grants = append(grants, `{"keyid":"`+k+`","maxusagecount":2}`)
	}
	return `{"validms":60000,"description":"Building of firmware","new-keyusagerestrictions":[` + strings.Join(grants, ",") + `]}`
}

func (f *routeFixture) mustCreate(who string, keys ...string) Operation {
	f.t.Helper()
	var op Operation
	rec := f.send("POST", "/api/operations", who, operationBody(keys...))
	f.mustAnswer(rec, http.StatusCreated, &op)
	if rec.Header().Get("Location") != "/api/operations/"+op.ID {
		f.t.Fatalf("Location %q for operation %s", rec.Header().Get("Location"), op.ID)
	}
	return op
}

// TestHandlersRefuseLaxJSON is issue 8's defect 3 through every route with
// a body: repeated, case-variant or trailing members are refused with 400
// naming the member, and change nothing.
func TestHandlersRefuseLaxJSON(t *testing.T) {
	f := newRouteFixture(t)
	op := f.mustCreate("pipeline", "key2")
	signs := f.hsm.SignCount() // the certificates' self-signatures
	sign := `{"operationid":"` + op.ID + `","keyid":"key2","inputdata":"00","inputformat":"hex","inputpadding":"none","signatureformat":"asn1","description":"d"`
	tests := []struct {
		name, method, path, who, body, want string
	}{
		{"operation case variant", "POST", "/api/operations", "pipeline", strings.Replace(operationBody("key1"), `"keyid"`, `"KeyId"`, 1), `"KeyId" must be spelled "keyid"`},
		{"operation repeated member", "POST", "/api/operations", "pipeline", strings.Replace(operationBody("key1"), `{"validms":60000`, `{"validms":1,"VALIDMS":60000`, 1), `"validms" and "VALIDMS" differ only in case`},
		{"operation trailing brace", "POST", "/api/operations", "pipeline", operationBody("key1") + "}", "trailing data"},
		{"operation trailing bracket", "POST", "/api/operations", "pipeline", operationBody("key1") + "]", "trailing data"},
		{"sign order case variant", "POST", "/api/signorders", "pipeline", sign + `,"KEYID":"key1"}`, `"keyid" and "KEYID" differ only in case`},
		{"sign order repeated member", "POST", "/api/signorders", "pipeline", sign + `,"keyid":"key1"}`, `"keyid" appears twice`},
		{"approve case variant", "POST", "/api/operations/" + op.ID + "/approve", "approver2", `{"Comment":"ok"}`, `"Comment" must be spelled "comment"`},
		{"reject repeated member", "POST", "/api/operations/" + op.ID + "/reject", "approver2", `{"reason":"a","reason":"b"}`, `"reason" appears twice`},
		{"key registration case variant", "PUT", "/api/admin/keys/key3", "root", `{"hsmkey":"p384","requiredApprovals":0}`, `"requiredApprovals" must be spelled "requiredapprovals"`},
		{"subject registration trailing data", "PUT", "/api/admin/subjects/someone", "root", `{"issuer":"` + issuer + `","roles":[]}{}`, "trailing data"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.t = t
			e := f.mustRefusal(f.send(tc.method, tc.path, tc.who, tc.body), http.StatusBadRequest, keyserver.EINVALID)
			if !strings.Contains(e.Message, tc.want) {
				t.Fatalf("message %q does not say %s", e.Message, tc.want)
			}
		})
	}
	f.t = t
	if n := f.store.OpCount(); n != 1 {
		t.Errorf("%d operations after refused requests, want the one made before", n)
	}
	var got Operation
	f.mustAnswer(f.send("GET", "/api/operations/"+op.ID, "pipeline", ""), http.StatusOK, &got)
	if got.Status != string(keyserver.StatusPending) || f.hsm.SignCount() != signs {
		t.Errorf("refused requests changed the operation (%s) or signed (%d times)", got.Status, f.hsm.SignCount()-signs)
	}
	f.mustRefusal(f.send("GET", "/api/admin/keys/key3", "root", ""), http.StatusNotFound, keyserver.ENOTFOUND)
	f.mustRefusal(f.send("GET", "/api/admin/subjects/someone", "root", ""), http.StatusNotFound, keyserver.ENOTFOUND)
}

// TestHandlersHideWhichKeysExist is issue 8's defect 6 at the HTTP layer: a
// key the caller may not order and one that does not exist get the same
// answer, from POST /api/operations, POST /api/signorders and GET /api/keys/{id}.
func TestHandlersHideWhichKeysExist(t *testing.T) {
	f := newRouteFixture(t)
	op := f.mustCreate("limited", "key1")
	order := func(key string) string {
		return `{"operationid":"` + op.ID + `","keyid":"` + key + `","inputdata":"00","inputformat":"hex","inputpadding":"none","signatureformat":"asn1","description":"d"}`
	}
	for _, route := range []struct {
		name, method, path string
		body               func(key string) string
	}{
		{"create operation", "POST", "/api/operations", func(key string) string { return operationBody(key) }},
		{"sign", "POST", "/api/signorders", order},
		{"read key", "GET", "/api/keys/", func(string) string { return "" }},
	} {
		t.Run(route.name, func(t *testing.T) {
			f.t = t
			answer := func(key string) Error {
				path := route.path
				if route.method == "GET" {
					path += key
				}
				return f.mustRefusal(f.send(route.method, path, "limited", route.body(key)), http.StatusNotFound, keyserver.ENOTFOUND)
			}
			forbidden, unknown := answer("key2"), answer("key9")
			if strings.ReplaceAll(forbidden.Message, "key2", "key9") != unknown.Message {
				t.Fatalf("a forbidden key gets %q, an unknown one %q", forbidden.Message, unknown.Message)
			}
		})
	}
}

// TestHandlersSignOrder signs through the route and checks the answer's wire
// and the signature against the key's certificate.
func TestHandlersSignOrder(t *testing.T) {
	f := newRouteFixture(t)
	op := f.mustCreate("pipeline", "key1")
	digest := sha256.Sum256([]byte("firmware"))
	input := hex.EncodeToString(keyserver.DigestInfo(crypto.SHA256, digest[:]))
	body, _ := json.Marshal(SignOrder{OperationID: op.ID, KeyID: "key1", InputData: input, InputFormat: "hex",
		InputPadding: "digestinfo", SignatureFormat: "asn1", Description: "firmware"})
	var res SignResult
	f.mustAnswer(f.send("POST", "/api/signorders", "pipeline", string(body)), http.StatusCreated, &res)
	if res.KeyID != "key1" || res.InputData != input || res.SignatureFormat != "asn1" {
		t.Fatalf("sign answer %+v", res)
	}
	var key Key
	f.mustAnswer(f.send("GET", "/api/keys/key1", "pipeline", ""), http.StatusOK, &key)
	block, _ := pem.Decode([]byte(key.Certificate))
	if block == nil {
		t.Fatalf("key1's certificate is not PEM: %q", key.Certificate)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	mustNil(t, err)
	sig, err := hex.DecodeString(res.Result)
	mustNil(t, err)
	mustNil(t, keyserver.VerifySignature(cert.PublicKey, digest[:], sig, crypto.SHA256))

	var got Operation
	f.mustAnswer(f.send("GET", "/api/operations/"+op.ID, "pipeline", ""), http.StatusOK, &got)
	if g := got.Grant("key1"); g == nil || g.UsageCount != 1 {
		t.Fatalf("after one signature the grant is %+v", g)
	}
	// Another subject may not sign with the requester's operation.
	f.mustRefusal(f.send("POST", "/api/signorders", "limited", string(body)), http.StatusNotFound, keyserver.ENOTFOUND)
}

// TestHandlersAdminKeysAndSubjects checks the admin answers' wire: what PUT
// answers is what GET reads back.
func TestHandlersAdminKeysAndSubjects(t *testing.T) {
	f := newRouteFixture(t)
	var put, got AdminKey
	f.mustAnswer(f.send("PUT", "/api/admin/keys/key4", "root", `{"hsmkey":"p384","requiredapprovals":2,"keyinfo":"P-384","enabled":false}`), http.StatusOK, &put)
	f.mustAnswer(f.send("GET", "/api/admin/keys/key4", "root", ""), http.StatusOK, &got)
	if !reflect.DeepEqual(put, got) || got.HSMKey != "p384" || got.Algorithm != "EC-P384" || got.Enabled || got.RequiredApprovals != 2 || !strings.Contains(got.Certificate, "CERTIFICATE") {
		t.Fatalf("PUT answered %+v, GET %+v", put, got)
	}
	var sub Subject
	f.mustAnswer(f.send("PUT", "/api/admin/subjects/someone", "root", `{"issuer":"`+issuer+`","name":"Some One","roles":["approver:key4"]}`), http.StatusOK, &sub)
	var back Subject
	f.mustAnswer(f.send("GET", "/api/admin/subjects/someone", "root", ""), http.StatusOK, &back)
	if back.Issuer != issuer || back.Subject != "someone" || back.Kind != "app" || back.Name != "Some One" || len(back.Roles) != 1 || !bytes.Equal(mustJSON(t, sub), mustJSON(t, back)) {
		t.Fatalf("PUT answered %+v, GET %+v", sub, back)
	}
	f.mustRefusal(f.send("PUT", "/api/admin/keys/key5", "pipeline", `{"hsmkey":"p384","requiredapprovals":0}`), http.StatusForbidden, keyserver.EFORBIDDEN)
}

func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	mustNil(tb, err)
	return b
}
