package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"keyserver/internal/api"
	"keyserver/internal/keyserver"
	"keyserver/internal/keyvault"
	"keyserver/internal/oidc"
	"keyserver/internal/tablestore"
	"keyserver/internal/triggers"
	"keyserver/internal/webui"
)

// Main is a running Keyserver.
type Main struct {
	Config Config
	Log    *slog.Logger
	// Now replaces the clock, for tests.
	Now func() time.Time
	// Console gets the local stand-in's text for every event; default stdout.
	Console io.Writer

	API      *api.Server
	server   *http.Server
	listener net.Listener
	closers  []func(context.Context) error
	triggers *triggers.Server
}

// Open builds the adapters and starts listening on 127.0.0.1:Port, as the
// Functions host expects of a custom handler.
func (m *Main) Open(ctx context.Context) error {
	if m.Log == nil {
		m.Log = slog.New(slog.NewJSONHandler(os.Stdout, nil))
	}
	srv, err := m.build(ctx)
	if err != nil {
		return err
	}
	m.API = srv
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", m.Config.Port))
	if err != nil {
		return fmt.Errorf("listening on port %s: %w", m.Config.Port, err)
	}
	m.listener = ln
	mux := http.NewServeMux()
	mux.Handle("/", m.API.Handler())
	m.triggers.Register(mux)
	m.server = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	go func() {
		if err := m.server.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.Log.Error("serving", "err", err)
		}
	}()
	m.Log.Info("keyserver listening", "addr", ln.Addr().String())
	return nil
}

// Addr is the address the handler listens on.
func (m *Main) Addr() string { return m.listener.Addr().String() }

// Close stops serving and closes the adapters.
func (m *Main) Close(ctx context.Context) error {
	var errs []error
	if m.server != nil {
		errs = append(errs, m.server.Shutdown(ctx))
	}
	for _, c := range m.closers {
		errs = append(errs, c(ctx))
	}
	return errors.Join(errs...)
}

func (m *Main) build(ctx context.Context) (*api.Server, error) {
	c := m.Config
	cred, err := keyvault.NewCredential(c.Credential)
	if err != nil {
		return nil, fmt.Errorf("building the Azure credential: %w", err)
	}
	var store *tablestore.Store
	if c.TablesConnectionString != "" {
		store, err = tablestore.NewFromConnectionString(c.TablesConnectionString, c.TablePrefix)
	} else {
		store, err = tablestore.NewWithCredential(c.TablesEndpoint, cred, c.TablePrefix)
	}
	if err != nil {
		return nil, fmt.Errorf("opening Table Storage: %w", err)
	}
	tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := store.EnsureTables(tctx); err != nil {
		m.Log.Warn("ensuring tables; requests will fail until Table Storage is reachable", "err", err)
	}
	var ca []byte
	if c.KeyVaultCAFile != "" {
		if ca, err = os.ReadFile(c.KeyVaultCAFile); err != nil {
			return nil, fmt.Errorf("reading KEYSERVER_KEYVAULT_CA_FILE: %w", err)
		}
	}
	hsm, err := keyvault.New(keyvault.Config{Credential: cred, ExtraRootCAs: ca, SignTimeout: c.SignTimeout})
	if err != nil {
		return nil, fmt.Errorf("building the Key Vault client: %w", err)
	}
	publisher, err := m.events(cred, store)
	if err != nil {
		return nil, err
	}
	ui, err := webui.New(c.UI)
	if err != nil {
		return nil, err
	}
	oidcOpts := c.OIDC
	oidcOpts.Client = &http.Client{Timeout: 10 * time.Second}
	verifier, err := oidc.NewVerifier(c.Issuers, oidcOpts)
	if err != nil {
		return nil, fmt.Errorf("KEYSERVER_TRUSTED_ISSUERS: %w", err)
	}
	svc := &keyserver.Service{
		Ops: store, Keys: store, Subjects: store, Policies: store, Audit: store, Trail: store, AuditKey: c.AuditKey, Publisher: publisher,
		HSM: keyserver.Verified(hsm), Limits: c.Limits, BootstrapAdmins: c.BootstrapAdmins,
		IssuerAliases: oidc.Aliases(c.Issuers), CacheTTL: c.CacheTTL, Now: m.Now, Log: m.Log,
		PublicURL: c.PublicURL, Retention: c.Retention,
	}
	m.triggers.Upkeep = func(ctx context.Context) (string, error) {
		r, err := svc.Upkeep(ctx)
		return r.String(), err
	}
	return &api.Server{
		Service: svc, Verifier: verifier, Log: m.Log, UI: ui,
		Health: map[string]keyserver.HealthChecker{"tables": store, "oidc": verifier, "hsm": hsm},
	}, nil
}
