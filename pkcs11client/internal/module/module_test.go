package module

import (
	"crypto"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"keyserver/internal/ksfake"
)

type logSink struct {
	mu    sync.Mutex
	lines []string
}

func (l *logSink) log(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
}

func (l *logSink) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string{}, l.lines...)
}

// mustStack starts a fake Keyserver with an RSA key1 and an EC key2 and a
// module pointed at it; env entries override the defaults ("" removes).
func mustStack(tb testing.TB, env map[string]string) (*Module, *ksfake.Fake, *logSink) {
	tb.Helper()
	fake := ksfake.New("tok", "op1", ksfake.MustRSAKey(tb, "key1", 2048), ksfake.MustECKey(tb, "key2", elliptic.P256()))
	srv := httptest.NewServer(fake)
	tb.Cleanup(srv.Close)
	vars := map[string]string{"KSC_API_SERVER": srv.URL, "KSC_ID_TOKEN": "tok", "KSC_OPERATION_ID": "op1"}
	for k, v := range env {
		vars[k] = v
	}
	sink := &logSink{}
	return New(Options{Getenv: envOf(vars), Log: sink.log}), fake, sink
}

func mustSession(tb testing.TB, m *Module) uint {
	tb.Helper()
	h, rv := m.OpenSession(SlotID, CKF_SERIAL_SESSION)
	if rv != CKR_OK {
		tb.Fatalf("OpenSession = 0x%x", rv)
	}
	return h
}

func TestKeysAreListedOncePerModule(t *testing.T) {
	m, fake, _ := mustStack(t, nil)
	for range 3 {
		if got := m.SlotList(true); len(got) != 1 {
			t.Fatalf("SlotList = %v", got)
		}
		mustSession(t, m)
	}
	if ti, rv := m.TokenInfo(SlotID); rv != CKR_OK || ti.Label != TokenLabel || ti.Flags&CKF_TOKEN_INITIALIZED == 0 || ti.Sessions != 3 {
		t.Fatalf("TokenInfo = %+v, 0x%x", ti, rv)
	}
	if keys, _ := fake.Calls(); keys != 1 {
		t.Fatalf("key listings = %d, want 1", keys)
	}
	if fake.LastAuth() != "Bearer tok" {
		t.Fatalf("Authorization = %q", fake.LastAuth())
	}
}

func TestMissingConfigMakesTheTokenAbsentWithOneLine(t *testing.T) {
	m, fake, sink := mustStack(t, map[string]string{"KSC_API_SERVER": ""})
	if got := m.SlotList(true); len(got) != 0 {
		t.Fatalf("SlotList(true) = %v, want none", got)
	}
	if got := m.SlotList(false); len(got) != 1 {
		t.Fatalf("SlotList(false) = %v, want the slot", got)
	}
	if _, rv := m.TokenInfo(SlotID); rv != CKR_TOKEN_NOT_PRESENT {
		t.Fatalf("TokenInfo = 0x%x", rv)
	}
	if _, rv := m.OpenSession(SlotID, CKF_SERIAL_SESSION); rv != CKR_TOKEN_NOT_PRESENT {
		t.Fatalf("OpenSession = 0x%x", rv)
	}
	lines := sink.all()
	if len(lines) != 1 || !strings.Contains(lines[0], "KSC_API_SERVER") {
		t.Fatalf("log = %q, want one line naming KSC_API_SERVER", lines)
	}
	if keys, _ := fake.Calls(); keys != 0 {
		t.Fatalf("key listings = %d", keys)
	}
}

func TestUnreachableServerMakesTheTokenAbsent(t *testing.T) {
	m, _, sink := mustStack(t, map[string]string{"KSC_API_SERVER": "http://127.0.0.1:1"})
	if _, rv := m.TokenInfo(SlotID); rv != CKR_TOKEN_NOT_PRESENT {
		t.Fatalf("TokenInfo = 0x%x", rv)
	}
	if lines := sink.all(); len(lines) != 1 || !strings.Contains(lines[0], "cannot reach the Keyserver") {
		t.Fatalf("log = %q", lines)
	}
}

