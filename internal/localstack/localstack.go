// Package localstack starts the whole Keyserver on one machine: Azurite, the
// SoftHSM-backed Key Vault fake, the dev auth server and the handler, with
// the tutorial's demo people, clients and keys. `make run` and the end-to-end tests use it.
package localstack

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"keyserver/internal/app"
	"keyserver/internal/azurite"
	"keyserver/internal/devauth"
	"keyserver/internal/devauth/ciauth"
	"keyserver/internal/hsmfake"
)

// Options choose where the stack keeps its state and which ports it uses;
// a zero port picks a free one.
type Options struct {
	Dir           string
	HandlerBinary string // empty runs the handler in this process
	HandlerPort   int
	AuthPort      int
	HSMPort       int
	AzuritePort   int
	Flavour       string
	SignTimeout   time.Duration
	Log           *slog.Logger
	// HandlerOutput receives a handler process's logs; default os.Stdout.
	HandlerOutput io.Writer
	// Now replaces the in-process handler's clock, for expiry tests.
	Now func() time.Time
	// UpkeepInterval is how often the stand-in for the timer invokes the
	// upkeep function; default 5s, negative never.
	UpkeepInterval time.Duration
	// PersonTokenLifetime is the lifetime of the tokens people get by
	// signing in; default one hour. Tests shorten it to expire a session.
	PersonTokenLifetime time.Duration
	// TableEndpoint, when set, is the table service URL (account included)
	// the handler uses instead of Azurite's own, e.g. a proxy in front of it.
	TableEndpoint string
	// HandlerSettings replace or add to the handler process's settings
	// (and those of the processes StartHandler adds), e.g. GOMAXPROCS.
	HandlerSettings map[string]string
}

// Audience is the audience of the dev auth server's tokens and the Keyserver's trusted issuer.
const Audience = "api://keyserver-local"

// UIClientID is the web UI's client id at the dev auth server.
const UIClientID = devauth.DefaultUIClientID

// IdentityHeaderFile is where, below the state directory, the stack writes the
// managed identity endpoint's IDENTITY_HEADER value, which is new at each
// start; `func start` users copy it into their local.settings.json.
const IdentityHeaderFile = "devauth/identity-header"

// UIRedirectURIs are the redirect URIs the stack registers for the web UI
// client: the handler's root under both loopback names.
func UIRedirectURIs(handlerPort int) []string {
	p := strconv.Itoa(handlerPort)
	return []string{"http://localhost:" + p + "/", "http://127.0.0.1:" + p + "/"}
}

// Stack is a running local Keyserver.
type Stack struct {
	HandlerURL string
	AuthURL    string
	HSMURL     string
	CAFile     string
	Azurite    *azurite.Server
	HSM        *hsmfake.Server
	Auth       *devauth.Server
	// CI stands in for GitHub Actions' and GitLab's token services, below AuthURL.
	CI *ciauth.Server
	// IdentityHeaderFile holds this start's IDENTITY_HEADER value.
	IdentityHeaderFile string

	log         *slog.Logger
	handlerPort int
	env         map[string]string // the handler's app settings
	now         func() time.Time
	servers     []*http.Server
	handler     *app.Main
	proc        *exec.Cmd
	procErr     chan error
	extra       []*extraHandler
	timer       *timer
}

