package kscli

import (
	"context"
	"fmt"
)

const tokenHelp = `Usage: ks token [--audience AUDIENCE]

Prints a bearer token for the Keyserver on stdout.

It is KSC_ID_TOKEN_FILE's or KSC_ID_TOKEN's token while that is valid. Otherwise
ks asks the CI platform for the job's OIDC token:

  GitHub Actions   ACTIONS_ID_TOKEN_REQUEST_URL and _TOKEN, for AUDIENCE
                   (the workflow needs "permissions: id-token: write")
  GitLab CI        the id_tokens variable KEYSERVER_ID_TOKEN (or the one named
                   by KSC_ID_TOKEN_VARIABLE); its aud is set in the job's YAML
                   and must be AUDIENCE
  Azure Pipelines  System.OidcRequestUri with SYSTEM_ACCESSTOKEN, exchanged at
                   Entra ID for a token for AUDIENCE (the Keyserver app's
                   Application ID URI); needs KSC_AZURE_CLIENT_ID,
                   KSC_AZURE_TENANT_ID and KSC_AZURE_SERVICE_CONNECTION_ID
                   (or the AZURESUBSCRIPTION_* variables of an AzureCLI@2 task)

Options:
  --audience AUDIENCE  the audience to ask for; default KSC_AUDIENCE, else
                       KSC_API_SERVER

Exit codes: 0 printed, 2 bad usage, 7 no token could be had, 1 anything else.
`

func runToken(ctx context.Context, env *Env, args []string) error {
	fs := newFlags("token")
	audience := fs.String("audience", "", "")
	rest, err := parse(env, fs, tokenHelp, args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fail(ExitUsage, "unexpected argument %q; see ks token --help", rest[0])
	}
	s, err := newSession(env, *audience, false)
	if err != nil {
		return err
	}
	tok, err := s.tokens.Token(ctx, false)
	if err != nil {
		return fail(ExitAuth, "%v", err)
	}
	fmt.Fprintln(env.Stdout, tok)
	return nil
}
