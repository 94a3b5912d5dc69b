package azuritetests

import (
	"bytes"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The tool tests drive the built PKCS#11 module with the real openssl,
// pkcs11-tool, p11tool and osslsigncode against the full local stack.

const (
	libp11Engine   = "/usr/lib/x86_64-linux-gnu/engines-3/libpkcs11.so"
	osslsignEngine = "/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so"
	pkcs11Provider = "/usr/lib/x86_64-linux-gnu/ossl-modules/pkcs11.so"
	toolsOpDesc    = "Building of firmware for XYZ development board"
)

// built is an artifact of the repository the tests run, built once per
// test binary unless an environment variable names a ready one.
type built struct {
	once sync.Once
	path string
	err  error
}

// get returns the artifact: $envVar, or what build makes into the stack's
// directory as name (removed with the stack). build runs in the repository root.
func (b *built) get(tb testing.TB, envVar, name string, build func(root, out string) *exec.Cmd) string {
	tb.Helper()
	mustStack(tb)
	b.once.Do(func() {
		if p := os.Getenv(envVar); p != "" {
			if _, b.err = os.Stat(p); b.err == nil {
				b.path, b.err = filepath.Abs(p)
			}
			return
		}
		root, err := filepath.Abs("..")
		if err != nil {
			b.err = err
			return
		}
		out := filepath.Join(stackDir, name)
		cmd := build(root, out)
		cmd.Dir = root
		if msg, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("building %s: %v: %s", name, err, msg)
			return
		}
		b.path = out
	})
	if b.err != nil {
		tb.Fatalf("%s: %v", name, b.err)
	}
	return b.path
}

var module built

// mustModule returns the module: KS_PKCS11_MODULE, or one built with
// pkcs11client/build.sh into the stack's directory (removed with the stack).
func mustModule(tb testing.TB) string {
	tb.Helper()
	return module.get(tb, "KS_PKCS11_MODULE", "libpkcs11ks.so", func(root, out string) *exec.Cmd {
		return exec.Command("bash", filepath.Join(root, "pkcs11client", "build.sh"), out)
	})
}

// toolRun is what one run of a tool printed.
type toolRun struct {
	Stdout, Stderr string
	Err            error
}

// libLines are the module's lines on stderr.
func (r toolRun) libLines() []string {
	var out []string
	for _, l := range strings.Split(r.Stderr, "\n") {
		if strings.HasPrefix(l, "libpkcs11ks: ") {
			out = append(out, l)
		}
	}
	return out
}

// toolEnv is the test's environment without any KSC_* or OPENSSL_CONF,
// plus vars.
func toolEnv(vars map[string]string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "KSC_") || strings.HasPrefix(kv, "OPENSSL_CONF=") {
			continue
		}
		env = append(env, kv)
	}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return env
}

// runTool runs name in dir with the environment env.
func runTool(dir string, env []string, name string, args ...string) toolRun {
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Env = dir, env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return toolRun{Stdout: stdout.String(), Stderr: stderr.String(), Err: err}
}

// mustTool runs a tool and fails unless it succeeds.
func mustTool(tb testing.TB, dir string, env []string, name string, args ...string) toolRun {
	tb.Helper()
	r := runTool(dir, env, name, args...)
	if r.Err != nil {
		tb.Fatalf("%s %s: %v\nstdout: %s\nstderr: %s", name, strings.Join(args, " "), r.Err, r.Stdout, r.Stderr)
	}
	return r
}

// mustFailTool runs a tool and fails unless it fails with exactly one line
// of the module on stderr, containing want; it returns that line.
func mustFailTool(tb testing.TB, want, dir string, env []string, name string, args ...string) string {
	tb.Helper()
	r := runTool(dir, env, name, args...)
	if r.Err == nil {
		tb.Fatalf("%s %s succeeded, want a refusal saying %q", name, strings.Join(args, " "), want)
	}
	lines := r.libLines()
	if len(lines) != 1 || !strings.Contains(lines[0], want) {
		tb.Fatalf("%s: module lines %q, want exactly one saying %q; stderr:\n%s", name, lines, want, r.Stderr)
	}
	return lines[0]
}

