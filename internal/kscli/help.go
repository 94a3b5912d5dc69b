package kscli

import (
	"fmt"
	"strings"
)

const mainHelpText = `ks is a pipeline's client of the Keyserver: it opens an operation, waits for
its approval, signs files and verifies them.

Usage: ks COMMAND [OPTIONS] [ARGUMENTS]

Commands:
%s
Run ks COMMAND --help for a command's options and exit codes.

A pipeline's flow:

  export KSC_API_SERVER=https://keyserver.example.com
  export KSC_OPERATION_ID=$(ks create --key key1:50 --description "Release 1.2" --valid 30m)
  ks wait                    # exits 0 once approved
  ks sign --key key1 dist/*  # writes dist/*.sig
  ks verify --key key1 dist/*

Environment (the same as the PKCS#11 module's):
  KSC_API_SERVER           the Keyserver URL; https, or http to localhost only
  KSC_ID_TOKEN             the bearer token, or
  KSC_ID_TOKEN_FILE        a file holding it, read again once it has expired;
                           without either, ks gets the job's OIDC token from
                           GitHub Actions, GitLab CI or Azure Pipelines
  KSC_AUDIENCE             the audience of platform tokens (default KSC_API_SERVER)
  KSC_OPERATION_ID         the operation for wait and sign
  KSC_OPERATION_DESCRIPTION  the default --description of create and sign
  KSC_HTTP_CLIENT_TIMEOUT  the deadline of one HTTP request: 15s or 15 (default 10s)

Exit codes (every failure prints one line on stderr that says what to do):
  0 success                 6 a signature does not verify
  1 anything else           7 no token, or the Keyserver refused it
  2 bad usage or request    8 not allowed, or no such key or operation
  3 rejected or cancelled   9 not approved yet, uses spent, or an
  4 expired                   Idempotency-Key used for another request
  5 ks wait timed out      10 the Keyserver is unreachable or busy: retry
                           11 ks audit verify: the audit log was changed
`

func mainHelp() string {
	var b strings.Builder
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-8s %s\n", c.name, c.summary)
	}
	return fmt.Sprintf(mainHelpText, b.String())
}
