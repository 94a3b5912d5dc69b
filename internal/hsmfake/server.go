// Package hsmfake is a fake of the Azure Key Vault / Managed HSM keys REST
// API backed by SoftHSM2, for tests and local use only. Private keys are made
// and used inside a SoftHSM token and never leave it. The fake implements
// list, get, create, sign and verify; everything else fails loudly. It does
// not validate bearer tokens: any non-empty one is accepted.
package hsmfake

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Flavours choose the resource named in the authentication challenge.
const (
	FlavourVault      = "vault"
	FlavourManagedHSM = "managedhsm"

	// TenantID is the fixed tenant the challenge points at.
	TenantID = "6c1c2a8e-0f5d-4b7a-9a43-5e2f0d9b7c11"
)

// Config configures a Server.
type Config struct {
	StateDir   string // required: holds the token, softhsm2.conf and the TLS files
	Flavour    string // "vault" (default) or "managedhsm"
	ModulePath string // default DefaultModulePath
	// BaseURL is the vault URL used in kids made outside a request
	// (CreateKey, EnsureKey); default https://localhost:8443.
	BaseURL string
	Logger  *slog.Logger // default slog.Default()
}

// Server is the fake. Only one Server may be open per process at a time
// (SoftHSM reads one configuration per process).
type Server struct {
	cfg      Config
	log      *slog.Logger
	resource string
	tok      *token
	keys     *keyIndex
	faults   faultQueue
	cert     tls.Certificate
	caPEM    []byte
	done     chan struct{}
	closing  sync.Once
	createMu sync.Mutex
}

// New opens (or on first use creates) the state in cfg.StateDir.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.StateDir == "" {
		return nil, errors.New("hsmfake: Config.StateDir is required")
	}
	s := &Server{cfg: cfg, log: cfg.Logger, done: make(chan struct{})}
	switch cfg.Flavour {
	case "", FlavourVault:
		s.resource = "https://vault.azure.net"
	case FlavourManagedHSM:
		s.resource = "https://managedhsm.azure.net"
	default:
		return nil, fmt.Errorf("hsmfake: unknown flavour %q: use %q or %q", cfg.Flavour, FlavourVault, FlavourManagedHSM)
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.cfg.ModulePath == "" {
		s.cfg.ModulePath = DefaultModulePath
	}
	if s.cfg.BaseURL == "" {
		s.cfg.BaseURL = "https://localhost:8443"
	}
	dir, err := filepath.Abs(cfg.StateDir)
	if err != nil {
		return nil, fmt.Errorf("resolving state dir %s: %w", cfg.StateDir, err)
	}
	s.cfg.StateDir = dir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating state dir %s: %w", dir, err)
	}
	if s.cert, s.caPEM, err = loadOrCreateTLS(dir); err != nil {
		return nil, err
	}
	if s.tok, err = openToken(dir, s.cfg.ModulePath); err != nil {
		return nil, err
	}
	var all []*keyVersion
	err = s.tok.withSession(ctx, func(sh sessionHandle) error {
		var err error
		all, err = s.tok.loadAll(sh)
		return err
	})
	if err != nil {
		s.tok.shutDown()
		return nil, fmt.Errorf("loading keys from token: %w", err)
	}
	s.keys = newKeyIndex(all)
	s.log.Info("hsmfake: token open", "statedir", dir, "flavour", s.flavour(), "keys", len(s.keys.latest()))
	return s, nil
}

func (s *Server) flavour() string {
	if s.cfg.Flavour == "" {
		return FlavourVault
	}
	return s.cfg.Flavour
}

// Handler serves the keys REST API and the /_fault endpoint.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serve) }

// TLSConfig carries the server certificate for localhost, 127.0.0.1 and ::1.
func (s *Server) TLSConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{s.cert}, MinVersion: tls.VersionTLS12}
}

// CAPEM is the PEM of the CA that clients must trust (also StateDir/ca.pem).
func (s *Server) CAPEM() []byte { return append([]byte(nil), s.caPEM...) }

// CAPath is the file holding CAPEM.
func (s *Server) CAPath() string { return filepath.Join(s.cfg.StateDir, caFile) }

