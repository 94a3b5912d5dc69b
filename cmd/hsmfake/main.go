// Command hsmfake serves the SoftHSM2-backed fake of the Key Vault / Managed
// HSM keys REST API over HTTPS, for tests and local use only. It accepts any
// bearer token and its token PINs are public.
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
	"strconv"
	"syscall"
	"time"

	"keyserver/internal/hsmfake"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "hsmfake:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends. It prints the base URL and the CA path to stdout
// once it is ready; logs go to stderr as JSON.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hsmfake", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8443", "address to listen on")
	state := fs.String("state", ".local/hsm", "state dir: SoftHSM token, softhsm2.conf, TLS files")
	flavour := fs.String("flavour", hsmfake.FlavourVault, "vault or managedhsm (the challenge's resource)")
	module := fs.String("module", hsmfake.DefaultModulePath, "SoftHSM2 PKCS#11 module")
	create := fs.String("create", "", `keys to create when missing, e.g. "key1=RSA:2048,key2=EC:P-256"`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	specs, err := hsmfake.ParseKeySpecs(*create)
	if err != nil {
		return fmt.Errorf("-create: %w", err)
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", *addr, err)
	}
	defer ln.Close()
	base := baseURL(ln.Addr().(*net.TCPAddr))
	srv, err := hsmfake.New(ctx, hsmfake.Config{StateDir: *state, Flavour: *flavour, ModulePath: *module, BaseURL: base, Logger: log})
	if err != nil {
		return err
	}
	defer srv.Close()
	for _, spec := range specs {
		kid, created, err := srv.EnsureKey(ctx, spec)
		if err != nil {
			return err
		}
		log.Info("hsmfake: key ready", "kid", kid, "created", created)
	}

	hs := &http.Server{
		Handler:           srv.Handler(),
		TLSConfig:         srv.TLSConfig(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- hs.ServeTLS(ln, "", "") }()
	log.Info("hsmfake: serving", "url", base, "ca", srv.CAPath(), "flavour", *flavour)
	fmt.Fprintf(stdout, "hsmfake: serving %s (clients trust %s)\n", base, srv.CAPath())

	select {
	case err := <-served:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = hs.Shutdown(shutdownCtx) // hanging faults outlast this; Close releases them
	if err := srv.Close(); err != nil {
		return err
	}
	_ = hs.Close()
	log.Info("hsmfake: stopped")
	return nil
}

// baseURL names loopback addresses "localhost", which the certificate covers.
func baseURL(a *net.TCPAddr) string {
	host := a.IP.String()
	if a.IP.IsLoopback() || a.IP.IsUnspecified() {
		host = "localhost"
	}
	return "https://" + net.JoinHostPort(host, strconv.Itoa(a.Port))
}
