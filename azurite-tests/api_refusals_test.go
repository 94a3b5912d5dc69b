package azuritetests

import (
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"keyserver/internal/keyserver"
	"keyserver/internal/localstack"
)

// mustForgedToken signs a token for subject with the stack's issuer and
// audience, but with method and key the issuer never uses.
func mustForgedToken(tb testing.TB, subject string, method jwt.SigningMethod, key any) string {
	tb.Helper()
	now := time.Now()
	claims := jwt.MapClaims{
		"iss": mustStack(tb).AuthURL, "aud": localstack.Audience, "sub": subject,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
	tok := jwt.NewWithClaims(method, claims)
	tok.Header["kid"] = "forged"
	s, err := tok.SignedString(key)
	if err != nil {
		tb.Fatalf("forging a %s token: %v", method.Alg(), err)
	}
	return s
}

// mustForeignToken signs an RS256 token for subject with a key of its own,
// naming an issuer the Keyserver does not trust.
func mustForeignToken(tb testing.TB, subject string) string {
	tb.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatalf("generating a key: %v", err)
	}
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": "https://issuer.invalid", "aud": localstack.Audience, "sub": subject,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
	s, err := tok.SignedString(key)
	if err != nil {
		tb.Fatalf("signing a foreign token: %v", err)
	}
	return s
}

// mustOpenOps counts the open operations token's subject can read.
func mustOpenOps(tb testing.TB, token string) int {
	tb.Helper()
	var ops []opView
	mustDo(tb, "GET", "/api/operations", token, nil).mustDecode(tb, http.StatusOK, &ops)
	return len(ops)
}

// TestAPICreateOperationUnknownAndForbiddenKeysLookAlike is issue 8's
// defect 6: POST /api/operations answers a key the caller may not order
// exactly as one that does not exist.
func TestAPICreateOperationUnknownAndForbiddenKeysLookAlike(t *testing.T) {
	t.Parallel()
	token := mustSubject(t, uniqueName("key1only"), "orderer:key1", "approver:key2")
	forbidden := mustDo(t, "POST", "/api/operations", token, opRequest(60000, map[string]int{"key2": 1})).mustRefuse(t, 404, keyserver.ENOTFOUND)
	unknown := mustDo(t, "POST", "/api/operations", token, opRequest(60000, map[string]int{"key9": 1})).mustRefuse(t, 404, keyserver.ENOTFOUND)
	if strings.ReplaceAll(forbidden.Message, "key2", "key9") != unknown.Message {
		t.Fatalf("a forbidden key gets %q, an unknown one %q", forbidden.Message, unknown.Message)
	}
}

