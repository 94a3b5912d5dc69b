package azuritetests

import (
	"crypto"
	"crypto/ecdsa"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
)

// toolMech is how pkcs11-tool signs with one mechanism and how openssl checks it.
type toolMech struct {
	name  string      // pkcs11-tool's name of the mechanism
	rsa   bool        // an RSA mechanism, else ECDSA
	hash  crypto.Hash // the digest that is signed
	input string      // "data", "digest" or "digestinfo"
	args  []string    // more pkcs11-tool arguments
}

// toolMechs are every mechanism the module advertises.
var toolMechs = []toolMech{
	{"RSA-PKCS", true, crypto.SHA384, "digestinfo", nil},
	{"SHA256-RSA-PKCS", true, crypto.SHA256, "data", nil},
	{"SHA384-RSA-PKCS", true, crypto.SHA384, "data", nil},
	{"SHA512-RSA-PKCS", true, crypto.SHA512, "data", nil},
	{"RSA-PKCS-PSS", true, crypto.SHA512, "digest", []string{"--hash-algorithm", "SHA512", "--mgf", "MGF1-SHA512"}},
	{"SHA256-RSA-PKCS-PSS", true, crypto.SHA256, "data", nil},
	{"SHA384-RSA-PKCS-PSS", true, crypto.SHA384, "data", nil},
	{"SHA512-RSA-PKCS-PSS", true, crypto.SHA512, "data", nil},
	{"ECDSA", false, crypto.SHA256, "digest", nil},
	{"ECDSA-SHA256", false, crypto.SHA256, "data", nil},
	{"ECDSA-SHA384", false, crypto.SHA384, "data", []string{"--signature-format", "openssl"}},
	{"ECDSA-SHA512", false, crypto.SHA512, "data", nil},
}

