package kscli

import (
	"strings"
	"testing"
)

func TestHelpIsComplete(t *testing.T) {
	h := newHarness(t)
	top := h.mustRun(0, "--help").stdout
	for _, c := range commands {
		if !strings.Contains(top, "  "+c.name+" ") {
			t.Errorf("ks --help does not list %s", c.name)
		}
		r := h.mustRun(0, c.name, "--help")
		if !strings.HasPrefix(r.stdout, "Usage: ks "+c.name) || !strings.Contains(r.stdout, "Exit codes") || r.stderr != "" {
			t.Errorf("ks %s --help = %q", c.name, r.stdout)
		}
		if h.mustRun(0, "help", c.name).stdout != r.stdout {
			t.Errorf("ks help %s differs from ks %s --help", c.name, c.name)
		}
	}
	for _, code := range []string{"0 ", "1 ", "2 ", "3 ", "4 ", "5 ", "6 ", "7 ", "8 ", "9 ", "10 "} {
		if !strings.Contains(top, code) {
			t.Errorf("ks --help does not explain exit code %s", code)
		}
	}
	h.mustFail(ExitUsage, "flag provided but not defined", "create", "--nope")
	if r := h.run("frobnicate"); r.code != ExitUsage || !strings.Contains(r.stderr, "unknown command") {
		t.Fatalf("unknown command: %+v", r)
	}
}

func TestCreatePrintsOnlyTheID(t *testing.T) {
	h := newHarness(t)
	r := h.mustRun(0, "create", "--key", "key1:3", "--key", "key2", "--description", "Release 1.2.3 firmware", "--valid", "10m")
	id := strings.TrimSpace(r.stdout)
	op := h.fake.Operation(id)
	if op == nil || r.stdout != id+"\n" {
		t.Fatalf("stdout %q is not the id of an operation", r.stdout)
	}
	if op.Expires.Sub(op.Created).Minutes() != 10 || len(op.Keys) != 2 || op.Keys[0].Max != 3 || op.Keys[1].Max != 1 {
		t.Fatalf("operation = %+v", op)
	}
	if !strings.Contains(r.stderr, "1 more approval(s) of key2") {
		t.Fatalf("stderr %q does not say what the operation waits for", r.stderr)
	}
	// The description defaults to KSC_OPERATION_DESCRIPTION, the validity to an hour.
	h.env["KSC_OPERATION_DESCRIPTION"] = "Nightly build of the bootloader"
	id = strings.TrimSpace(h.mustRun(0, "create", "--key", "key1").stdout)
	if op := h.fake.Operation(id); op.Description != "Nightly build of the bootloader" || op.Expires.Sub(op.Created).Hours() != 1 {
		t.Fatalf("operation with defaults = %+v", op)
	}
}

func TestCreateRefusesBadUsage(t *testing.T) {
	h := newHarness(t)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--description", "Release 1.2.3"}, "--key"},
		{[]string{"--key", "key1:0", "--description", "Release 1.2.3"}, "USES"},
		{[]string{"--key", "key1:x", "--description", "Release 1.2.3"}, "USES"},
		{[]string{"--key", ":2", "--description", "Release 1.2.3"}, "names no key"},
		{[]string{"--key", "key1"}, "--description"},
		{[]string{"--key", "key1", "--description", "Release 1.2.3", "--valid", "-5m"}, "--valid"},
		{[]string{"--key", "key1", "--description", "Release 1.2.3", "extra"}, "unexpected argument"},
	}
	for _, c := range cases {
		h.mustFail(ExitUsage, c.want, append([]string{"create"}, c.args...)...)
	}
	h.mustFail(ExitUsage, "Key \"nokey\" is not registered", "create", "--key", "nokey", "--description", "Release 1.2.3")
	if creates, _ := h.fake.OperationCalls(); creates != 1 {
		t.Fatalf("%d create calls reached the Keyserver, want only the one with an unknown key", creates)
	}
	h.env["KSC_API_SERVER"] = "http://keyserver.example.com"
	h.mustFail(ExitUsage, "must use https", "create", "--key", "key1", "--description", "Release 1.2.3")
	delete(h.env, "KSC_ID_TOKEN")
	h.env["KSC_API_SERVER"] = h.server.URL
	h.mustFail(ExitAuth, "no token", "create", "--key", "key1", "--description", "Release 1.2.3")
	h.env["KSC_ID_TOKEN"] = "not-accepted"
	h.mustFail(ExitAuth, "fresh token", "create", "--key", "key1", "--description", "Release 1.2.3")
}

// githubRun sets the variables of a GitHub Actions job.
func (h *harness) githubRun(attempt string) {
	for k, v := range map[string]string{"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": "octo/firmware",
		"GITHUB_RUN_ID": "4242", "GITHUB_RUN_ATTEMPT": attempt, "GITHUB_JOB": "sign"} {
		h.env[k] = v
	}
}

func TestCreateIsIdempotentPerRunAttemptAndJob(t *testing.T) {
	h := newHarness(t)
	h.githubRun("1")
	first := h.mustCreate("--key", "key2:2")
	r := h.mustRun(0, "create", "--description", "Release 1.2.3 firmware", "--key", "key2:2")
	if strings.TrimSpace(r.stdout) != first || !strings.Contains(r.stderr, "opened earlier by this job") {
		t.Fatalf("re-run printed %q (%s), want operation %s again", r.stdout, r.stderr, first)
	}
	line := h.mustFail(ExitRefused, "different request", "create", "--description", "Release 1.2.3 firmware", "--key", "key2:3")
	if !strings.Contains(line, first) {
		t.Fatalf("refusal %q does not name the earlier operation", line)
	}
	if second := h.mustCreate("--key", "key2:3", "--idempotency-key", "second-operation"); second == first {
		t.Fatalf("an explicit --idempotency-key returned the run's operation")
	}
	h.githubRun("2")
	if again := h.mustCreate("--key", "key2:2"); again == first {
		t.Fatalf("a new attempt of the run got the first attempt's operation")
	}
	// Outside CI every run opens a new operation.
	for k := range h.env {
		if strings.HasPrefix(k, "GITHUB_") {
			delete(h.env, k)
		}
	}
	a, b := h.mustCreate("--key", "key1"), h.mustCreate("--key", "key1")
	if a == b {
		t.Fatalf("two creates outside CI returned one operation")
	}
}