// ksVars are the module's variables for signing in operation opID as
// orderer-client, the token passed through a file.
func ksVars(tb testing.TB, opID string) map[string]string {
	tb.Helper()
	st := mustStack(tb)
	tokenFile := filepath.Join(tb.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(mustToken(tb, "orderer-client")), 0o600); err != nil {
		tb.Fatalf("writing the token file: %v", err)
	}
	return map[string]string{
		"KSC_API_SERVER":            st.HandlerURL,
		"KSC_ID_TOKEN_FILE":         tokenFile,
		"KSC_OPERATION_ID":          opID,
		"KSC_OPERATION_DESCRIPTION": toolsOpDesc,
		"KSC_HTTP_CLIENT_TIMEOUT":   "30s",
	}
}

// withVars returns a copy of vars with more variables.
func withVars(vars map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range vars {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// demoApprovers approve the demo keys that need approval.
var demoApprovers = map[string][]string{
	"key2": {"approver-key2"},
	"key3": {"approver-key3", "approver2-key3"},
	"key4": {"approver-key4"},
}

// mustToolOp opens an operation as orderer-client and approves it for every key.
func mustToolOp(tb testing.TB, validMS int64, keys map[string]int) opView {
	tb.Helper()
	orderer := mustToken(tb, "orderer-client")
	op := mustOpenOp(tb, orderer, validMS, keys)
	for id := range keys {
		for _, a := range demoApprovers[id] {
			mustApprove(tb, mustToken(tb, a), op.ID)
		}
	}
	if op = mustGetOp(tb, orderer, op.ID); !op.Approved {
		tb.Fatalf("operation %s is not approved after every approver approved", op.ID)
	}
	return op
}

// demoKey is a demo key's certificate as GET /api/keys/{id} serves it.
type demoKey struct {
	ID   string
	PEM  string
	Cert *x509.Certificate
}

// ckaID is the CKA_ID the module gives the key: SHA-1 of the public key bits.
func (k demoKey) ckaID(tb testing.TB) string {
	tb.Helper()
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(k.Cert.RawSubjectPublicKeyInfo, &spki); err != nil {
		tb.Fatalf("parsing the public key of %s: %v", k.ID, err)
	}
	sum := sha1.Sum(spki.PublicKey.Bytes)
	return hex.EncodeToString(sum[:])
}

// mustDemoKey fetches a key's certificate as orderer-client and writes it
// to dir/<id>.pem.
func mustDemoKey(tb testing.TB, dir, id string) demoKey {
	tb.Helper()
	var k map[string]any
	mustDo(tb, "GET", "/api/keys/"+id, mustToken(tb, "orderer-client"), nil).mustDecode(tb, http.StatusOK, &k)
	certPEM, _ := k["certificate"].(string)
	dk := demoKey{ID: id, PEM: certPEM, Cert: mustParseCertificate(tb, certPEM)}
	if err := os.WriteFile(filepath.Join(dir, id+".pem"), []byte(certPEM), 0o600); err != nil {
		tb.Fatalf("writing %s.pem: %v", id, err)
	}
	return dk
}

// mustEngineConf writes seed 001's openssl-ks.cnf (libp11 engine) for the module.
func mustEngineConf(tb testing.TB, dir string) string {
	tb.Helper()
	return mustWriteFile(tb, dir, "openssl-ks.cnf", `openssl_conf = openssl_init

[openssl_init]
engines = engine_section
providers = provider_sect

[provider_sect]
default = default_sect
base = base_sect

[default_sect]
activate = 1

[base_sect]
activate = 1

[engine_section]
pkcs11 = pkcs11_section

[pkcs11_section]
engine_id = pkcs11
dynamic_path = `+libp11Engine+`
MODULE_PATH = `+mustModule(tb)+`
init = 0
`)
}

// mustProviderConf writes an OpenSSL 3 configuration loading pkcs11-provider
// with the module.
func mustProviderConf(tb testing.TB, dir string) string {
	tb.Helper()
	return mustWriteFile(tb, dir, "openssl-provider.cnf", `openssl_conf = openssl_init

[openssl_init]
providers = provider_sect

[provider_sect]
default = default_sect
pkcs11 = pkcs11_sect

[default_sect]
activate = 1

[pkcs11_sect]
module = `+pkcs11Provider+`
pkcs11-module-path = `+mustModule(tb)+`
activate = 1
`)
}

// mustWriteFile writes dir/name and returns its path.
func mustWriteFile(tb testing.TB, dir, name, content string) string {
	tb.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		tb.Fatalf("writing %s: %v", name, err)
	}
	return p
}

// mustReadFile reads dir/name.
func mustReadFile(tb testing.TB, dir, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		tb.Fatalf("reading %s: %v", name, err)
	}
	return b
}
