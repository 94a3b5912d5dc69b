// Package memhsm is an in-memory KeyBackend for tests of the domain and of the
// HTTP handlers: its keys are real Go keys. It can be told to fail every
// signature, to corrupt the signatures it makes, or to run a hook inside each
// one, and it counts the signatures asked of it. Options the Key Vault adapter
// could not honour fail loudly, with an internal error.
package memhsm

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"slices"
	"sync"

	"keyserver/internal/keyserver"
)

// HSM is a KeyBackend over Go keys, by name. The zero value is empty.
type HSM struct {
	mu      sync.Mutex
	keys    map[string]crypto.Signer
	failErr error
	corrupt bool
	signs   int
	during  func()
}

var _ keyserver.KeyBackend = (*HSM)(nil)

// New returns an HSM holding the TestKeys under their names.
func New() *HSM {
	h := &HSM{}
	for name, k := range TestKeys() {
		h.Add(name, k)
	}
	return h
}

// Add holds k under name.
func (h *HSM) Add(name string, k crypto.Signer) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.keys == nil {
		h.keys = map[string]crypto.Signer{}
	}
	h.keys[name] = k
}

// Set makes every signature fail with failErr (nil: none), or come back corrupted.
func (h *HSM) Set(failErr error, corrupt bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failErr, h.corrupt = failErr, corrupt
}

// During runs f inside every signature, e.g. to move a clock; nil stops it.
func (h *HSM) During(f func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.during = f
}

// SignCount is the number of signatures asked so far.
func (h *HSM) SignCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.signs
}

// Open returns the key held under hsmKey, or ENOTFOUND.
func (h *HSM) Open(ctx context.Context, hsmKey string) (keyserver.ContextSigner, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	k, ok := h.keys[hsmKey]
	if !ok {
		return nil, keyserver.Errorf(keyserver.ENOTFOUND, "The HSM key was not found.")
	}
	return signer{h, k}, nil
}

type signer struct {
	h *HSM
	k crypto.Signer
}

func (s signer) Public() crypto.PublicKey { return s.k.Public() }

// SignContext signs like crypto.Signer (ECDSA as ASN.1 DER).
func (s signer) SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	s.h.mu.Lock()
	s.h.signs++
	failErr, corrupt, during := s.h.failErr, s.h.corrupt, s.h.during
	s.h.mu.Unlock()
	if during != nil {
		during()
	}
	if failErr != nil {
		return nil, failErr
	}
	switch o := opts.(type) {
	case crypto.Hash:
	case *rsa.PSSOptions:
		if _, ok := s.k.(*rsa.PrivateKey); !ok || o.SaltLength != rsa.PSSSaltLengthEqualsHash {
			return nil, keyserver.Errorf(keyserver.EINTERNAL, "memhsm: PSS needs an RSA key and a salt as long as the hash")
		}
	default:
		return nil, keyserver.Errorf(keyserver.EINTERNAL, "memhsm: options %T not supported", opts)
	}
	h := opts.HashFunc()
	if h != crypto.SHA256 && h != crypto.SHA384 && h != crypto.SHA512 || len(digest) != h.Size() {
		return nil, keyserver.Errorf(keyserver.EINTERNAL, "memhsm: a %d-byte digest under %v", len(digest), h)
	}
	sig, err := s.k.Sign(rand.Reader, digest, opts)
	if err != nil {
		return nil, keyserver.Errorf(keyserver.EINTERNAL, "memhsm: %v", err)
	}
	if corrupt {
		sig = slices.Clone(sig)
		sig[len(sig)-1] ^= 0x01
	}
	return sig, nil
}

// TestKeys are "rsa2048", "p256", "p384" and "p521", generated once per
// test binary: RSA is slow.
var TestKeys = sync.OnceValue(func() map[string]crypto.Signer {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	keys := map[string]crypto.Signer{"rsa2048": rk}
	for name, c := range map[string]elliptic.Curve{"p256": elliptic.P256(), "p384": elliptic.P384(), "p521": elliptic.P521()} {
		ek, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			panic(err)
		}
		keys[name] = ek
	}
	return keys
})
