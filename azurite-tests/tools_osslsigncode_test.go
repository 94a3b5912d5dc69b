package azuritetests

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// mustWindowsExe builds a hello-world Windows PE with the Go toolchain.
func mustWindowsExe(tb testing.TB, dir string) string {
	tb.Helper()
	src := filepath.Join(dir, "hello")
	if err := os.MkdirAll(src, 0o700); err != nil {
		tb.Fatalf("creating %s: %v", src, err)
	}
	mustWriteFile(tb, src, "go.mod", "module hello\n\ngo 1.22\n")
	mustWriteFile(tb, src, "main.go", "package main\n\nfunc main() { println(\"hello, firmware\") }\n")
	exe := filepath.Join(dir, "app.exe")
	env := toolEnv(map[string]string{"GOOS": "windows", "GOARCH": "amd64", "CGO_ENABLED": "0", "GOFLAGS": "", "GOWORK": "off", "GOTOOLCHAIN": "local"})
	mustTool(tb, src, env, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", exe, ".")
	if b := mustReadFile(tb, dir, "app.exe"); !bytes.HasPrefix(b, []byte("MZ")) {
		tb.Fatalf("app.exe is not a PE file")
	}
	return exe
}

// TestToolsOsslsigncode signs a Windows executable with Authenticode through
// the module and verifies it with key1's self-signed certificate as CA.
func TestToolsOsslsigncode(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	mustWindowsExe(t, dir)
	op := mustToolOp(t, 120000, map[string]int{"key1": 1})
	env := toolEnv(ksVars(t, op.ID))
	mustDemoKey(t, dir, "key1")

	mustTool(t, dir, env, "osslsigncode", "sign", "-pkcs11engine", osslsignEngine, "-pkcs11module", mustModule(t),
		"-certs", "key1.pem", "-key", "pkcs11:object=key1", "-h", "sha256", "-n", "XYZ firmware tool",
		"-in", "app.exe", "-out", "signed.exe")
	r := mustTool(t, dir, toolEnv(nil), "osslsigncode", "verify", "-CAfile", "key1.pem", "-in", "signed.exe")
	for _, want := range []string{"Signature verification: ok", "Subject: /O=Keyserver/CN=key1", "Message digest algorithm  : SHA256"} {
		if !strings.Contains(r.Stdout, want) {
			t.Fatalf("osslsigncode verify does not say %q:\n%s", want, r.Stdout)
		}
	}
	mustUsage(t, mustToken(t, "orderer-client"), op.ID, map[string]int{"key1": 1})

	// The check can fail: an unsigned file does not verify.
	if r := runTool(dir, toolEnv(nil), "osslsigncode", "verify", "-CAfile", "key1.pem", "-in", "app.exe"); r.Err == nil {
		t.Fatalf("osslsigncode verify accepted the unsigned app.exe")
	}
}