// advertisedMechs parses the mechanism names of pkcs11-tool -M.
func advertisedMechs(out string) []string {
	var names []string
	_, list, _ := strings.Cut(out, "Supported mechanisms:")
	for _, l := range strings.Split(list, "\n") {
		if strings.HasPrefix(l, "  ") {
			name, _, _ := strings.Cut(strings.TrimSpace(l), ",")
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// TestToolsPkcs11Tool lists the token, its objects and mechanisms, and signs
// with every advertised mechanism on RSA and EC keys, each signature checked
// with openssl.
func TestToolsPkcs11Tool(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	module := mustModule(t)
	op := mustToolOp(t, 120000, map[string]int{"key1": 8, "key2": 4, "key4": 4})
	env := toolEnv(ksVars(t, op.ID))
	keys := map[string]demoKey{}
	for _, id := range []string{"key1", "key2", "key3", "key4"} {
		keys[id] = mustDemoKey(t, dir, id)
	}

	if out := mustTool(t, dir, env, "pkcs11-tool", "--module", module, "-L").Stdout; !strings.Contains(out, "token label        : Keyserver") {
		t.Fatalf("pkcs11-tool -L does not show the Keyserver token:\n%s", out)
	}
	objects := mustTool(t, dir, env, "pkcs11-tool", "--module", module, "-O").Stdout
	for id, k := range keys {
		for _, want := range []string{"label:      " + id, "ID:         " + k.ckaID(t), "subject:    DN: O=Keyserver, CN=" + id} {
			if !strings.Contains(objects, want) {
				t.Fatalf("pkcs11-tool -O does not show %q:\n%s", want, objects)
			}
		}
	}
	for _, want := range []string{"Private Key Object; RSA", "Public Key Object; RSA 2048 bits", "Public Key Object; RSA 4096 bits",
		"Private Key Object; EC", "Public Key Object; EC  EC_POINT 256 bits", "Public Key Object; EC  EC_POINT 384 bits"} {
		if !strings.Contains(objects, want) {
			t.Fatalf("pkcs11-tool -O does not show %q:\n%s", want, objects)
		}
	}
	var want []string
	for _, m := range toolMechs {
		want = append(want, m.name)
	}
	sort.Strings(want)
	got := advertisedMechs(mustTool(t, dir, env, "pkcs11-tool", "--module", module, "-M").Stdout)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("pkcs11-tool -M lists %v, want %v", got, want)
	}

	msg := []byte("firmware image signed by pkcs11-tool")
	for _, m := range toolMechs {
		keyIDs := []string{"key2", "key4"}
		if m.rsa {
			keyIDs = []string{"key1"}
		}
		for _, id := range keyIDs {
			t.Run(m.name+"/"+id, func(t *testing.T) {
				mustPkcs11ToolSign(t, dir, env, module, keys[id], m, msg)
			})
		}
	}
	mustUsage(t, mustToken(t, "orderer-client"), op.ID, map[string]int{"key1": 8, "key2": 4, "key4": 4})
}

// mustPkcs11ToolSign signs msg with pkcs11-tool --sign and verifies the
// signature with openssl pkeyutl against the key's certificate.
func mustPkcs11ToolSign(t *testing.T, dir string, env []string, module string, k demoKey, m toolMech, msg []byte) {
	t.Helper()
	digest := hashOf(m.hash, msg)
	input := map[string][]byte{"data": msg, "digest": digest, "digestinfo": mustDigestInfo(t, m.hash, digest)}[m.input]
	base := fmt.Sprintf("%s-%s", m.name, k.ID)
	mustWriteFile(t, dir, base+".in", string(input))
	args := append([]string{"--module", module, "--sign", "-m", m.name, "--id", k.ckaID(t),
		"-i", base + ".in", "-o", base + ".sig"}, m.args...)
	mustTool(t, dir, env, "pkcs11-tool", args...)
	sig := mustReadFile(t, dir, base+".sig")

	md := "digest:" + strings.ToLower(hashNames[m.hash])
	var opts []string
	switch {
	case m.rsa && strings.Contains(m.name, "PSS"):
		opts = []string{md, "rsa_padding_mode:pss", "rsa_pss_saltlen:digest"}
	case m.rsa:
		opts = []string{md}
	case !slices.Contains(m.args, "openssl"): // raw r||s unless --signature-format openssl
		if want := 2 * ((k.Cert.PublicKey.(*ecdsa.PublicKey).Curve.Params().BitSize + 7) / 8); len(sig) != want {
			t.Fatalf("raw ECDSA signature of %s has %d bytes, want r||s of %d", k.ID, len(sig), want)
		}
		sig = mustP1363ToDER(t, sig)
	}
	if err := mustVerifier(t, k.PEM).verify(digest, sig, opts...); err != nil {
		t.Fatalf("the signature of %s with %s does not verify: %v", m.name, k.ID, err)
	}
}

// TestToolsP11tool lists the token's objects and certificates with GnuTLS's
// p11tool, as a subject that may order with the demo keys only (other tests
// add keys).
func TestToolsP11tool(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	token := mustSubject(t, uniqueName("p11tool"), "orderer:key1", "orderer:key2", "orderer:key3", "orderer:key4")
	env := toolEnv(withVars(ksVars(t, ""), "KSC_ID_TOKEN_FILE", mustWriteFile(t, dir, "token", token)))
	module := mustModule(t)
	all := mustTool(t, dir, env, "p11tool", "--provider", module, "--list-all").Stdout
	certs := mustTool(t, dir, env, "p11tool", "--provider", module, "--list-all-certs").Stdout
	for _, id := range []string{"key1", "key2", "key3", "key4"} {
		for _, typ := range []string{"private", "public", "cert"} {
			if want := "object=" + id + ";type=" + typ; !strings.Contains(all, want) {
				t.Fatalf("p11tool --list-all has no URL with %q:\n%s", want, all)
			}
		}
		if want := "object=" + id + ";type=cert"; !strings.Contains(certs, want) {
			t.Fatalf("p11tool --list-all-certs has no URL with %q:\n%s", want, certs)
		}
	}
	if n := strings.Count(all, "URL: pkcs11:"); n != 12 {
		t.Fatalf("p11tool --list-all shows %d objects, want 12:\n%s", n, all)
	}
	if n := strings.Count(certs, "URL: pkcs11:"); n != 4 || strings.Contains(certs, "type=private") {
		t.Fatalf("p11tool --list-all-certs shows %d objects, want the 4 certificates only:\n%s", n, certs)
	}
	if !strings.Contains(all, "token=Keyserver") || !strings.Contains(all, "Private key (EC/ECDSA-SECP384R1)") || !strings.Contains(all, "Private key (RSA-4096)") {
		t.Fatalf("p11tool --list-all does not describe the token and keys:\n%s", all)
	}
}
