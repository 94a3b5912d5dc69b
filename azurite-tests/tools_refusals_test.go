package azuritetests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestToolsRefusals checks approval, usage and expiry through the module
// with openssl. It moves the clock, so it does not run in parallel.
func TestToolsRefusals(t *testing.T) {
	dir := t.TempDir()
	orderer := mustToken(t, "orderer-client")
	for _, id := range []string{"key1", "key2"} {
		mustDemoKey(t, dir, id)
		mustOpenSSL(t, dir, "x509", "-in", id+".pem", "-pubkey", "-noout", "-out", id+".pub")
	}
	mustWriteFile(t, dir, "firmware.bin", "Firmware image to refuse\n")
	engineConf, providerConf := mustEngineConf(t, dir), mustProviderConf(t, dir)
	signKey1 := []string{"dgst", "-engine", "pkcs11", "-keyform", "engine", "-sign", "pkcs11:object=key1", "-sha256", "-out", "key1.sig", "firmware.bin"}
	signKey2 := []string{"dgst", "-sha256", "-sign", "pkcs11:object=key2;type=private", "-out", "key2.sig", "firmware.bin"}
	// signs runs openssl with args, which write id.sig, and verifies it.
	signs := func(t *testing.T, env []string, id string, args []string) {
		t.Helper()
		if err := os.Remove(filepath.Join(dir, id+".sig")); err != nil && !os.IsNotExist(err) {
			t.Fatalf("removing %s.sig: %v", id, err)
		}
		if r := mustTool(t, dir, env, "openssl", args...); len(r.libLines()) != 0 {
			t.Fatalf("a successful signature printed module lines %q", r.libLines())
		}
		mustOpenSSL(t, dir, "dgst", "-sha256", "-verify", id+".pub", "-signature", id+".sig", "firmware.bin")
	}

	t.Run("not approved, then approved", func(t *testing.T) {
		op := mustOpenOp(t, orderer, 120000, map[string]int{"key2": 1})
		vars := ksVars(t, op.ID)
		env := toolEnv(withVars(vars, "OPENSSL_CONF", providerConf))
		line := mustFailTool(t, "is not approved yet", dir, env, "openssl", signKey2...)
		if !strings.Contains(line, op.ID) {
			t.Fatalf("the refusal does not name operation %s: %q", op.ID, line)
		}
		// libp11 tries an EC signature through its EVP_PKEY method and, when
		// that fails, once more through its EC_KEY method: the line comes twice.
		r := runTool(dir, toolEnv(withVars(vars, "OPENSSL_CONF", engineConf)), "openssl",
			"dgst", "-engine", "pkcs11", "-keyform", "engine", "-sign", "pkcs11:object=key2", "-sha256", "-out", "key2.sig", "firmware.bin")
		if lines := r.libLines(); r.Err == nil || len(lines) == 0 || len(lines) > 2 || lines[0] != line || lines[len(lines)-1] != line {
			t.Fatalf("engine: err %v, module lines %q; want a failure with %q", r.Err, lines, line)
		}
		mustUsage(t, orderer, op.ID, map[string]int{"key2": 0})

		mustApprove(t, mustToken(t, "approver-key2"), op.ID)
		signs(t, env, "key2", signKey2)
		mustUsage(t, orderer, op.ID, map[string]int{"key2": 1})
	})

	t.Run("uses exhausted", func(t *testing.T) {
		op := mustToolOp(t, 120000, map[string]int{"key1": 1})
		env := toolEnv(withVars(ksVars(t, op.ID), "OPENSSL_CONF", engineConf))
		signs(t, env, "key1", signKey1)
		line := mustFailTool(t, "has used up its signatures with key key1", dir, env, "openssl", signKey1...)
		if !strings.Contains(line, "All 1 uses of key") {
			t.Fatalf("the refusal does not carry the server's message: %q", line)
		}
		mustUsage(t, orderer, op.ID, map[string]int{"key1": 1})
	})

	t.Run("expired", func(t *testing.T) {
		// key1 needs no approval; mustToolOp's check that the operation is
		// approved could meet it already expired on a slow machine.
		op := mustOpenOp(t, orderer, 1000, map[string]int{"key1": 1})
		clock.Advance(2 * time.Second)
		env := toolEnv(withVars(ksVars(t, op.ID), "OPENSSL_CONF", engineConf))
		line := mustFailTool(t, "has expired", dir, env, "openssl", signKey1...)
		if !strings.Contains(line, op.ID) {
			t.Fatalf("the refusal does not name operation %s: %q", op.ID, line)
		}
		mustUsage(t, orderer, op.ID, map[string]int{"key1": 0})

		// An operation made after the clock moved signs.
		fresh := mustToolOp(t, 120000, map[string]int{"key1": 1})
		signs(t, toolEnv(withVars(ksVars(t, fresh.ID), "OPENSSL_CONF", engineConf)), "key1", signKey1)
		mustUsage(t, orderer, fresh.ID, map[string]int{"key1": 1})
	})
}