// Start brings the stack up and seeds the demo subjects and keys; a state
// directory from an earlier run is reused as it is.
func Start(ctx context.Context, o Options) (_ *Stack, err error) {
	if o.Log == nil {
		o.Log = slog.New(slog.NewJSONHandler(os.Stderr, nil))
	}
	if o.SignTimeout == 0 {
		o.SignTimeout = 10 * time.Second
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	st := &Stack{log: o.Log}
	for _, sub := range []string{"azurite", "devauth", "hsm"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("creating the state directory: %w", err)
		}
	}
	defer func() {
		if err != nil {
			st.Close()
		}
	}()
	if st.Azurite, err = azurite.StartOnPort(ctx, filepath.Join(dir, "azurite"), o.AzuritePort); err != nil {
		return nil, fmt.Errorf("starting Azurite: %w", err)
	}
	handlerPort := o.HandlerPort
	if handlerPort == 0 {
		if handlerPort, err = freePort(); err != nil {
			return nil, err
		}
	}
	if err := st.startAuth(dir, handlerPort, o); err != nil {
		return nil, err
	}

	hsmLn, err := listen(o.HSMPort)
	if err != nil {
		return nil, err
	}
	st.HSMURL = "https://localhost:" + port(hsmLn)
	st.HSM, err = hsmfake.New(ctx, hsmfake.Config{StateDir: filepath.Join(dir, "hsm"), Flavour: o.Flavour, BaseURL: st.HSMURL, Logger: o.Log})
	if err != nil {
		return nil, fmt.Errorf("starting the HSM fake: %w", err)
	}
	st.CAFile = st.HSM.CAPath()
	st.serve(hsmLn, st.HSM.Handler(), st.HSM.TLSConfig())
	for _, k := range DemoKeys {
		if _, _, err := st.HSM.EnsureKey(ctx, k.Spec); err != nil {
			return nil, fmt.Errorf("creating HSM key %s: %w", k.KeyID, err)
		}
	}
	if _, _, err := st.HSM.EnsureKey(ctx, AuditKeySpec); err != nil {
		return nil, fmt.Errorf("creating the audit key: %w", err)
	}

	st.handlerPort = handlerPort
	st.HandlerURL = "http://localhost:" + strconv.Itoa(handlerPort)
	tables := st.Azurite.ConnectionString()
	if o.TableEndpoint != "" {
		tables = fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;TableEndpoint=%s;", azurite.AccountName, azurite.AccountKey, o.TableEndpoint)
	}
	env := st.handlerEnv(handlerPort, tables, st.Auth.IdentityHeader(), o.SignTimeout)
	maps.Copy(env, o.HandlerSettings)
	st.env, st.now = env, o.Now
	if o.HandlerOutput == nil {
		o.HandlerOutput = os.Stdout
	}
	if err := st.startHandler(ctx, o, env); err != nil {
		return nil, err
	}
	if err := st.waitHealthy(ctx); err != nil {
		return nil, err
	}
	if err := st.seed(ctx); err != nil {
		return nil, fmt.Errorf("registering the demo subjects and keys: %w", err)
	}
	st.timer = startTimer(st.HandlerURL, o.UpkeepInterval, o.Log)
	return st, nil
}

// startAuth starts the dev auth server with the UI client's redirect URIs on
// the handler's port, and writes its managed identity header for `func start`.
func (st *Stack) startAuth(dir string, handlerPort int, o Options) error {
	authLn, err := listen(o.AuthPort)
	if err != nil {
		return err
	}
	st.AuthURL = "http://localhost:" + port(authLn)
	st.Auth, err = devauth.New(devauth.Config{
		Issuer: st.AuthURL, Audience: Audience, ManagedIdentity: true,
		KeyFile:      filepath.Join(dir, "devauth", "signing-key.pem"),
		RedirectURIs: UIRedirectURIs(handlerPort), PersonTokenLifetime: o.PersonTokenLifetime, Logger: o.Log,
	})
	if err != nil {
		authLn.Close()
		return fmt.Errorf("starting the dev auth server: %w", err)
	}
	st.IdentityHeaderFile = filepath.Join(dir, filepath.FromSlash(IdentityHeaderFile))
	if err := devauth.WriteSecretFile(st.IdentityHeaderFile, st.Auth.IdentityHeader()); err != nil {
		authLn.Close()
		return err
	}
	if st.CI, err = ciauth.New(st.AuthURL, 0, nil); err != nil {
		authLn.Close()
		return fmt.Errorf("starting the CI platform stand-ins: %w", err)
	}
	st.serve(authLn, st.authHandler(), nil)
	return nil
}