// CreateKey creates a new version of key name (RSA/RSA-HSM with size, or
// EC/EC-HSM with crv) and returns its kid under Config.BaseURL.
func (s *Server) CreateKey(ctx context.Context, name, kty string, size int, crv string) (string, error) {
	spec := KeySpec{Name: name, Kty: kty, Size: size, Crv: crv}
	if err := spec.normalise(); err != nil {
		return "", fmt.Errorf("creating key %s: %w", name, err)
	}
	k, err := s.createKey(ctx, spec)
	if err != nil {
		return "", err
	}
	return kidOf(s.cfg.BaseURL, k), nil
}

// RotateKey makes a new version of key name, of the same type and size or
// curve as its current one, as Key Vault's rotate does, and returns its kid.
func (s *Server) RotateKey(ctx context.Context, name string) (string, error) {
	k, err := s.rotateKey(ctx, name)
	if err != nil {
		return "", err
	}
	return kidOf(s.cfg.BaseURL, k), nil
}

func (s *Server) rotateKey(ctx context.Context, name string) (*keyVersion, error) {
	s.createMu.Lock()
	defer s.createMu.Unlock()
	cur, err := s.lookup(name, "")
	if err != nil {
		return nil, err
	}
	return s.createKey(ctx, cur.spec())
}

// EnsureKey creates spec's key unless a key of that name exists, and returns
// the kid of its latest version.
func (s *Server) EnsureKey(ctx context.Context, spec KeySpec) (kid string, created bool, err error) {
	s.createMu.Lock()
	defer s.createMu.Unlock()
	if k := s.keys.lookup(spec.Name, ""); k != nil {
		return kidOf(s.cfg.BaseURL, k), false, nil
	}
	if err := spec.normalise(); err != nil {
		return "", false, fmt.Errorf("creating key %s: %w", spec.Name, err)
	}
	k, err := s.createKey(ctx, spec)
	if err != nil {
		return "", false, err
	}
	return kidOf(s.cfg.BaseURL, k), true, nil
}

func (s *Server) createKey(ctx context.Context, spec KeySpec) (*keyVersion, error) {
	created := time.Now()
	id, err := newVersionID(created, spec.Kty == "RSA-HSM" || spec.Kty == "EC-HSM")
	if err != nil {
		return nil, err
	}
	k, _ := parseVersion(spec.Name, id)
	err = s.tok.withSession(ctx, func(sh sessionHandle) error {
		var err error
		k.priv, k.pub, err = s.tok.generate(sh, spec, id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("creating key %s: %w", spec.Name, err)
	}
	s.keys.add(k)
	s.log.Info("hsmfake: key created", "name", k.name, "version", k.version, "kty", k.kty())
	return k, nil
}

// SignDirect signs digest with the latest version of key name straight over
// PKCS#11, without HTTP (for benchmarks of the raw SoftHSM rate).
func (s *Server) SignDirect(ctx context.Context, name, alg string, digest []byte) ([]byte, error) {
	k := s.keys.lookup(name, "")
	if k == nil {
		return nil, fmt.Errorf("signing with key %s: %w", name, keyNotFound(name, ""))
	}
	a, err := checkAlg(k, alg, digest)
	if err != nil {
		return nil, fmt.Errorf("signing with key %s: %w", name, err)
	}
	return s.sign(ctx, k, a, digest)
}

func (s *Server) sign(ctx context.Context, k *keyVersion, a sigAlg, digest []byte) ([]byte, error) {
	mech, data, err := a.mechanism(digest)
	if err != nil {
		return nil, err
	}
	var sig []byte
	err = s.tok.withSession(ctx, func(sh sessionHandle) error {
		var err error
		sig, err = s.tok.sign(sh, k.priv, mech, data)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("signing with key %s/%s: %w", k.name, k.version, err)
	}
	if ec, ok := k.pub.(*ecdsa.PublicKey); ok && len(sig) != 2*((ec.Curve.Params().BitSize+7)/8) {
		return nil, fmt.Errorf("signing with key %s/%s: token returned %d bytes, not raw r||s", k.name, k.version, len(sig))
	}
	return sig, nil
}

// Close unblocks hanging requests, waits for PKCS#11 work in flight and
// finalises the module, so that another Server may open.
func (s *Server) Close() error {
	var err error
	s.closing.Do(func() {
		close(s.done)
		err = s.tok.shutDown()
	})
	return err
}