func TestGetAttributeValueFollowsTheSpec(t *testing.T) {
	m, _, _ := mustStack(t, nil)
	sh := mustSession(t, m)
	q := []AttrQuery{
		{Type: CKA_LABEL}, // length query
		{Type: CKA_LABEL, HasBuf: true, Buf: make([]byte, 2)}, // too small
		{Type: CKA_PRIVATE_EXPONENT, HasBuf: true, Buf: make([]byte, 512)},
		{Type: CKA_CERTIFICATE_TYPE, HasBuf: true, Buf: make([]byte, 8)},
		{Type: CKA_SIGN, HasBuf: true, Buf: make([]byte, 1)}, // processed after failures
	}
	rv := m.GetAttributeValue(sh, 1, q)
	if rv != CKR_ATTRIBUTE_SENSITIVE && rv != CKR_ATTRIBUTE_TYPE_INVALID && rv != CKR_BUFFER_TOO_SMALL {
		t.Fatalf("rv = 0x%x", rv)
	}
	want := []uint{4, CK_UNAVAILABLE_INFORMATION, CK_UNAVAILABLE_INFORMATION, CK_UNAVAILABLE_INFORMATION, 1}
	for i := range q {
		if q[i].Len != want[i] {
			t.Errorf("entry %d length = %d, want %d", i, q[i].Len, want[i])
		}
	}
	if q[4].Buf[0] != 1 {
		t.Errorf("CKA_SIGN not filled after earlier failures")
	}
	if rv := m.GetAttributeValue(sh, 99, q); rv != CKR_OBJECT_HANDLE_INVALID {
		t.Errorf("bad object rv = 0x%x", rv)
	}
	if rv := m.GetAttributeValue(77, 1, q); rv != CKR_SESSION_HANDLE_INVALID {
		t.Errorf("bad session rv = 0x%x", rv)
	}
}

func TestSizeQueryCostsOneServerCall(t *testing.T) {
	m, fake, _ := mustStack(t, nil)
	sh := mustSession(t, m)
	if rv := m.SignInit(sh, CKM_SHA256_RSA_PKCS, nil, 1); rv != CKR_OK {
		t.Fatalf("SignInit = 0x%x", rv)
	}
	data := []byte("hello")
	if n, rv := m.Sign(sh, data, nil, false); rv != CKR_OK || n != 256 {
		t.Fatalf("size query = %d, 0x%x", n, rv)
	}
	if n, rv := m.Sign(sh, data, make([]byte, 10), true); rv != CKR_BUFFER_TOO_SMALL || n != 256 {
		t.Fatalf("small buffer = %d, 0x%x", n, rv)
	}
	sig := make([]byte, 300)
	n, rv := m.Sign(sh, data, sig, true)
	if rv != CKR_OK || n != 256 {
		t.Fatalf("Sign = %d, 0x%x", n, rv)
	}
	if _, signs := fake.Calls(); signs != 1 {
		t.Fatalf("sign orders = %d, want 1", signs)
	}
	digest := sha256.Sum256(data)
	pub := fake.Keys[0].Signer.Public().(*rsa.PublicKey)
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig[:n]); err != nil {
		t.Fatalf("signature does not verify: %v", err)
	}
	if _, rv := m.Sign(sh, data, sig, true); rv != CKR_OPERATION_NOT_INITIALIZED {
		t.Fatalf("Sign after success = 0x%x, want CKR_OPERATION_NOT_INITIALIZED", rv)
	}
}

func TestServerErrorsMapToDistinctCodes(t *testing.T) {
	cases := []struct {
		fault ksfake.Fault
		want  RV
		hint  string
	}{
		{ksfake.Fault{Status: 401, Code: "unauthenticated", Message: "token expired"}, CKR_USER_NOT_LOGGED_IN, "KSC_ID_TOKEN"},
		{ksfake.Fault{Status: 403, Code: "forbidden", Message: "no role"}, CKR_KEY_FUNCTION_NOT_PERMITTED, "orderer"},
		{ksfake.Fault{Status: 404, Code: "not_found", Message: "no such operation"}, CKR_KEY_HANDLE_INVALID, "KSC_OPERATION_ID"},
		{ksfake.Fault{Status: 400, Code: "invalid_request", Message: "bad digest"}, CKR_DATA_INVALID, "bad digest"},
		{ksfake.Fault{Status: 409, Code: "not_approved", Message: "1 of 2 approvals"}, CKR_FUNCTION_REJECTED, "wait for approval"},
		{ksfake.Fault{Status: 409, Code: "usage_exhausted", Message: "0 uses left"}, CKR_TOKEN_RESOURCE_EXCEEDED, "new operation"},
		{ksfake.Fault{Status: 409, Code: "operation_closed", Message: "cancelled"}, CKR_ACTION_PROHIBITED, "new operation"},
		{ksfake.Fault{Status: 410, Code: "expired", Message: "expired at 12:00"}, CKR_PIN_EXPIRED, "expired"},
		{ksfake.Fault{Status: 429, Code: "rate_limited", Message: "slow down"}, CKR_FUNCTION_CANCELED, "retry later"},
		{ksfake.Fault{Status: 503, Code: "unavailable", Message: "HSM down"}, CKR_DEVICE_ERROR, "retry later"},
		{ksfake.Fault{Status: 500, Code: "internal", Message: "boom"}, CKR_GENERAL_ERROR, "HTTP 500"},
	}
	seen := map[RV]bool{}
	for _, c := range cases {
		m, fake, sink := mustStack(t, nil)
		sh := mustSession(t, m)
		fake.InjectSignFault(c.fault)
		if rv := m.SignInit(sh, CKM_ECDSA_SHA256, nil, 4); rv != CKR_OK {
			t.Fatalf("SignInit = 0x%x", rv)
		}
		_, rv := m.Sign(sh, []byte("x"), make([]byte, 64), true)
		lines := sink.all()
		if rv != c.want || len(lines) != 1 || !strings.Contains(lines[0], c.hint) || !strings.Contains(lines[0], c.fault.Message) {
			t.Errorf("%s: rv = 0x%x, log %q; want 0x%x and a line with %q", c.fault.Code, rv, lines, c.want, c.hint)
		}
		if seen[rv] {
			t.Errorf("%s: code 0x%x used twice", c.fault.Code, rv)
		}
		seen[rv] = true
		if _, rv := m.Sign(sh, []byte("x"), make([]byte, 64), true); rv != CKR_OPERATION_NOT_INITIALIZED {
			t.Errorf("%s: the failed operation is still active", c.fault.Code)
		}
	}
}

