package azuritetests

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// chromiumPath is Debian's chromium, which scripts/install-deps.sh installs.
const chromiumPath = "/usr/bin/chromium"

// TestBrowser runs the web UI's browser tests (ui/e2e, node's test runner
// driving chromium through playwright-core) against a local stack of their
// own. A missing browser or driver fails the test: make test installs both.
// A failing step saves a screenshot under build/ui-screenshots.
func TestBrowser(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed: %v", err)
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("chromium is not installed (bash scripts/install-deps.sh installs it): %v", err)
	}
	uiDir, err := filepath.Abs("../ui")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(uiDir, "node_modules", "playwright-core")); err != nil {
		t.Fatalf("playwright-core is not installed (make test runs npm ci in ui/): %v", err)
	}
	shots, err := filepath.Abs("../build/ui-screenshots")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	// The shared stack: SoftHSM allows one HSM fake per process.
	st := mustStack(t)

	// Every e2e/*.test.mjs, one file at a time.
	files, err := filepath.Glob(filepath.Join(uiDir, "e2e", "*.test.mjs"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no browser tests in %s/e2e: %v", uiDir, err)
	}
	args := []string{"--test", "--test-concurrency=1", "--test-reporter=spec"}
	for _, f := range files {
		args = append(args, filepath.Join("e2e", filepath.Base(f)))
	}
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = uiDir
	cmd.Env = append(os.Environ(), "KS_URL="+st.HandlerURL, "KS_AUTH_URL="+st.AuthURL, "KS_SHOTS="+shots, "KS_CHROMIUM="+chromiumPath)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting node: %v", err)
	}
	logLines(t, out)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the browser tests failed (%v); screenshots of failed steps are in %s", err, shots)
	}
	t.Logf("browser tests passed in %s", time.Since(start).Round(time.Millisecond))
}

// logLines passes each line of r to t.Log as it comes.
func logLines(t *testing.T, r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		t.Log(sc.Text())
	}
}
