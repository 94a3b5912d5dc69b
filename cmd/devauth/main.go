// Command devauth runs the dev auth server: client-credentials tokens for
// the demo clients, OIDC discovery, JWKS and a managed identity endpoint.
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
	"syscall"
	"time"

	"keyserver/internal/devauth"
)

const warning = `
************************************************************************
*  WARNING: devauth is a DEVELOPMENT auth server for local use only.   *
*  Its clients have well-known secrets and it hands out tokens to      *
*  anyone who asks its managed identity endpoint with the header.      *
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
	audience := fs.String("audience", "api://keyserver-local", "audience of client-credentials tokens")
	identityHeader := fs.String("identity-header", os.Getenv("DEVAUTH_IDENTITY_HEADER"), "secret of the managed identity endpoint (IDENTITY_HEADER); empty disables it")
	keyFile := fs.String("key-file", "", "PEM file keeping the signing key across restarts (created if missing)")
	clientsFile := fs.String("clients-file", "", "JSON array of {name,secret,roles} overriding the demo clients")
	if err := fs.Parse(args); err != nil {
		return err
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
	srv, err := devauth.New(devauth.Config{
		Issuer:         *issuer,
		Audience:       *audience,
		IdentityHeader: *identityHeader,
		KeyFile:        *keyFile,
		Clients:        clients,
		Logger:         logger,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", *addr, err)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}
	logger.Info("devauth listening", "addr", ln.Addr().String(), "issuer", *issuer, "audience", *audience,
		"managed_identity", *identityHeader != "", "clients", len(clients))
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
