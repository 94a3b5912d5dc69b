// Package keyvault adapts Azure Key Vault and Managed HSM keys (azkeys) to
// the Keyserver's KeyBackend: it opens keys by URL and signs digests with
// them. It does not verify signatures; the domain does.
package keyvault

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"keyserver/internal/keyserver"
)

// Config configures a Backend. Zero values take the defaults.
type Config struct {
	Credential azcore.TokenCredential
	// ExtraRootCAs (PEM) are trusted besides the system roots; local fake only.
	ExtraRootCAs []byte
	// SignTimeout is the overall deadline of one Open or signature, retries included. Default 10s.
	SignTimeout time.Duration
	// MaxRetries bounds retries of throttled, failed or timed-out tries. Default 3; negative means none.
	MaxRetries int
	// RetryDelay is the first backoff when no Retry-After is given. Default 250ms.
	RetryDelay time.Duration
	// MaxRetryDelay caps the backoff; a longer Retry-After ends the call. Default SignTimeout/2.
	MaxRetryDelay time.Duration
	// Transport replaces the shared HTTP client (ExtraRootCAs is then unused); for tests.
	Transport policy.Transporter
}

// Backend opens Key Vault and Managed HSM keys. It is safe for concurrent use.
type Backend struct {
	cred      azcore.TokenCredential
	transport policy.Transporter
	timeout   time.Duration
	retry     policy.RetryOptions
	// loopbackOK admits the local fake's loopback URLs: only when a local CA
	// or a test transport is configured, never in a plain Azure deployment.
	loopbackOK bool

	mu      sync.Mutex
	clients map[string]*azkeys.Client // by vault URL
	keys    map[string]*signer        // by hsmKey
}

var (
	_ keyserver.KeyBackend = (*Backend)(nil)
	_ keyserver.KeyPinner  = (*Backend)(nil)
)

// New builds a Backend with one shared HTTP client for all vaults.
func New(cfg Config) (*Backend, error) {
	if cfg.Credential == nil {
		return nil, errors.New("keyvault: a credential is required")
	}
	if cfg.SignTimeout <= 0 {
		cfg.SignTimeout = 10 * time.Second
	}
	switch {
	case cfg.MaxRetries == 0:
		cfg.MaxRetries = 3
	case cfg.MaxRetries < 0:
		cfg.MaxRetries = -1 // azcore: no retries
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = 250 * time.Millisecond
	}
	if cfg.MaxRetryDelay <= 0 {
		cfg.MaxRetryDelay = cfg.SignTimeout / 2
	}
	transport := cfg.Transport
	if transport == nil {
		c, err := newHTTPClient(cfg.ExtraRootCAs)
		if err != nil {
			return nil, err
		}
		transport = c
	}
	return &Backend{
		cred:       cfg.Credential,
		transport:  transport,
		timeout:    cfg.SignTimeout,
		loopbackOK: len(cfg.ExtraRootCAs) > 0 || cfg.Transport != nil,
		retry: policy.RetryOptions{
			MaxRetries:    int32(cfg.MaxRetries),
			RetryDelay:    cfg.RetryDelay,
			MaxRetryDelay: cfg.MaxRetryDelay,
			// a hung try leaves time for another under the overall deadline
			TryTimeout: cfg.SignTimeout / 2,
		},
		clients: map[string]*azkeys.Client{},
		keys:    map[string]*signer{},
	}, nil
}

