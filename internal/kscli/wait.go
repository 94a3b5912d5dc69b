package kscli

import (
	"context"
	"strings"
	"time"

	"keyserver/internal/ksc"
)

const waitHelp = `Usage: ks wait [OPERATION_ID] [--timeout DURATION] [--interval DURATION]

Waits until the operation (default KSC_OPERATION_ID) is approved.

On a terminal it shows a countdown to the operation's expiry and, per key, the
approvals given and needed. In a CI log it prints one line per change. The
platform's token is renewed when it expires during the wait (see ks token
--help); KSC_ID_TOKEN_FILE is read again once its token has expired.

Options:
  --timeout DURATION   give up after this long, e.g. 10m; default: wait until
                       the operation expires
  --interval DURATION  how often to ask the Keyserver (default 5s)

Exit codes, each with one line on stderr saying which:
  0 approved, 3 rejected or cancelled, 4 expired, 5 timed out,
  2 bad usage, 7 token missing or refused, 8 no such operation (or not yours),
  9 its uses are spent, 1 anything else.
`

func runWait(ctx context.Context, env *Env, args []string) error {
	fs := newFlags("wait")
	timeout := fs.Duration("timeout", 0, "")
	interval := fs.Duration("interval", 5*time.Second, "")
	rest, err := parse(env, fs, waitHelp, args)
	if err != nil {
		return err
	}
	opID, err := operationArg(env, rest, "wait")
	if err != nil {
		return err
	}
	if *timeout < 0 || *interval <= 0 {
		return fail(ExitUsage, "--timeout must not be negative and --interval must be positive")
	}
	s, err := newSession(env, "", true)
	if err != nil {
		return err
	}
	w := &waiter{env: env, client: s.client, opID: opID, interval: *interval, progress: newProgress(env, opID)}
	if *timeout > 0 {
		w.deadline = env.now().Add(*timeout)
	}
	return w.run(ctx)
}

// operationArg is the one OPERATION_ID argument, else KSC_OPERATION_ID.
func operationArg(env *Env, rest []string, cmd string) (string, error) {
	switch len(rest) {
	case 0:
		if id := strings.TrimSpace(env.Getenv("KSC_OPERATION_ID")); id != "" {
			return id, nil
		}
		return "", fail(ExitUsage, "name the operation: ks %s OPERATION_ID, or set KSC_OPERATION_ID", cmd)
	case 1:
		return rest[0], nil
	}
	return "", fail(ExitUsage, "unexpected argument %q; see ks %s --help", rest[1], cmd)
}

type waiter struct {
	env      *Env
	client   *ksc.Client
	opID     string
	interval time.Duration
	deadline time.Time // zero: until the operation ends
	progress *progress

	op      *ksc.Operation
	lastErr string
}

func (w *waiter) run(ctx context.Context) error {
	next := w.env.now()
	for {
		now := w.env.now()
		if !now.Before(next) {
			if err := w.poll(ctx); err != nil {
				w.progress.clear()
				return err
			}
			if done, err := w.verdict(); done {
				w.progress.clear()
				return err
			}
			next = now.Add(w.interval)
		}
		if !w.deadline.IsZero() && !now.Before(w.deadline) {
			w.progress.clear()
			return w.timedOut()
		}
		w.progress.show(w.op, now)
		step := next.Sub(now)
		if w.env.Terminal {
			step = min(step, time.Second)
		}
		if !w.deadline.IsZero() {
			step = min(step, w.deadline.Sub(now))
		}
		if err := w.env.sleep(ctx, step); err != nil {
			w.progress.clear()
			return fail(ExitError, "interrupted while waiting for operation %s", w.opID)
		}
	}
}

// poll reads the operation; transient failures are shown and retried.
func (w *waiter) poll(ctx context.Context) error {
	op, err := w.client.Operation(ctx, w.opID)
	if err == nil {
		w.op, w.lastErr = op, ""
		return nil
	}
	e := explain(err, "reading operation "+w.opID)
	if !transient(err) {
		return e
	}
	if msg := e.Error(); msg != w.lastErr {
		w.lastErr = msg
		w.progress.note(msg + " (retrying)")
	}
	return nil
}

// verdict reports whether the operation has come to an end, and how.
func (w *waiter) verdict() (bool, error) {
	op := w.op
	if op == nil {
		return false, nil
	}
	switch op.Status {
	case ksc.StatusApproved:
		w.progress.final("operation " + op.ID + " is approved")
		return true, nil
	case ksc.StatusRejected:
		return true, fail(ExitRejected, "operation %s was rejected%s; fix what the approver asks and open a new operation", op.ID, closedBy(op.Rejected))
	case ksc.StatusCancelled:
		return true, fail(ExitRejected, "operation %s was cancelled%s", op.ID, closedBy(op.Cancelled))
	case ksc.StatusExpired:
		return true, fail(ExitExpired, "operation %s expired at %s before it could be used; open a new operation with a longer --valid", op.ID, op.Expires.UTC().Format(time.RFC3339))
	case ksc.StatusExhausted:
		return true, fail(ExitRefused, "operation %s has used all its uses; open a new operation", op.ID)
	}
	return false, nil
}

func closedBy(c *ksc.Closure) string {
	if c == nil {
		return ""
	}
	s := " by " + c.By.Subject
	if c.Reason != "" {
		s += ": " + c.Reason
	}
	return s
}

func (w *waiter) timedOut() error {
	if w.op == nil {
		return fail(ExitTimeout, "timed out: operation %s could not be read (%s)", w.opID, w.lastErr)
	}
	return fail(ExitTimeout, "timed out waiting for operation %s, still %s: %s", w.opID, w.op.Status, approvalsLine(w.op))
}
