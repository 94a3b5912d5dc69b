package harness

import (
	"crypto/elliptic"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/pkcs11"

	"keyserver/internal/ksfake"
)

// libPath is the module built once for all tests.
var libPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pkcs11ks")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	libPath = filepath.Join(dir, "libpkcs11ks.so")
	code := 1
	if err := build(libPath); err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// build runs pkcs11client/build.sh, the command the Makefile uses.
func build(out string) error {
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "build.sh")
	cmd := exec.Command("sh", script, out)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building the module: %v\n%s", err, b)
	}
	return nil
}

// stack is a fake Keyserver and the module initialised against it.
type stack struct {
	fake *ksfake.Fake
	p    *pkcs11.Ctx
}

// mustStack serves an RSA key1, an EC P-256 key2 and an EC P-384 key3 and
// initialises the module with the KSC_* variables pointing at them.
func mustStack(tb testing.TB) *stack {
	tb.Helper()
	fake := ksfake.New("harness-token", "op-harness",
		ksfake.MustRSAKey(tb, "key1", 2048),
		ksfake.MustECKey(tb, "key2", elliptic.P256()),
		ksfake.MustECKey(tb, "key3", elliptic.P384()))
	srv := httptest.NewServer(fake)
	tb.Cleanup(srv.Close)
	tb.Setenv("KSC_API_SERVER", srv.URL)
	tb.Setenv("KSC_ID_TOKEN", "harness-token")
	tb.Setenv("KSC_OPERATION_ID", "op-harness")
	tb.Setenv("KSC_OPERATION_DESCRIPTION", "harness")
	p := pkcs11.New(libPath)
	if p == nil {
		tb.Fatalf("loading %s failed", libPath)
	}
	if err := p.Initialize(); err != nil {
		tb.Fatalf("C_Initialize: %v", err)
	}
	tb.Cleanup(func() { _ = p.Finalize() })
	return &stack{fake: fake, p: p}
}

func (s *stack) mustSession(tb testing.TB) pkcs11.SessionHandle {
	tb.Helper()
	sh, err := s.p.OpenSession(1, pkcs11.CKF_SERIAL_SESSION)
	if err != nil {
		tb.Fatalf("C_OpenSession: %v", err)
	}
	return sh
}

// mustFind returns the handles matching tmpl.
func (s *stack) mustFind(tb testing.TB, sh pkcs11.SessionHandle, tmpl ...*pkcs11.Attribute) []pkcs11.ObjectHandle {
	tb.Helper()
	if err := s.p.FindObjectsInit(sh, tmpl); err != nil {
		tb.Fatalf("C_FindObjectsInit: %v", err)
	}
	var all []pkcs11.ObjectHandle
	for {
		hs, _, err := s.p.FindObjects(sh, 2)
		if err != nil {
			tb.Fatalf("C_FindObjects: %v", err)
		}
		if len(hs) == 0 {
			break
		}
		all = append(all, hs...)
	}
	if err := s.p.FindObjectsFinal(sh); err != nil {
		tb.Fatalf("C_FindObjectsFinal: %v", err)
	}
	return all
}

func (s *stack) mustKey(tb testing.TB, sh pkcs11.SessionHandle, label string, class uint) pkcs11.ObjectHandle {
	tb.Helper()
	hs := s.mustFind(tb, sh, pkcs11.NewAttribute(pkcs11.CKA_LABEL, label), pkcs11.NewAttribute(pkcs11.CKA_CLASS, class))
	if len(hs) != 1 {
		tb.Fatalf("found %d objects of class %d labelled %s, want 1", len(hs), class, label)
	}
	return hs[0]
}

func TestExportsOnlyCryptokiFunctions(t *testing.T) {
	out, err := exec.Command("nm", "-D", "--defined-only", libPath).Output()
	if err != nil {
		t.Fatalf("nm: %v", err)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		got = append(got, f[len(f)-1])
	}
	slices.Sort(got)
	want := slices.Clone(cryptokiFunctions)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("exported symbols:\n%v\nwant:\n%v", got, want)
	}
}

