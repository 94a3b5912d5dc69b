package azuritetests

import (
	"bytes"
	"crypto"
	"encoding/pem"
	"strings"
	"testing"
)

// TestToolsTutorial runs seed 001's tutorial script against the stack.
func TestToolsTutorial(t *testing.T) {
	t.Parallel()
	st := mustStack(t)
	env := toolEnv(map[string]string{
		"KSC_API_SERVER": st.HandlerURL,
		"AUTH_SERVER":    st.AuthURL,
		"MODULE":         mustModule(t),
		"WORKDIR":        t.TempDir(),
	})
	r := mustTool(t, ".", env, "bash", "tutorial.sh")
	if !strings.Contains(r.Stdout, "tutorial: all steps passed") {
		t.Fatalf("tutorial.sh did not finish:\n%s\nstderr:\n%s", r.Stdout, r.Stderr)
	}
}

// TestToolsOpenSSLEngineSeed001 signs as seed 001 does, with the libp11
// engine, and verifies with the certificate of the API and of the module.
func TestToolsOpenSSLEngineSeed001(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	module := mustModule(t)
	op := mustToolOp(t, 120000, map[string]int{"key1": 1, "key2": 1})
	env := toolEnv(withVars(ksVars(t, op.ID), "OPENSSL_CONF", mustEngineConf(t, dir)))
	mustWriteFile(t, dir, "firmware.bin", "Firmware image\n")
	for _, id := range []string{"key1", "key2"} {
		t.Run(id, func(t *testing.T) {
			k := mustDemoKey(t, dir, id)
			sig := id + ".sig"
			mustTool(t, dir, env, "openssl", "dgst", "-engine", "pkcs11", "-keyform", "engine",
				"-sign", "pkcs11:object="+id, "-sha256", "-out", sig, "firmware.bin")

			mustOpenSSL(t, dir, "x509", "-in", id+".pem", "-pubkey", "-noout", "-out", id+"-api.pub")
			mustOpenSSL(t, dir, "dgst", "-sha256", "-verify", id+"-api.pub", "-signature", sig, "firmware.bin")

			mustTool(t, dir, env, "pkcs11-tool", "--module", module, "--read-object", "--type", "cert",
				"--label", id, "--output-file", id+".der")
			if der := mustReadFile(t, dir, id+".der"); !bytes.Equal(der, k.Cert.Raw) {
				t.Fatalf("the module's certificate of %s differs from the API's", id)
			}
			mustOpenSSL(t, dir, "x509", "-inform", "DER", "-in", id+".der", "-pubkey", "-noout", "-out", id+"-module.pub")
			mustOpenSSL(t, dir, "dgst", "-sha256", "-verify", id+"-module.pub", "-signature", sig, "firmware.bin")
		})
	}
	mustUsage(t, mustToken(t, "orderer-client"), op.ID, map[string]int{"key1": 1, "key2": 1})
}

// TestToolsOpenSSLProvider signs through OpenSSL 3's pkcs11-provider.
func TestToolsOpenSSLProvider(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	op := mustToolOp(t, 120000, map[string]int{"key1": 2, "key2": 1, "key4": 1})
	env := toolEnv(withVars(ksVars(t, op.ID), "OPENSSL_CONF", mustProviderConf(t, dir)))
	mustWriteFile(t, dir, "firmware.bin", "Firmware image for the provider\n")
	cases := []struct {
		name, key, digest string
		sigopts           []string
	}{
		{"RSA-PKCS1", "key1", "-sha256", nil},
		{"RSA-PSS", "key1", "-sha384", []string{"rsa_padding_mode:pss", "rsa_pss_saltlen:digest"}},
		{"ECDSA-P256", "key2", "-sha256", nil},
		{"ECDSA-P384", "key4", "-sha384", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mustDemoKey(t, dir, c.key)
			mustOpenSSL(t, dir, "x509", "-in", c.key+".pem", "-pubkey", "-noout", "-out", c.key+".pub")
			sig := c.name + ".sig"
			args := []string{"dgst", c.digest, "-sign", "pkcs11:object=" + c.key + ";type=private", "-out", sig}
			verify := []string{"dgst", c.digest, "-verify", c.key + ".pub", "-signature", sig}
			for _, o := range c.sigopts {
				args = append(args, "-sigopt", o)
				verify = append(verify, "-sigopt", o)
			}
			mustTool(t, dir, env, "openssl", append(args, "firmware.bin")...)
			mustOpenSSL(t, dir, append(verify, "firmware.bin")...)
		})
	}
	mustUsage(t, mustToken(t, "orderer-client"), op.ID, map[string]int{"key1": 2, "key2": 1, "key4": 1})
}

// TestToolsOpenSSLReqSelfSigned makes self-signed certificates through the
// engine and checks they carry the keys' public keys.
func TestToolsOpenSSLReqSelfSigned(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	op := mustToolOp(t, 120000, map[string]int{"key1": 1, "key4": 1})
	env := toolEnv(withVars(ksVars(t, op.ID), "OPENSSL_CONF", mustEngineConf(t, dir)))
	for _, id := range []string{"key1", "key4"} {
		t.Run(id, func(t *testing.T) {
			k := mustDemoKey(t, dir, id)
			out := id + "-self.pem"
			mustTool(t, dir, env, "openssl", "req", "-x509", "-new", "-engine", "pkcs11", "-keyform", "engine",
				"-key", "pkcs11:object="+id, "-subj", "/CN=test", "-days", "1", "-sha256", "-out", out)
			mustOpenSSL(t, dir, "verify", "-CAfile", out, out)
			block, _ := pem.Decode(mustReadFile(t, dir, out))
			if block == nil {
				t.Fatalf("%s is not PEM", out)
			}
			cert := mustParseCertificate(t, string(pem.EncodeToMemory(block)))
			if err := cert.CheckSignatureFrom(cert); err != nil {
				t.Fatalf("the self-signed certificate does not verify in Go: %v", err)
			}
			pub, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
			if !ok || !pub.Equal(k.Cert.PublicKey) {
				t.Fatalf("the certificate's public key is not %s's", id)
			}
			if cert.Subject.CommonName != "test" {
				t.Fatalf("subject CN = %q, want test", cert.Subject.CommonName)
			}
		})
	}
	mustUsage(t, mustToken(t, "orderer-client"), op.ID, map[string]int{"key1": 1, "key4": 1})
}
