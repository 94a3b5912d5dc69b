package kscli

import (
	"context"
	"fmt"
	"os"
	"time"

	"keyserver/internal/auditexport"
)

const auditHelp = `Usage: ks audit export [--since TIME] DIR
       ks audit verify [--known OLDDIR]... DIR

export writes the Keyserver's audit log into DIR: every record dated TIME or
later (RFC 3339, e.g. 2026-11-30T00:00:00Z; default: all) and every record
introducing an audit certificate, every signed checkpoint with the records
it sealed, the consistency proof between each two checkpoints, and the audit
key's certificates (GET /api/audit/*, as an auditor). docs/AUDIT.md
describes the files.

verify checks DIR without the Keyserver: every record's link to the one
before, every checkpoint's signature with the certificate it names (trusted
only if it is the first, DIR/audit-certificate.pem, or was issued by a
trusted one's key and introduced by a sealed audit.key record), every
inclusion and consistency proof. It prints "OK: ..." or "FAILED: " and the
first record edited, reordered, inserted or deleted, or the first missing
or invalid checkpoint. With --known, the checkpoints of an earlier export
must all be in DIR unchanged, which catches a dropped latest checkpoint.
Compare the first certificate's SHA-256 (openssl x509 -in
DIR/audit-certificate.pem -noout -fingerprint -sha256) with a copy kept
apart from the Keyserver.

Environment (export): KSC_API_SERVER, KSC_ID_TOKEN or KSC_ID_TOKEN_FILE,
KSC_HTTP_CLIENT_TIMEOUT.

Exit codes: 0 exported, or the log verifies; 11 the log does not verify;
2 bad usage or an unreadable DIR; 7 token missing or refused; 8 not an
auditor; 10 Keyserver unreachable; 1 anything else.
`

func runAudit(ctx context.Context, env *Env, args []string) error {
	if len(args) == 0 {
		return fail(ExitUsage, "name what to do: ks audit export DIR or ks audit verify DIR")
	}
	switch args[0] {
	case "export":
		return runAuditExport(ctx, env, args[1:])
	case "verify":
		return runAuditVerify(env, args[1:])
	case "-h", "--help", "-help", "help":
		fmt.Fprint(env.Stdout, auditHelp)
		return nil
	}
	return fail(ExitUsage, "unknown audit command %q: ks audit export DIR or ks audit verify DIR", args[0])
}

func runAuditExport(ctx context.Context, env *Env, args []string) error {
	fs := newFlags("audit export")
	sinceFlag := fs.String("since", "", "")
	rest, err := parse(env, fs, auditHelp, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return fail(ExitUsage, "name one directory: ks audit export [--since TIME] DIR")
	}
	var since time.Time
	if *sinceFlag != "" {
		if since, err = time.Parse(time.RFC3339Nano, *sinceFlag); err != nil {
			return fail(ExitUsage, "--since %q is not an RFC 3339 time such as 2026-11-30T00:00:00Z", *sinceFlag)
		}
	}
	s, err := newSession(env, "", true)
	if err != nil {
		return err
	}
	e, err := auditexport.Fetch(ctx, s.client, since, env.now(), s.server.String())
	if err != nil {
		return explain(err, "exporting the audit log")
	}
	if err := auditexport.Write(rest[0], e); err != nil {
		return fail(ExitError, "writing %s: %v", rest[0], err)
	}
	fmt.Fprintf(env.Stdout, "exported %d records and %d checkpoints to %s\n", len(e.Records), len(e.Checkpoints), rest[0])
	return nil
}

// knownDirs collects repeated --known flags.
type knownDirs []string

func (k *knownDirs) String() string     { return fmt.Sprint(*k) }
func (k *knownDirs) Set(v string) error { *k = append(*k, v); return nil }

func runAuditVerify(env *Env, args []string) error {
	fs := newFlags("audit verify")
	var known knownDirs
	fs.Var(&known, "known", "")
	rest, err := parse(env, fs, auditHelp, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return fail(ExitUsage, "name one directory: ks audit verify [--known OLDDIR] DIR")
	}
	if fi, err := os.Stat(rest[0]); err != nil || !fi.IsDir() {
		return fail(ExitUsage, "%s is not a directory ks audit export wrote", rest[0])
	}
	rep, err := auditexport.VerifyDir(rest[0], known, env.Stdout)
	if err != nil {
		return fail(ExitUsage, "reading %s: %v", rest[0], err)
	}
	if !rep.OK() {
		return fail(ExitTampered, "the audit log does not verify: %s", rep.Problems[0])
	}
	return nil
}
