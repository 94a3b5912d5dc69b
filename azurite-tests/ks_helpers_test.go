package azuritetests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var ksCLI built

// mustKS returns the ks CLI: KS_CLI, or one built into the stack's directory.
func mustKS(tb testing.TB) string {
	tb.Helper()
	return ksCLI.get(tb, "KS_CLI", "ks", func(root, out string) *exec.Cmd {
		return exec.Command("go", "build", "-o", out, "./cmd/ks")
	})
}

// ksEnv is the environment of ks as orderer-client against the stack, the
// token passed through a file, plus vars.
func ksEnv(tb testing.TB, vars map[string]string) []string {
	tb.Helper()
	st := mustStack(tb)
	tokenFile := filepath.Join(tb.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(mustToken(tb, "orderer-client")), 0o600); err != nil {
		tb.Fatal(err)
	}
	base := map[string]string{"KSC_API_SERVER": st.HandlerURL, "KSC_ID_TOKEN_FILE": tokenFile, "KSC_HTTP_CLIENT_TIMEOUT": "30s"}
	for k, v := range vars {
		base[k] = v
	}
	// The test may itself run in CI: none of its platform's variables reach ks.
	var env []string
	for _, kv := range toolEnv(nil) {
		if !strings.HasPrefix(kv, "GITHUB_") && !strings.HasPrefix(kv, "GITLAB_") && !strings.HasPrefix(kv, "TF_BUILD=") &&
			!strings.HasPrefix(kv, "CI_") && !strings.HasPrefix(kv, "ACTIONS_") && !strings.HasPrefix(kv, "SYSTEM_") {
			env = append(env, kv)
		}
	}
	for k, v := range base {
		env = append(env, k+"="+v)
	}
	return env
}

// ks runs the CLI in dir.
func ks(tb testing.TB, dir string, env []string, args ...string) toolRun {
	tb.Helper()
	return runTool(dir, env, mustKS(tb), args...)
}

// mustKSExit runs ks and fails unless it exits with code.
func mustKSExit(tb testing.TB, code int, dir string, env []string, args ...string) toolRun {
	tb.Helper()
	r := ks(tb, dir, env, args...)
	got := 0
	if ee, ok := r.Err.(*exec.ExitError); ok {
		got = ee.ExitCode()
	} else if r.Err != nil {
		tb.Fatalf("ks %s: %v", strings.Join(args, " "), r.Err)
	}
	if got != code {
		tb.Fatalf("ks %s exited %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), got, code, r.Stdout, r.Stderr)
	}
	return r
}