// handlerEnv is the handler's app settings: those app.Settings marks Local.
func (st *Stack) handlerEnv(port int, tables, identityHeader string, signTimeout time.Duration) map[string]string {
	return map[string]string{
		"FUNCTIONS_CUSTOMHANDLER_PORT":          strconv.Itoa(port),
		"KEYSERVER_TABLES_CONNECTION_STRING":    tables,
		"KEYSERVER_TRUSTED_ISSUERS":             st.trustedIssuers(),
		"KEYSERVER_ALLOW_LOOPBACK_HTTP_ISSUERS": "true",
		"KEYSERVER_BOOTSTRAP_ADMINS":            fmt.Sprintf(`[{"issuer":%q,"subject":"adminclient"}]`, st.AuthURL),
		"KEYSERVER_KEYVAULT_CREDENTIAL":         "managedidentity",
		"KEYSERVER_KEYVAULT_CA_FILE":            st.CAFile,
		"KEYSERVER_SIGN_TIMEOUT":                signTimeout.String(),
		"KEYSERVER_AUDIT_KEY":                   st.HSMURL + "/keys/" + AuditKeySpec.Name,
		"IDENTITY_ENDPOINT":                     st.AuthURL + "/msi/token",
		"IDENTITY_HEADER":                       identityHeader,
		"KEYSERVER_UI_ISSUER":                   st.AuthURL,
		"KEYSERVER_UI_CLIENT_ID":                UIClientID,
		"KEYSERVER_UI_SCOPE":                    "openid profile",
		"KEYSERVER_PUBLIC_URL":                  st.HandlerURL,
		// Events are delivered in the handler's process (no namespace); a
		// webhook from the local stack's own environment gets them too.
		"KEYSERVER_LOCAL_WEBHOOK_URL":    os.Getenv("KEYSERVER_LOCAL_WEBHOOK_URL"),
		"KEYSERVER_LOCAL_WEBHOOK_SECRET": os.Getenv("KEYSERVER_LOCAL_WEBHOOK_SECRET"),
	}
}

// startHandler runs the handler binary with env, as the Functions host would,
// or in this process when binary is empty.
func (st *Stack) startHandler(ctx context.Context, o Options, env map[string]string) error {
	if o.HandlerBinary == "" {
		for k, v := range env {
			if err := os.Setenv(k, v); err != nil {
				return err
			}
		}
		cfg, err := app.ConfigFromEnv(func(k string) string { return env[k] })
		if err != nil {
			return err
		}
		st.handler = &app.Main{Config: cfg, Log: st.log, Now: o.Now, Console: o.HandlerOutput}
		return st.handler.Open(ctx)
	}
	cmd, err := startProcess(o.HandlerBinary, env, o.HandlerOutput)
	if err != nil {
		return err
	}
	st.proc = cmd
	st.procErr = make(chan error, 1)
	go func() { st.procErr <- cmd.Wait() }()
	return nil
}

// AnotherHandler starts one more in-process handler on the stack's services,
// as a second Functions instance would, and returns its URL; the caller
// closes it.
func (st *Stack) AnotherHandler(ctx context.Context) (*app.Main, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	env := maps.Clone(st.env)
	env["FUNCTIONS_CUSTOMHANDLER_PORT"] = strconv.Itoa(port)
	cfg, err := app.ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		return nil, "", err
	}
	m := &app.Main{Config: cfg, Log: st.log, Now: st.now}
	if err := m.Open(ctx); err != nil {
		return nil, "", err
	}
	return m, "http://localhost:" + strconv.Itoa(port), nil
}

// Done is closed when a handler process exits; nil when in process.
func (st *Stack) Done() <-chan error { return st.procErr }

// Close stops everything the stack started.
func (st *Stack) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var errs []error
	for _, h := range st.extra {
		h.stop()
	}
	st.timer.stop()
	if st.proc != nil && st.proc.Process != nil {
		stopProcess(st.proc.Process.Pid, st.procErr)
	}
	if st.handler != nil {
		errs = append(errs, st.handler.Close(ctx))
	}
	for _, s := range st.servers {
		errs = append(errs, s.Shutdown(ctx))
	}
	if st.HSM != nil {
		errs = append(errs, st.HSM.Close())
	}
	if st.Azurite != nil {
		errs = append(errs, st.Azurite.Stop())
	}
	return errors.Join(errs...)
}

func (st *Stack) serve(ln net.Listener, h http.Handler, tlsCfg *tls.Config) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, TLSConfig: tlsCfg}
	st.servers = append(st.servers, srv)
	go func() {
		var err error
		if tlsCfg != nil {
			err = srv.ServeTLS(ln, "", "")
		} else {
			err = srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			st.log.Error("serving", "addr", ln.Addr().String(), "err", err)
		}
	}()
}

func listen(p int) (net.Listener, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		return nil, fmt.Errorf("listening on 127.0.0.1:%d: %w", p, err)
	}
	return ln, nil
}

func port(ln net.Listener) string { return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port) }

func freePort() (int, error) {
	ln, err := listen(0)
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