var cryptokiFunctions = []string{
	"C_Initialize", "C_Finalize", "C_GetInfo", "C_GetFunctionList", "C_GetSlotList", "C_GetSlotInfo",
	"C_GetTokenInfo", "C_GetMechanismList", "C_GetMechanismInfo", "C_InitToken", "C_InitPIN", "C_SetPIN",
	"C_OpenSession", "C_CloseSession", "C_CloseAllSessions", "C_GetSessionInfo", "C_GetOperationState",
	"C_SetOperationState", "C_Login", "C_Logout", "C_CreateObject", "C_CopyObject", "C_DestroyObject",
	"C_GetObjectSize", "C_GetAttributeValue", "C_SetAttributeValue", "C_FindObjectsInit", "C_FindObjects",
	"C_FindObjectsFinal", "C_EncryptInit", "C_Encrypt", "C_EncryptUpdate", "C_EncryptFinal", "C_DecryptInit",
	"C_Decrypt", "C_DecryptUpdate", "C_DecryptFinal", "C_DigestInit", "C_Digest", "C_DigestUpdate",
	"C_DigestKey", "C_DigestFinal", "C_SignInit", "C_Sign", "C_SignUpdate", "C_SignFinal",
	"C_SignRecoverInit", "C_SignRecover", "C_VerifyInit", "C_Verify", "C_VerifyUpdate", "C_VerifyFinal",
	"C_VerifyRecoverInit", "C_VerifyRecover", "C_DigestEncryptUpdate", "C_DecryptDigestUpdate",
	"C_SignEncryptUpdate", "C_DecryptVerifyUpdate", "C_GenerateKey", "C_GenerateKeyPair", "C_WrapKey",
	"C_UnwrapKey", "C_DeriveKey", "C_SeedRandom", "C_GenerateRandom", "C_GetFunctionStatus",
	"C_CancelFunction", "C_WaitForSlotEvent", "C_GetInterfaceList", "C_GetInterface",
}

func TestRawArgumentChecks(t *testing.T) {
	mustStack(t)
	if err := Load(libPath); err != nil {
		t.Fatal(err)
	}
	cases, err := RawCases()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint{
		"C_Initialize twice":                 pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED,
		"C_SignInit(NULL mechanism) cancels": pkcs11.CKR_OK,
		"C_EncryptInit":                      pkcs11.CKR_FUNCTION_NOT_SUPPORTED,
		"C_GetAttributeValue(length query)":  pkcs11.CKR_OK,
	}
	for _, c := range cases {
		w, ok := want[c.Name]
		if !ok {
			w = pkcs11.CKR_ARGUMENTS_BAD
		}
		if c.Got != w {
			t.Errorf("%s = 0x%x, want 0x%x", c.Name, c.Got, w)
		}
	}
	if rv := InterfaceMatches(libPath); rv != pkcs11.CKR_OK {
		t.Errorf("C_GetInterface = 0x%x", rv)
	}
}

func TestInitializeArguments(t *testing.T) {
	p := pkcs11.New(libPath)
	if _, err := p.GetInfo(); err == nil {
		t.Fatalf("C_GetInfo before C_Initialize succeeded")
	} else if e, _ := err.(pkcs11.Error); uint(e) != pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED {
		t.Fatalf("C_GetInfo before C_Initialize = %v", err)
	}
	if err := p.Finalize(); err == nil || uint(err.(pkcs11.Error)) != pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED {
		t.Fatalf("C_Finalize before C_Initialize = %v", err)
	}
	// GnuTLS passes CKF_LIBRARY_CANT_CREATE_OS_THREADS; it is accepted (see README).
	if err := p.Initialize(pkcs11.InitializeWithFlags(pkcs11.CKF_LIBRARY_CANT_CREATE_OS_THREADS | pkcs11.CKF_OS_LOCKING_OK)); err != nil {
		t.Fatalf("C_Initialize with CANT_CREATE_OS_THREADS: %v", err)
	}
	if err := p.Finalize(); err != nil {
		t.Fatalf("C_Finalize: %v", err)
	}
}
