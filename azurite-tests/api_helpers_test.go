package azuritetests

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"keyserver/internal/api"
	"keyserver/internal/keyserver"
	"keyserver/internal/localstack"
)

// apiClient is shared by the API tests; its timeout only guards against a hung handler.
var apiClient = &http.Client{Timeout: 60 * time.Second}

// apiAnswer is a raw answer of the handler.
type apiAnswer struct {
	Status int
	Header http.Header
	Body   []byte
}

// errorBody is the JSON error body every refusal carries.
type errorBody struct {
	Error     string `json:"error"`
	Message   string `json:"message"`
	Field     string `json:"field"`
	RequestID string `json:"requestid"`
}

// opView is an operation as the API returns it.
type opView struct {
	api.Operation
}

// mustDo sends a request to the handler. body is nil (no body), []byte or
// string (sent as is) or anything else (sent as JSON). An empty token sends
// no Authorization header.
func mustDo(tb testing.TB, method, path, token string, body any) apiAnswer {
	tb.Helper()
	a, err := do(mustStack(tb).HandlerURL, method, path, token, body)
	if err != nil {
		tb.Fatalf("%v", err)
	}
	return a
}

// do is mustDo for goroutines other than the test's own.
func do(baseURL, method, path, token string, body any) (apiAnswer, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return apiAnswer{}, fmt.Errorf("encoding the body of %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, baseURL+path, rd)
	if err != nil {
		return apiAnswer{}, fmt.Errorf("building %s %s: %w", method, path, err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := apiClient.Do(req)
	if err != nil {
		return apiAnswer{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return apiAnswer{}, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	return apiAnswer{Status: resp.StatusCode, Header: resp.Header, Body: data}, nil
}

// errorBody decodes the answer as a JSON error body.
func (a apiAnswer) errorBody(tb testing.TB) errorBody {
	tb.Helper()
	var e errorBody
	if err := json.Unmarshal(a.Body, &e); err != nil {
		tb.Fatalf("answer %d is not a JSON error body: %v: %q", a.Status, err, a.Body)
	}
	return e
}

// mustDecode checks the status and decodes the answer into v.
func (a apiAnswer) mustDecode(tb testing.TB, status int, v any) {
	tb.Helper()
	if a.Status != status {
		tb.Fatalf("status = %d, want %d; body %s", a.Status, status, a.Body)
	}
	if err := json.Unmarshal(a.Body, v); err != nil {
		tb.Fatalf("decoding the answer: %v: %s", err, a.Body)
	}
}

// mustRefuse checks that the answer is a JSON error with status and code.
func (a apiAnswer) mustRefuse(tb testing.TB, status int, code string) errorBody {
	tb.Helper()
	if a.Status != status {
		tb.Fatalf("status = %d, want %d (%s); body %s", a.Status, status, code, a.Body)
	}
	if ct := a.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		tb.Fatalf("Content-Type = %q, want application/json", ct)
	}
	e := a.errorBody(tb)
	if e.Error != code {
		tb.Fatalf("error = %q, want %q; message %q", e.Error, code, e.Message)
	}
	if e.Message == "" {
		tb.Fatalf("error %s has no message", code)
	}
	return e
}

// uniqueName returns prefix followed by random hex, usable as key id, HSM
// key name and subject id.
func uniqueName(prefix string) string {
	b := make([]byte, 5)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return prefix + "-" + hex.EncodeToString(b)
}

var demoTokens sync.Map // client name -> token

// mustToken returns a token for a demo client, fetched from the dev auth
// server's token endpoint as seed 001 does, and cached.
func mustToken(tb testing.TB, client string) string {
	tb.Helper()
	if tok, ok := demoTokens.Load(client); ok {
		return tok.(string)
	}
	tok, err := mustStack(tb).Token(context.Background(), client)
	if err != nil {
		tb.Fatalf("token for %s: %v", client, err)
	}
	demoTokens.Store(client, tok)
	return tok
}

// mustSubjectToken issues a token for any subject of the stack's issuer.
func mustSubjectToken(tb testing.TB, subject string) string {
	tb.Helper()
	tok, _, err := mustStack(tb).Auth.Token(subject, localstack.Audience)
	if err != nil {
		tb.Fatalf("token for %s: %v", subject, err)
	}
	return tok
}

// mustSubject registers subject with roles as adminclient and returns a token for it.
func mustSubject(tb testing.TB, subject string, roles ...string) string {
	tb.Helper()
	st := mustStack(tb)
	body := map[string]any{"issuer": st.AuthURL, "name": subject, "roles": roles}
	var got api.Subject
	mustDo(tb, "PUT", "/api/admin/subjects/"+subject, mustToken(tb, "adminclient"), body).mustDecode(tb, http.StatusOK, &got)
	return mustSubjectToken(tb, subject)
}

// mustRegisterKey binds keyID to the HSM key hsmName as adminclient.
func mustRegisterKey(tb testing.TB, keyID, hsmName string, approvals int) api.AdminKey {
	tb.Helper()
	st := mustStack(tb)
	body := map[string]any{"hsmkey": st.HSMURL + "/keys/" + hsmName, "requiredapprovals": approvals, "keyinfo": "test key " + keyID}
	var k api.AdminKey
	mustDo(tb, "PUT", "/api/admin/keys/"+keyID, mustToken(tb, "adminclient"), body).mustDecode(tb, http.StatusOK, &k)
	return k
}

// opRequest is the body of POST /api/operations for keys with their maximum uses.
func opRequest(validMS int64, keys map[string]int) map[string]any {
	var restrictions []map[string]any
	for id, n := range keys {
		restrictions = append(restrictions, map[string]any{"keyid": id, "maxusagecount": n})
	}
	return map[string]any{"validms": validMS, "description": "Building of firmware for XYZ development board", "new-keyusagerestrictions": restrictions}
}

// mustOpenOp opens an operation as token's subject.
func mustOpenOp(tb testing.TB, token string, validMS int64, keys map[string]int) opView {
	tb.Helper()
	var op opView
	mustDo(tb, "POST", "/api/operations", token, opRequest(validMS, keys)).mustDecode(tb, http.StatusCreated, &op)
	if !keyserver.ValidID(op.ID) {
		tb.Fatalf("created operation has id %q", op.ID)
	}
	return op
}

// mustGetOp reads an operation as token's subject.
func mustGetOp(tb testing.TB, token, id string) opView {
	tb.Helper()
	var op opView
	mustDo(tb, "GET", "/api/operations/"+id, token, nil).mustDecode(tb, http.StatusOK, &op)
	return op
}

// mustApprove approves an operation as token's subject.
func mustApprove(tb testing.TB, token, id string) opView {
	tb.Helper()
	var op opView
	mustDo(tb, "POST", "/api/operations/"+id+"/approve", token, map[string]string{"comment": "looks right"}).mustDecode(tb, http.StatusOK, &op)
	return op
}

// grant returns the operation's grant for keyID or fails.
func (o opView) grant(tb testing.TB, keyID string) *api.Grant {
	tb.Helper()
	g := o.Grant(keyID)
	if g == nil {
		tb.Fatalf("operation %s has no grant for %s", o.ID, keyID)
	}
	return g
}

// stored is the operation's stored state, without the derived fields, for
// checking that a refused request changed nothing.
func (o opView) stored(tb testing.TB) string {
	tb.Helper()
	stored := o.Operation
	stored.ValidMS, stored.Approved, stored.Status = 0, false, ""
	b, err := json.Marshal(stored)
	if err != nil {
		tb.Fatalf("encoding operation: %v", err)
	}
	return string(b)
}

// mustUsage checks the usage count of every key of an operation.
func mustUsage(tb testing.TB, token, id string, want map[string]int) {
	tb.Helper()
	op := mustGetOp(tb, token, id)
	for keyID, n := range want {
		if got := op.grant(tb, keyID).UsageCount; got != n {
			tb.Fatalf("usagecount of %s in %s = %d, want %d", keyID, id, got, n)
		}
	}
}