// TestAPICreateOperationRefusals sends every bad request as a subject of its
// own, which sees only its own operations, and checks none was created.
func TestAPICreateOperationRefusals(t *testing.T) {
	t.Parallel()
	st := mustStack(t)
	subject := uniqueName("refused")
	token := mustSubject(t, subject, "orderer:*")
	valid := func(change func(map[string]any)) map[string]any {
		b := opRequest(60000, map[string]int{"key1": 1})
		if change != nil {
			change(b)
		}
		return b
	}
	keys := func(ks ...map[string]any) func(map[string]any) {
		return func(b map[string]any) { b["new-keyusagerestrictions"] = ks }
	}
	set := func(field string, v any) func(map[string]any) {
		return func(b map[string]any) { b[field] = v }
	}
	wrongAudience, _, err := st.Auth.Token(subject, "api://other")
	if err != nil {
		t.Fatalf("token with another audience: %v", err)
	}
	cases := []struct {
		name   string
		token  string
		body   any
		status int
		code   string
	}{
		{"malformed JSON", token, `{"validms": 60000,`, 400, keyserver.EINVALID},
		{"unknown field", token, valid(set("priority", "high")), 400, keyserver.EINVALID},
		{"trailing data", token, `{"validms":60000} {}`, 400, keyserver.EINVALID},
		{"wrong type", token, valid(set("validms", "60000")), 400, keyserver.EINVALID},
		{"empty body", token, "", 400, keyserver.EINVALID},
		{"validms 0", token, valid(set("validms", 0)), 400, keyserver.EINVALID},
		{"validms negative", token, valid(set("validms", -1)), 400, keyserver.EINVALID},
		{"validms above 24h", token, valid(set("validms", 24*3600*1000+1)), 400, keyserver.EINVALID},
		{"description of 7", token, valid(set("description", "1234567")), 400, keyserver.EINVALID},
		{"description of 1025", token, valid(set("description", strings.Repeat("d", 1025))), 400, keyserver.EINVALID},
		{"no keys", token, valid(keys()), 400, keyserver.EINVALID},
		{"duplicate key", token, valid(keys(map[string]any{"keyid": "key1", "maxusagecount": 1}, map[string]any{"keyid": "key1", "maxusagecount": 2})), 400, keyserver.EINVALID},
		{"maxusagecount 0", token, valid(keys(map[string]any{"keyid": "key1", "maxusagecount": 0})), 400, keyserver.EINVALID},
		{"maxusagecount 1001", token, valid(keys(map[string]any{"keyid": "key1", "maxusagecount": 1001})), 400, keyserver.EINVALID},
		{"unknown keyid", token, valid(keys(map[string]any{"keyid": "no-such-key", "maxusagecount": 1})), 404, keyserver.ENOTFOUND},
		{"invalid keyid", token, valid(keys(map[string]any{"keyid": "../key1", "maxusagecount": 1})), 400, keyserver.EINVALID},
		{"missing token", "", valid(nil), 401, keyserver.EUNAUTHENTICATED},
		{"garbage token", "garbage", valid(nil), 401, keyserver.EUNAUTHENTICATED},
		{"oversized token", strings.Repeat("a", 20<<10), valid(nil), 401, keyserver.EUNAUTHENTICATED},
		{"token of an untrusted issuer", mustForeignToken(t, subject), valid(nil), 401, keyserver.EUNAUTHENTICATED},
		{"wrong audience", wrongAudience, valid(nil), 401, keyserver.EUNAUTHENTICATED},
		{"HS256 token", mustForgedToken(t, subject, jwt.SigningMethodHS256, []byte("a shared secret")), valid(nil), 401, keyserver.EUNAUTHENTICATED},
		{"alg none token", mustForgedToken(t, subject, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType), valid(nil), 401, keyserver.EUNAUTHENTICATED},
		{"body over 64 KiB", token, valid(set("description", strings.Repeat("d", 70<<10))), 413, keyserver.ETOOLARGE},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := mustDo(t, "POST", "/api/operations", tc.token, tc.body)
			a.mustRefuse(t, tc.status, tc.code)
			if tc.status == http.StatusUnauthorized && a.Header.Get("WWW-Authenticate") == "" {
				t.Fatalf("401 without WWW-Authenticate")
			}
			if n := mustOpenOps(t, token); n != 0 {
				t.Fatalf("%d operations exist after a refused request, want 0", n)
			}
		})
	}
	// The count above can see an operation: a valid request makes one.
	mustOpenOp(t, token, 60000, map[string]int{"key1": 1})
	if n := mustOpenOps(t, token); n != 1 {
		t.Fatalf("%d operations after one valid request, want 1", n)
	}
}

// TestAPIClosedOperationsRefuseChanges moves the clock, so it does not run in parallel.
func TestAPIClosedOperationsRefuseChanges(t *testing.T) {
	orderer := mustToken(t, "orderer-client")
	approver := mustToken(t, "approver-key2")
	expired := mustOpenOp(t, orderer, 1000, map[string]int{"key2": 1})
	rejected := mustOpenOp(t, orderer, 60000, map[string]int{"key2": 1})
	cancelled := mustOpenOp(t, orderer, 60000, map[string]int{"key2": 1})
	var got opView
	mustDo(t, "POST", "/api/operations/"+rejected.ID+"/reject", approver, map[string]string{"reason": "not this build"}).mustDecode(t, http.StatusOK, &got)
	if got.Status != string(keyserver.StatusRejected) || got.Rejected == nil || got.Rejected.Reason != "not this build" {
		t.Fatalf("after reject: status %s, rejected %+v", got.Status, got.Rejected)
	}
	mustDo(t, "POST", "/api/operations/"+cancelled.ID+"/cancel", orderer, nil).mustDecode(t, http.StatusOK, &got)
	if got.Status != string(keyserver.StatusCancelled) || got.Cancelled == nil {
		t.Fatalf("after cancel: status %s, cancelled %+v", got.Status, got.Cancelled)
	}
	clock.Advance(2 * time.Second)
	if s := mustGetOp(t, orderer, expired.ID).Status; s != string(keyserver.StatusExpired) {
		t.Fatalf("status after the clock passed validms = %s, want expired", s)
	}
	actions := []struct {
		name  string
		token string
		body  any
	}{
		{"approve", approver, nil},
		{"reject", approver, map[string]string{"reason": "too late"}},
		{"cancel", orderer, nil},
	}
	for _, op := range []opView{expired, rejected, cancelled} {
		for _, a := range actions {
			before := mustGetOp(t, orderer, op.ID)
			t.Run(string(before.Status)+"/"+a.name, func(t *testing.T) {
				mustDo(t, "POST", "/api/operations/"+op.ID+"/"+a.name, a.token, a.body).mustRefuse(t, http.StatusConflict, keyserver.ECONFLICT)
				if after := mustGetOp(t, orderer, op.ID); after.stored(t) != before.stored(t) {
					t.Fatalf("refused %s changed the operation:\n%s\n%s", a.name, before.stored(t), after.stored(t))
				}
			})
		}
	}
}