func TestSessionAndOperationStates(t *testing.T) {
	m, _, _ := mustStack(t, nil)
	sh := mustSession(t, m)
	cases := []struct {
		name string
		got  RV
		want RV
	}{
		{"sign without init", second(m.Sign(sh, nil, nil, false)), CKR_OPERATION_NOT_INITIALIZED},
		{"bad session", m.SignInit(99, CKM_ECDSA, nil, 4), CKR_SESSION_HANDLE_INVALID},
		{"bad key", m.SignInit(sh, CKM_ECDSA, nil, 42), CKR_KEY_HANDLE_INVALID},
		{"public key", m.SignInit(sh, CKM_ECDSA, nil, 5), CKR_KEY_FUNCTION_NOT_PERMITTED},
		{"certificate", m.SignInit(sh, CKM_ECDSA, nil, 6), CKR_KEY_TYPE_INCONSISTENT},
		{"wrong mechanism", m.SignInit(sh, CKM_SHA256_RSA_PKCS, nil, 4), CKR_KEY_TYPE_INCONSISTENT},
		{"init", m.SignInit(sh, CKM_ECDSA, nil, 4), CKR_OK},
		{"init twice", m.SignInit(sh, CKM_ECDSA, nil, 4), CKR_OPERATION_ACTIVE},
		{"cancel", m.SignCancel(sh), CKR_OK},
		{"find final without init", m.FindObjectsFinal(sh), CKR_OPERATION_NOT_INITIALIZED},
		{"find init", m.FindObjectsInit(sh, nil), CKR_OK},
		{"find init twice", m.FindObjectsInit(sh, nil), CKR_OPERATION_ACTIVE},
		{"login", m.Login(sh, CKU_USER), CKR_OK},
		{"login again", m.Login(sh, CKU_USER), CKR_USER_ALREADY_LOGGED_IN},
		{"bad user type", m.Login(sh, 7), CKR_USER_TYPE_INVALID},
		{"logout", m.Logout(sh), CKR_OK},
		{"bad slot", m.CloseAllSessions(5), CKR_SLOT_ID_INVALID},
		{"close", m.CloseSession(sh), CKR_OK},
		{"close twice", m.CloseSession(sh), CKR_SESSION_HANDLE_INVALID},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("%s: 0x%x, want 0x%x", c.name, c.got, c.want)
		}
	}
}

func second(_ uint, rv RV) RV { return rv }

func TestMissingOperationIDFailsSignInit(t *testing.T) {
	m, _, sink := mustStack(t, map[string]string{"KSC_OPERATION_ID": ""})
	sh := mustSession(t, m)
	if rv := m.SignInit(sh, CKM_ECDSA, nil, 4); rv != CKR_FUNCTION_FAILED {
		t.Fatalf("SignInit = 0x%x", rv)
	}
	if lines := sink.all(); len(lines) != 1 || !strings.Contains(lines[0], "KSC_OPERATION_ID") {
		t.Fatalf("log = %q", lines)
	}
}

func TestCheckInitArgs(t *testing.T) {
	cases := []struct {
		name string
		args InitArgs
		want RV
	}{
		{"NULL", InitArgs{}, CKR_OK},
		{"no locking", InitArgs{Present: true}, CKR_OK},
		{"OS locking", InitArgs{Present: true, Flags: CKF_OS_LOCKING_OK}, CKR_OK},
		{"all callbacks", InitArgs{Present: true, Mutexes: 4}, CKR_OK},
		{"some callbacks", InitArgs{Present: true, Mutexes: 2}, CKR_ARGUMENTS_BAD},
		{"reserved set", InitArgs{Present: true, ReservedNotNull: true}, CKR_ARGUMENTS_BAD},
		{"cannot create threads", InitArgs{Present: true, Flags: CKF_LIBRARY_CANT_CREATE_OS_THREADS | CKF_OS_LOCKING_OK}, CKR_OK},
	}
	for _, c := range cases {
		if got := CheckInitArgs(c.args); got != c.want {
			t.Errorf("%s: 0x%x, want 0x%x", c.name, got, c.want)
		}
	}
}
