package kscli

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"keyserver/internal/ksc"
)

const createHelp = `Usage: ks create --key KEYID[:USES] [--key KEYID[:USES]]... [--description TEXT]
                 [--valid DURATION] [--idempotency-key KEY]

Opens an operation and prints its id, and nothing else, on stdout:

  export KSC_OPERATION_ID=$(ks create --key key1:1 --key key4:2 --description "Release 1.2" --valid 10m)

Running it again in the same CI job (a retried step) returns the same
operation instead of opening another: ks sends an Idempotency-Key made of the
platform's run, attempt and job (GitHub: repository, run id, run attempt and
job; GitLab: project, pipeline and job id; Azure Pipelines: collection, build,
job and job attempt). A new attempt of the run opens a new operation. The same
key with another request (other keys, counts, description or validity) is
refused: give each operation of a job its own --idempotency-key.

Options:
  --key KEYID[:USES]     a key the operation may use, USES times (default 1); repeatable
  --description TEXT     what approvers are asked to approve; default
                         KSC_OPERATION_DESCRIPTION
  --valid DURATION       how long the operation is valid, approval included,
                         e.g. 10m or 2h (default 1h)
  --idempotency-key KEY  the Idempotency-Key; default from the CI platform
                         (none outside CI)

Environment: KSC_API_SERVER, KSC_ID_TOKEN or KSC_ID_TOKEN_FILE (or the CI
platform's token, see ks token --help), KSC_HTTP_CLIENT_TIMEOUT.

Exit codes: 0 opened (or found), 2 bad usage or request, 7 token missing or
refused, 8 key unknown or not allowed, 9 Idempotency-Key used for another
request, 10 Keyserver unreachable, 1 anything else.
`

func runCreate(ctx context.Context, env *Env, args []string) error {
	fs := newFlags("create")
	var keys listFlag
	fs.Var(&keys, "key", "")
	description := fs.String("description", env.Getenv("KSC_OPERATION_DESCRIPTION"), "")
	valid := fs.Duration("valid", time.Hour, "")
	idemKey := fs.String("idempotency-key", "", "")
	rest, err := parse(env, fs, createHelp, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fail(ExitUsage, "unexpected argument %q; see ks create --help", rest[0])
	}
	req, err := operationRequest(keys, *description, *valid)
	if err != nil {
		return err
	}
	s, err := newSession(env, "", true)
	if err != nil {
		return err
	}
	key := strings.TrimSpace(*idemKey)
	if key == "" && s.tokens.platform != nil {
		key = s.tokens.platform.RunKey()
	}
	op, created, err := s.client.CreateOperation(ctx, req, key)
	if err != nil {
		return explain(err, "opening the operation")
	}
	fmt.Fprintln(env.Stdout, op.ID)
	switch {
	case !created:
		fmt.Fprintf(env.Stderr, "ks create: operation %s was opened earlier by this job (Idempotency-Key %s); it is %s\n", op.ID, key, op.Status)
	case op.Status == ksc.StatusPending:
		fmt.Fprintf(env.Stderr, "ks create: opened operation %s; it waits for %s\n", op.ID, missingApprovals(op))
	default:
		fmt.Fprintf(env.Stderr, "ks create: opened operation %s; it is %s\n", op.ID, op.Status)
	}
	return nil
}

// operationRequest checks the flags and builds the request body.
func operationRequest(keys []string, description string, valid time.Duration) (*ksc.OperationRequest, error) {
	if len(keys) == 0 {
		return nil, fail(ExitUsage, "name at least one key with --key KEYID[:USES]; see ks create --help")
	}
	if strings.TrimSpace(description) == "" {
		return nil, fail(ExitUsage, "say what is to be signed with --description TEXT (or KSC_OPERATION_DESCRIPTION)")
	}
	if valid <= 0 || valid%time.Millisecond != 0 {
		return nil, fail(ExitUsage, "--valid %s must be a positive duration such as 10m", valid)
	}
	req := &ksc.OperationRequest{ValidMS: valid.Milliseconds(), Description: description}
	for _, k := range keys {
		id, count, hasCount := strings.Cut(k, ":")
		n := 1
		if hasCount {
			var err error
			if n, err = strconv.Atoi(count); err != nil || n < 1 {
				return nil, fail(ExitUsage, "--key %s: USES must be a whole number of at least 1", k)
			}
		}
		if id == "" {
			return nil, fail(ExitUsage, "--key %q names no key; write --key KEYID[:USES]", k)
		}
		req.Keys = append(req.Keys, ksc.KeyRequest{KeyID: id, MaxUsageCount: n})
	}
	return req, nil
}

// missingApprovals says which keys still need how many approvals.
func missingApprovals(op *ksc.Operation) string {
	var parts []string
	for _, g := range op.Keys {
		if need := g.RequiredApprovals - len(g.Approvals); need > 0 {
			parts = append(parts, fmt.Sprintf("%d more approval(s) of %s", need, g.KeyID))
		}
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}
