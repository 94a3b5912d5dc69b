// Command devauth runs the dev auth server: client-credentials tokens for
// the demo clients, sign-in of the demo people (authorization code with
// PKCE), OIDC discovery, JWKS and a managed identity endpoint.
// For local and demo use only; never deploy it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"keyserver/internal/devauth"
)

const warning = `
************************************************************************
*  WARNING: devauth is a DEVELOPMENT auth server for local use only.   *
*  Its clients and people have well-known secrets, and its managed     *
*  identity endpoint hands out tokens to whoever holds the header.     *
*  NEVER run it in production or expose it beyond this machine.        *
************************************************************************
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "devauth:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends. ready, if not nil, gets the listening address.
func run(ctx context.Context, args []string, stderr io.Writer, ready func(addr string)) error {
	fs := flag.NewFlagSet("devauth", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8300", "listen address")
	issuer := fs.String("issuer", "http://localhost:8300", "issuer URL (iss of the tokens)")
	audience := fs.String("audience", "api://keyserver-local", "audience of access tokens (the Keyserver's)")
	identityHeaderFile := fs.String("identity-header-file", "", "turns the managed identity endpoint on and writes its IDENTITY_HEADER value, new at each start, to this file")
	keyFile := fs.String("key-file", "", "PEM file keeping the signing key across restarts (created if missing)")
	clientsFile := fs.String("clients-file", "", "JSON array of {name,secret,roles} overriding the demo clients")
	uiClientID := fs.String("ui-client-id", devauth.DefaultUIClientID, "client id of the public client people sign in through")
	redirectURIs := fs.String("redirect-uris", "", "comma-separated redirect URIs of the UI client (exact match); empty turns sign-in off")
	personLifetime := fs.Duration("person-token-lifetime", time.Hour, "lifetime of people's tokens")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *personLifetime <= 0 {
		return fmt.Errorf("-person-token-lifetime must be positive")
	}
	fmt.Fprint(stderr, warning)
	logger := slog.New(slog.NewJSONHandler(stderr, nil))

	clients := devauth.DemoClients()
	if *clientsFile != "" {
		var err error
		if clients, err = devauth.LoadClients(*clientsFile); err != nil {
			return err
		}
	}
	var uris []string
	for _, u := range strings.Split(*redirectURIs, ",") {
		if u = strings.TrimSpace(u); u != "" {
			uris = append(uris, u)
		}
	}
	srv, err := devauth.New(devauth.Config{
		Issuer:              *issuer,
		Audience:            *audience,
		ManagedIdentity:     *identityHeaderFile != "",
		KeyFile:             *keyFile,
		Clients:             clients,
		UIClientID:          *uiClientID,
		RedirectURIs:        uris,
		PersonTokenLifetime: *personLifetime,
		Logger:              logger,
	})
	if err != nil {
		return err
	}
	if *identityHeaderFile != "" {
		if err := devauth.WriteSecretFile(*identityHeaderFile, srv.IdentityHeader()); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", *addr, err)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	logger.Info("devauth listening", "addr", ln.Addr().String(), "issuer", *issuer, "audience", *audience,
		"managed_identity", *identityHeaderFile != "", "clients", len(clients), "redirect_uris", uris)
	if ready != nil {
		ready(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	return nil
}
