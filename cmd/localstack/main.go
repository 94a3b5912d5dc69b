// Command localstack runs the whole Keyserver locally until Ctrl-C: Azurite,
// the SoftHSM-backed HSM fake, the dev auth server and the handler, with
// seed 001's demo clients and keys. `make run` starts it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"keyserver/internal/localstack"
)

func main() {
	var o localstack.Options
	flag.StringVar(&o.Dir, "dir", ".local", "state directory (kept across runs)")
	flag.StringVar(&o.HandlerBinary, "handler", "build/handler", "handler binary; empty runs it in this process")
	flag.IntVar(&o.HandlerPort, "handler-port", 7071, "handler port (FUNCTIONS_CUSTOMHANDLER_PORT)")
	flag.IntVar(&o.AuthPort, "auth-port", 8300, "dev auth server port")
	flag.IntVar(&o.HSMPort, "hsm-port", 8443, "HSM fake port (HTTPS)")
	flag.IntVar(&o.AzuritePort, "azurite-port", 10002, "Azurite table service port")
	flag.StringVar(&o.Flavour, "flavour", "vault", "HSM fake flavour: vault or managedhsm")
	flag.DurationVar(&o.PersonTokenLifetime, "person-token-lifetime", time.Hour, "lifetime of the tokens people get by signing in")
	flag.DurationVar(&o.UpkeepInterval, "upkeep-interval", localstack.DefaultUpkeepInterval, "how often the stand-in for the timer runs the upkeep function")
	flag.Parse()
	o.Log = slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, err := localstack.Start(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "localstack:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, `
Keyserver local stack is up (Ctrl-C stops it).
  Web UI          %s/   (sign in as adminuser or approver-key1..4, password = name)
  Keyserver API   %s/api   (export KSC_API_SERVER=%s)
  Dev auth server %s/oauth2/token   (local use only; people sign in at %s/authorize
                  through the client keyserver-ui, with their name as password)
  IDENTITY_HEADER for func start, new at each start: %s
  CI stand-ins    %s and %s   (GitHub- and GitLab-shaped issuers; docs/PIPELINES.md)
  HSM fake        %s   (CA: %s)
  Azurite tables  %s
Events (approval requests, approvals, expiries) are printed here with their link; upkeep runs every %s.
Get a token:  export KSC_ID_TOKEN=$(curl -sS -X POST -u orderer-client:orderer-client -d grant_type=client_credentials %s/oauth2/token | jq -r .access_token)
`, st.HandlerURL, st.HandlerURL, st.HandlerURL, st.AuthURL, st.AuthURL, st.IdentityHeaderFile, st.CI.GitHubIssuer(), st.CI.GitLabIssuer(), st.HSMURL, st.CAFile, st.Azurite.ConnectionString(), o.UpkeepInterval, st.AuthURL)
	select {
	case <-ctx.Done():
	case err := <-st.Done():
		fmt.Fprintln(os.Stderr, "localstack: the handler exited:", err)
	}
	if err := st.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "localstack: stopping:", err)
		os.Exit(1)
	}
}