// TestAPIOperationPermissions checks who may reject, cancel and read.
func TestAPIOperationPermissions(t *testing.T) {
	t.Parallel()
	orderer := mustToken(t, "orderer-client")
	op := mustOpenOp(t, orderer, 60000, map[string]int{"key2": 1})
	before := mustGetOp(t, orderer, op.ID)
	reason := map[string]string{"reason": "no"}
	cases := []struct {
		name, client, method, action string
		body                         any
		status                       int
		code                         string
	}{
		{"reject by the requester", "orderer-client", "POST", "/reject", reason, 403, keyserver.EFORBIDDEN},
		{"reject by a stranger", "approver-key1", "POST", "/reject", reason, 404, keyserver.ENOTFOUND},
		{"reject without reason", "approver-key2", "POST", "/reject", map[string]string{}, 400, keyserver.EINVALID},
		{"cancel by an approver", "approver-key2", "POST", "/cancel", nil, 403, keyserver.EFORBIDDEN},
		{"cancel by a stranger", "orderer-clientkey1", "POST", "/cancel", nil, 404, keyserver.ENOTFOUND},
		{"approve by a stranger", "approver-key1", "POST", "/approve", nil, 404, keyserver.ENOTFOUND},
		{"GET by a stranger", "approver-key1", "GET", "", nil, 404, keyserver.ENOTFOUND},
		{"GET by another orderer of the key", "orderer-clientkey2", "GET", "", nil, 404, keyserver.ENOTFOUND},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mustDo(t, tc.method, "/api/operations/"+op.ID+tc.action, mustToken(t, tc.client), tc.body).mustRefuse(t, tc.status, tc.code)
			if after := mustGetOp(t, orderer, op.ID); after.stored(t) != before.stored(t) {
				t.Fatalf("refused request changed the operation:\n%s\n%s", before.stored(t), after.stored(t))
			}
		})
	}
	mustDo(t, "GET", "/api/operations/not-an-id", orderer, nil).mustRefuse(t, 404, keyserver.ENOTFOUND)
	mustDo(t, "GET", "/api/operations/"+keyserver.NewID(), orderer, nil).mustRefuse(t, 404, keyserver.ENOTFOUND)
	// The approver of the key does see it.
	if got := mustGetOp(t, mustToken(t, "approver-key2"), op.ID); got.ID != op.ID {
		t.Fatalf("approver-key2 read operation %q, want %q", got.ID, op.ID)
	}
}

// TestAPIPendingListsOnlyApprovable checks GET /api/operations?status=pending.
func TestAPIPendingListsOnlyApprovable(t *testing.T) {
	t.Parallel()
	orderer := mustToken(t, "orderer-client")
	approver := mustToken(t, "approver-key4")
	forKey4 := mustOpenOp(t, orderer, 60000, map[string]int{"key4": 1})
	forKey2 := mustOpenOp(t, orderer, 60000, map[string]int{"key2": 1})
	needsNone := mustOpenOp(t, orderer, 60000, map[string]int{"key1": 1})
	pending := func(token string) map[string]opView {
		t.Helper()
		var ops []opView
		mustDo(t, "GET", "/api/operations?status=pending", token, nil).mustDecode(t, http.StatusOK, &ops)
		m := map[string]opView{}
		for _, op := range ops {
			m[op.ID] = op
		}
		return m
	}
	list := pending(approver)
	if _, ok := list[forKey4.ID]; !ok {
		t.Fatalf("approver-key4's pending list lacks the key4 operation")
	}
	for id, op := range list {
		g := op.Grant("key4")
		if op.Status != string(keyserver.StatusPending) || g == nil || len(g.Approvals) >= g.RequiredApprovals {
			t.Fatalf("approver-key4's pending list holds %s (status %s, key4 grant %+v)", id, op.Status, g)
		}
	}
	for _, op := range []opView{forKey2, needsNone} {
		if _, ok := list[op.ID]; ok {
			t.Fatalf("approver-key4's pending list holds operation %s for %s", op.ID, op.Keys[0].KeyID)
		}
	}
	mustApprove(t, approver, forKey4.ID)
	if _, ok := pending(approver)[forKey4.ID]; ok {
		t.Fatalf("an approved operation is still pending for its approver")
	}
	mine := pending(orderer)
	for _, op := range []opView{forKey4, forKey2, needsNone} {
		if _, ok := mine[op.ID]; ok {
			t.Fatalf("the requester's pending list holds its own operation %s", op.ID)
		}
	}
	mustDo(t, "GET", "/api/operations?status=bogus", orderer, nil).mustRefuse(t, 400, keyserver.EINVALID)
}
