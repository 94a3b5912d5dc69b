package azuritetests

// Helpers of the pipeline template tests (ci_*_test.go): each test parses a
// template in ci/ with a YAML module, runs its shell steps as the platform
// would, with the local stack's dev auth server standing in for the
// platform's token service, and an approver who decides while it waits.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// mustYAML parses a file of the repository's ci/ folder into v.
func mustYAML(tb testing.TB, path string, v any) {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", path))
	if err != nil {
		tb.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		tb.Fatalf("parsing %s: %v", path, err)
	}
}

// stepRun is what a step printed and how it ended.
type stepRun struct {
	Name           string
	Stdout, Stderr string
	Code           int
}

// runBash runs script with bash args in dir with exactly env.
func runBash(tb testing.TB, dir string, env map[string]string, args []string, script string) stepRun {
	tb.Helper()
	f, err := os.CreateTemp(tb.TempDir(), "step-*.sh")
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := f.WriteString(script); err != nil {
		tb.Fatal(err)
	}
	f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append(args, f.Name())...)
	cmd.Dir = dir
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	r := stepRun{Stdout: stdout.String(), Stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.Code = ee.ExitCode()
	} else if err != nil {
		tb.Fatalf("running bash: %v", err)
	}
	return r
}

// agentEnv is a build agent's base environment: PATH with ks and the test's
// tools, HOME and a temporary directory; nothing of the test's own CI.
func agentEnv(tb testing.TB, extraPath ...string) map[string]string {
	tb.Helper()
	path := filepath.Dir(mustKS(tb))
	for _, p := range extraPath {
		path += ":" + p
	}
	return map[string]string{"PATH": path + ":" + os.Getenv("PATH"), "HOME": tb.TempDir(), "TMPDIR": os.TempDir(), "LANG": "C.UTF-8"}
}

// decider approves or rejects, as approver-key4, every pending operation with
// description, until the test ends: the human in the loop of a template run.
func decider(tb testing.TB, description string, approve bool) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	tb.Cleanup(func() { cancel(); <-done })
	token := mustToken(tb, "approver-key4")
	base := mustStack(tb).HandlerURL
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			a, err := do(base, "GET", "/api/operations?status=pending", token, nil)
			var ops []opView
			if err == nil && a.Status == http.StatusOK && json.Unmarshal(a.Body, &ops) == nil {
				for _, op := range ops {
					if op.Description != description {
						continue
					}
					if approve {
						do(base, "POST", "/api/operations/"+op.ID+"/approve", token, map[string]string{"comment": "release reviewed"})
					} else {
						do(base, "POST", "/api/operations/"+op.ID+"/reject", token, map[string]string{"reason": "not a release commit"})
					}
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
}

// writeFiles writes n small files named prefix-NN.bin into dir.
func writeFiles(tb testing.TB, dir, prefix string, n int) []string {
	tb.Helper()
	var names []string
	for i := range n {
		name := filepath.Join(dir, prefix+"-"+string(rune('a'+i))+".bin")
		if err := os.WriteFile(name, []byte(strings.Repeat(prefix, i+1)), 0o644); err != nil {
			tb.Fatal(err)
		}
		names = append(names, name)
	}
	return names
}

// uniqueNumber returns a random decimal id (a repository or project id), so
// that the policies of one test never match another test's tokens.
func uniqueNumber() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000_000))
	if err != nil {
		panic(err)
	}
	return n.String()
}
