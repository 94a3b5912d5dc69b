package notify_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"keyserver/internal/notify"
)

// verifyLines returns the shell lines docs/NOTIFICATIONS.md gives receivers
// to check a webhook signature with openssl.
func verifyLines(tb testing.TB) string {
	tb.Helper()
	doc, err := os.ReadFile("../../docs/NOTIFICATIONS.md")
	if err != nil {
		tb.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "<!-- verify-webhook -->\n```sh\n")
	block, _, closed := strings.Cut(rest, "```")
	if !ok || !closed || strings.TrimSpace(block) == "" {
		tb.Fatal("docs/NOTIFICATIONS.md has no sh block after <!-- verify-webhook -->")
	}
	return block
}

// TestVerifyWithOpenSSL runs the documented openssl lines against a real
// delivery: they accept it, and refuse it once a byte of the body changed.
func TestVerifyWithOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatalf("openssl is needed (scripts/install-deps.sh installs it): %v", err)
	}
	f := newFixture(t)
	f.d.Now = time.Now
	mustDeliver(t, f, pendingEvent("Building of firmware for XYZ development board"))
	r := one(t, f, "/webhook")
	run := func(body []byte) string {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "body.json"), body, 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("bash", "-c", "set -eu\n"+verifyLines(t))
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "SECRET="+secret,
			"TIMESTAMP="+r.header.Get(notify.HeaderTimestamp), "SIGNATURE="+r.header.Get(notify.HeaderSignature))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("the documented lines failed: %v\n%s", err, out)
		}
		return string(out)
	}
	if out := run(r.body); out != "signature OK\n" {
		t.Fatalf("the documented lines said %q of a genuine delivery, want only \"signature OK\"", out)
	}
	tampered := []byte(strings.Replace(string(r.body), "XYZ", "XYW", 1))
	if out := run(tampered); !strings.Contains(out, "signature MISMATCH") {
		t.Fatalf("the documented lines said %q of a tampered body", out)
	}
}
