package kscli

import (
	"context"
	"strings"
	"testing"
)

func TestWaitEndsWithTheOperation(t *testing.T) {
	cases := []struct {
		name   string
		act    func(h *harness, id string)
		code   int
		want   string
		args   []string
		sleeps int // the action happens after this many sleeps
	}{
		{"approved", func(h *harness, id string) { h.fake.Approve(id, "alice") }, ExitOK, "is approved", nil, 3},
		{"rejected", func(h *harness, id string) { h.fake.Reject(id, "alice", "wrong commit") }, ExitRejected, "rejected by alice: wrong commit", nil, 2},
		{"cancelled", func(h *harness, id string) { h.fake.Cancel(id, "bob") }, ExitRejected, "cancelled by bob", nil, 1},
		{"expired", nil, ExitExpired, "expired at", nil, 0},
		{"timed out", nil, ExitTimeout, "timed out waiting for operation", []string{"--timeout", "2m"}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			id := h.mustCreate("--key", "key2", "--valid", "10m")
			h.clock.onSleep = func(n int) {
				if n == c.sleeps && c.act != nil {
					c.act(h, id)
				}
			}
			r := h.mustRun(c.code, append([]string{"wait", id}, c.args...)...)
			lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
			if last := lines[len(lines)-1]; !strings.Contains(last, c.want) || !strings.HasPrefix(last, "ks wait: ") {
				t.Fatalf("last line %q does not say %q", last, c.want)
			}
			if r.stdout != "" {
				t.Fatalf("ks wait wrote %q on stdout", r.stdout)
			}
		})
	}
}

func TestWaitLogsOneLinePerChange(t *testing.T) {
	h := newHarness(t)
	h.env["KSC_OPERATION_ID"] = h.mustCreate("--key", "key3", "--key", "key1", "--valid", "10m")
	id := h.env["KSC_OPERATION_ID"]
	h.clock.onSleep = func(n int) {
		switch n {
		case 5:
			h.fake.Approve(id, "alice")
		case 9:
			h.fake.Approve(id, "bob")
		}
	}
	r := h.mustRun(0, "wait", "--interval", "10s")
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	want := []string{"key3 0/2, key1 0/0", "key3 1/2 (alice), key1 0/0", "is approved"}
	if len(lines) != len(want) {
		t.Fatalf("stderr has %d lines, want %d (one per change):\n%s", len(lines), len(want), r.stderr)
	}
	for i, w := range want {
		if !strings.Contains(lines[i], w) {
			t.Errorf("line %d = %q, want it to say %q", i, lines[i], w)
		}
	}
	if !strings.Contains(lines[0], "expires in 10m0s") || !strings.Contains(lines[1], "expires in 9m10s") {
		t.Errorf("lines do not count down to the expiry:\n%s", r.stderr)
	}
	if _, reads := h.fake.OperationCalls(); reads != 10 {
		t.Errorf("%d reads of the operation, want one per 10 s interval (10)", reads)
	}
}

func TestWaitOnATerminalRedrawsACountdown(t *testing.T) {
	h := newHarness(t)
	id := h.mustCreate("--key", "key2", "--valid", "10m")
	h.clock.onSleep = func(n int) {
		if n == 12 {
			h.fake.Approve(id, "alice")
		}
	}
	var out strings.Builder
	code := Run(context.Background(), Env{Args: []string{"wait", id}, Getenv: func(k string) string { return h.env[k] },
		Stdout: &out, Stderr: &out, Terminal: true, Now: h.clock.Now, Sleep: h.clock.Sleep})
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	s := out.String()
	for _, want := range []string{"\r\033[K", "9m59s left", "9m50s left", "key2 0/1", "ks wait: operation " + id + " is approved\n"} {
		if !strings.Contains(s, want) {
			t.Errorf("terminal output lacks %q:\n%q", want, s)
		}
	}
}

func TestWaitRefusals(t *testing.T) {
	h := newHarness(t)
	h.mustFail(ExitUsage, "KSC_OPERATION_ID", "wait")
	h.mustFail(ExitDenied, "does not exist", "wait", strings.Repeat("ab", 20))
	id := h.mustCreate("--key", "key1")
	h.mustFail(ExitUsage, "unexpected argument", "wait", id, "other")
	h.mustFail(ExitUsage, "--interval", "wait", id, "--interval", "0s")
	// An operation that needs no approval and whose only use is spent.
	h.mustRun(0, "sign", "--operation", id, "--key", "key1", h.files(1)[0])
	h.mustFail(ExitRefused, "used all its uses", "wait", id)
}

// TestWaitRetriesWhenTheKeyserverIsDown: an unavailable Keyserver is
// reported once and retried until it answers.
func TestWaitRetriesWhenTheKeyserverIsDown(t *testing.T) {
	h := newHarness(t)
	id := h.mustCreate("--key", "key2")
	h.server.Config.Handler = downFor(3, h.fake)
	h.clock.onSleep = func(n int) {
		if n == 6 {
			h.fake.Approve(id, "alice")
		}
	}
	r := h.mustRun(0, "wait", id, "--interval", "1s")
	if strings.Count(r.stderr, "(retrying)") != 1 || !strings.Contains(r.stderr, "retry later") {
		t.Fatalf("stderr does not report the outage once:\n%s", r.stderr)
	}
}
