package azuritetests

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKSEndToEnd is issue 11's walk-through against the local stack: ks
// create, an approver approves, ks wait, ks sign of 50 files, ks verify,
// and openssl verifies every signature with the certificate ks cert prints.
func TestKSEndToEnd(t *testing.T) {
	dir := t.TempDir()
	// The run of a GitHub job: a re-run of ks create in it finds the operation.
	env := ksEnv(t, map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "octo/firmware",
		"GITHUB_RUN_ID": uniqueName("run"), "GITHUB_RUN_ATTEMPT": "1", "GITHUB_JOB": "sign"})
	create := []string{"create", "--key", "key2:50", "--description", "Firmware 1.2.3 for the XYZ board", "--valid", "10m"}
	opID := strings.TrimSpace(mustKSExit(t, 0, dir, env, create...).Stdout)
	if again := strings.TrimSpace(mustKSExit(t, 0, dir, env, create...).Stdout); again != opID {
		t.Fatalf("re-running ks create in the same run gave operation %s, want %s", again, opID)
	}
	mustKSExit(t, 9, dir, env, "create", "--key", "key2:49", "--description", "Firmware 1.2.3 for the XYZ board", "--valid", "10m")
	env = append(env, "KSC_OPERATION_ID="+opID)
	mustKSExit(t, 5, dir, env, "wait", "--timeout", "2s", "--interval", "1s")

	mustDo(t, "POST", "/api/operations/"+opID+"/approve", mustToken(t, "approver-key2"), map[string]string{"comment": "firmware reviewed"})
	r := mustKSExit(t, 0, dir, env, "wait", "--interval", "1s")
	if !strings.Contains(r.Stderr, "operation "+opID+" is approved") {
		t.Fatalf("ks wait said:\n%s", r.Stderr)
	}

	var files []string
	for i := range 50 {
		name := fmt.Sprintf("image-%02d.bin", i)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(fmt.Sprintf("firmware image %d\n", i)), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, name)
	}
	mustKSExit(t, 0, dir, env, append([]string{"sign", "--key", "key2", "--json"}, files...)...)
	if v := mustKSExit(t, 0, dir, env, append([]string{"verify", "--key", "key2"}, files...)...); strings.Count(v.Stdout, "Verified OK") != 50 {
		t.Fatalf("ks verify printed:\n%s", v.Stdout)
	}
	cert := mustKSExit(t, 0, dir, env, "cert", "key2").Stdout
	if err := os.WriteFile(filepath.Join(dir, "key2.pem"), []byte(cert), 0o644); err != nil {
		t.Fatal(err)
	}
	mustTool(t, dir, toolEnv(nil), "openssl", "x509", "-in", "key2.pem", "-pubkey", "-noout", "-out", "key2.pub")
	for _, f := range files {
		o := mustTool(t, dir, toolEnv(nil), "openssl", "dgst", "-sha256", "-verify", "key2.pub", "-signature", f+".sig", f)
		if !strings.Contains(o.Stdout, "Verified OK") {
			t.Fatalf("openssl on %s: %s", f, o.Stdout)
		}
	}
	// The 50 uses are spent: one more is refused with the server's reason.
	line := mustKSExit(t, 9, dir, env, "sign", "--key", "key2", files[0]).Stderr
	if !strings.Contains(line, "uses") {
		t.Fatalf("the refusal does not say the uses are spent: %s", line)
	}
}

// TestKSWaitOnARejectedOperationExits3.
func TestKSWaitOnARejectedOperationExits3(t *testing.T) {
	dir := t.TempDir()
	env := ksEnv(t, nil)
	opID := strings.TrimSpace(mustKSExit(t, 0, dir, env, "create", "--key", "key4", "--description", "Firmware 1.2.4 for the XYZ board").Stdout)
	a := mustDo(t, "POST", "/api/operations/"+opID+"/reject", mustToken(t, "approver-key4"), map[string]string{"reason": "not from the release branch"})
	if a.Status != http.StatusOK {
		t.Fatalf("reject: %d %s", a.Status, a.Body)
	}
	r := mustKSExit(t, 3, dir, env, "wait", opID)
	if want := "rejected by approver-key4: not from the release branch"; !strings.Contains(r.Stderr, want) {
		t.Fatalf("ks wait said %q, want %q", r.Stderr, want)
	}
}
