// Package kscli is the ks command: a pipeline's client of the Keyserver. It
// gets the job's token from the CI platform, opens an operation, waits for
// its approval, signs files through the API and verifies the signatures.
// cmd/ks is its thin main.
package kscli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Exit codes. Every failure prints one line on stderr saying what to do.
const (
	ExitOK           = 0
	ExitError        = 1  // anything not listed below
	ExitUsage        = 2  // a bad command line or setting, or a request the Keyserver finds invalid
	ExitRejected     = 3  // the operation was rejected or cancelled
	ExitExpired      = 4  // the operation expired
	ExitTimeout      = 5  // ks wait gave up before a decision
	ExitBadSignature = 6  // ks verify: a signature does not verify
	ExitAuth         = 7  // no token, or the Keyserver refused it
	ExitDenied       = 8  // not allowed, or no such key or operation
	ExitRefused      = 9  // not approved yet, uses spent, or an Idempotency-Key used for another request
	ExitUnavailable  = 10 // the Keyserver or its HSM cannot be reached or is busy; retry later
	ExitTampered     = 11 // ks audit verify: the audit log was changed
)

// Env is what one run of ks sees of the world.
type Env struct {
	Args   []string // without the program name
	Getenv func(string) string
	Stdout io.Writer
	Stderr io.Writer
	// Terminal reports that Stderr is a terminal: ks wait then redraws one
	// status line instead of logging a line per change.
	Terminal bool
	// Now and Sleep are the clock; nil means the real one.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// HTTP makes every request; nil means one per KSC_HTTP_CLIENT_TIMEOUT.
	HTTP *http.Client
}

func (e *Env) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e *Env) sleep(ctx context.Context, d time.Duration) error {
	if e.Sleep != nil {
		return e.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// exitError ends a command with a code and one line.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

func fail(code int, format string, args ...any) error {
	return failure(code, format, args...)
}

func failure(code int, format string, args ...any) *exitError {
	return &exitError{code: code, msg: fmt.Sprintf(format, args...)}
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *Env, args []string) error
}

var commands []command

func init() {
	commands = []command{
		{"token", "print a token for the Keyserver (from the CI platform or KSC_ID_TOKEN)", runToken},
		{"create", "open an operation and print its id", runCreate},
		{"wait", "wait until an operation is approved", runWait},
		{"sign", "sign files under the approved operation, writing FILE.sig", runSign},
		{"verify", "verify FILE.sig files against a key's certificate", runVerify},
		{"cert", "print a key's certificate as PEM", runCert},
		{"audit", "export the audit log, or verify an export offline", runAudit},
	}
}

// Run runs ks and returns its exit code.
func Run(ctx context.Context, env Env) int {
	args := env.Args
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, mainHelp())
		return ExitUsage
	}
	name := args[0]
	switch name {
	case "-h", "--help", "-help", "help":
		if len(args) > 1 {
			return Run(ctx, Env{Args: []string{args[1], "--help"}, Getenv: env.Getenv, Stdout: env.Stdout, Stderr: env.Stderr})
		}
		fmt.Fprint(env.Stdout, mainHelp())
		return ExitOK
	}
	for _, c := range commands {
		if c.name == name {
			return finish(&env, name, c.run(ctx, &env, args[1:]))
		}
	}
	fmt.Fprintf(env.Stderr, "ks: unknown command %q; run ks --help for the commands\n", name)
	return ExitUsage
}

// finish prints a failure as one line and returns its code.
func finish(env *Env, name string, err error) int {
	if err == nil || errors.Is(err, errHelpShown) {
		return ExitOK
	}
	var ee *exitError
	if !errors.As(err, &ee) {
		ee = &exitError{code: ExitError, msg: err.Error()}
	}
	fmt.Fprintf(env.Stderr, "ks %s: %s\n", name, oneLine(ee.msg))
	return ee.code
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