// newHTTPClient keeps connections alive for many concurrent signers and
// trusts extraPEM besides the system roots.
func newHTTPClient(extraPEM []byte) (*http.Client, error) {
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if len(extraPEM) > 0 && !pool.AppendCertsFromPEM(extraPEM) {
		return nil, errors.New("keyvault: ExtraRootCAs holds no PEM certificate")
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	// HTTP/1.1 with keep-alive: one signature is one small request and
	// answer, for which HTTP/2's framing costs the handler more CPU.
	t.ForceAttemptHTTP2 = false
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 64
	t.IdleConnTimeout = 90 * time.Second
	return &http.Client{
		Transport: inMemoryBody{t},
		// a bearer token is never sent on to another location
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

// client returns the cached client of a vault, making it on first use.
func (b *Backend) client(ref keyRef) (*azkeys.Client, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c, ok := b.clients[ref.vaultURL]; ok {
		return c, nil
	}
	c, err := azkeys.NewClient(ref.vaultURL, b.cred, &azkeys.ClientOptions{
		ClientOptions: azcore.ClientOptions{
			Transport:        b.transport,
			Retry:            b.retry,
			PerRetryPolicies: []policy.Policy{recordStatusPolicy{}},
		},
		// the local fake's challenge names https://vault.azure.net
		DisableChallengeResourceVerification: ref.loopback,
	})
	if err != nil {
		return nil, fmt.Errorf("creating Key Vault client for %s: %w", ref.vaultURL, err)
	}
	b.clients[ref.vaultURL] = c
	return c, nil
}

// Open returns a signer for hsmKey. The first Open of a key reads its
// public key and version from the HSM; later ones do no I/O. A versioned
// hsmKey signs with that version, whose key never changes. A versionless one
// signs with the HSM's current version, and its signatures name the version
// that made them (SignAttributed).
func (b *Backend) Open(ctx context.Context, hsmKey string) (keyserver.ContextSigner, error) {
	return b.open(ctx, hsmKey)
}

// Pin reads hsmKey's current version from the HSM (a versioned hsmKey keeps
// its version) and returns the reference of that version.
func (b *Backend) Pin(ctx context.Context, hsmKey string) (string, error) {
	ref, c, err := b.resolve(hsmKey)
	if err != nil {
		return "", err
	}
	s, err := b.fetch(ctx, c, ref, hsmKey)
	if err != nil {
		return "", err
	}
	return s.pinned(), nil
}

func (b *Backend) open(ctx context.Context, hsmKey string) (*signer, error) {
	b.mu.Lock()
	s, ok := b.keys[hsmKey]
	b.mu.Unlock()
	if ok {
		return s, nil
	}
	ref, c, err := b.resolve(hsmKey)
	if err != nil {
		return nil, err
	}
	s, err = b.fetch(ctx, c, ref, hsmKey)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if prev, ok := b.keys[hsmKey]; ok {
		return prev, nil // a concurrent Open got there first
	}
	b.keys[hsmKey] = s
	return s, nil
}

// resolve parses hsmKey and returns the client of its vault.
func (b *Backend) resolve(hsmKey string) (keyRef, *azkeys.Client, error) {
	ref, err := parseKeyURL(hsmKey)
	if err != nil {
		return ref, nil, err
	}
	if ref.loopback && !b.loopbackOK {
		return ref, nil, keyserver.Errorf(keyserver.EINVALID, "HSM key %q is on a loopback host, which is only allowed with a local HSM fake (KEYSERVER_KEYVAULT_CA_FILE).", hsmKey)
	}
	c, err := b.client(ref)
	return ref, c, err
}

func (b *Backend) fetch(ctx context.Context, c *azkeys.Client, ref keyRef, hsmKey string) (*signer, error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	ctx, rec := withRecorder(ctx)
	resp, err := c.GetKey(ctx, ref.name, ref.version, nil)
	if err != nil {
		return nil, classify(fmt.Errorf("reading HSM key %s: %w", hsmKey, err), rec.status())
	}
	if a := resp.Attributes; a != nil && a.Enabled != nil && !*a.Enabled {
		return nil, keyserver.Errorf(keyserver.EINVALID, "The HSM key is disabled.")
	}
	if resp.Key == nil {
		return nil, keyserver.Errorf(keyserver.EUNAVAILABLE, "The HSM returned no key.")
	}
	if ops := resp.Key.KeyOps; len(ops) > 0 && !allowsSign(ops) {
		return nil, keyserver.Errorf(keyserver.EINVALID, "The HSM key does not allow signing.")
	}
	pub, err := publicKey(resp.Key)
	if err != nil {
		return nil, err
	}
	version := ref.version
	if resp.Key.KID != nil && resp.Key.KID.Version() != "" {
		version = resp.Key.KID.Version()
	}
	if version == "" {
		return nil, keyserver.Errorf(keyserver.EUNAVAILABLE, "The HSM returned a key without a version.")
	}
	return newSigner(b, c, ref, hsmKey, version, pub)
}

// Health reads one opened key of every vault the backend has used, which
// checks that the HSM answers and still lets the Keyserver read its keys.
// Before any key was opened there is nothing to check.
func (b *Backend) Health(ctx context.Context) error {
	b.mu.Lock()
	probes := map[*azkeys.Client]*signer{}
	for _, s := range b.keys {
		if _, ok := probes[s.client]; !ok {
			probes[s.client] = s
		}
	}
	b.mu.Unlock()
	for _, s := range probes {
		ctx, rec := withRecorder(ctx)
		if _, err := s.client.GetKey(ctx, s.name, s.version, nil); err != nil {
			return classify(fmt.Errorf("checking HSM key %s: %w", s.hsmKey, err), rec.status())
		}
	}
	return nil
}

func allowsSign(ops []*azkeys.KeyOperation) bool {
	for _, op := range ops {
		if op != nil && *op == azkeys.KeyOperationSign {
			return true
		}
	}
	return false
}
