package keyserver_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"slices"
	"sync"
	"testing"

	"keyserver/internal/keyserver"
)

// fakeHSM is a KeyBackend whose keys are real Go keys. It can be told to
// fail every signature with a given error or to corrupt the signatures it
// makes; it counts the signatures asked of it.
type fakeHSM struct {
	mu      sync.Mutex
	keys    map[string]crypto.Signer
	failErr error
	corrupt bool
	signs   int
	// during runs inside every signature, e.g. to move the clock.
	during func()
}

func (h *fakeHSM) add(name string, k crypto.Signer) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.keys == nil {
		h.keys = map[string]crypto.Signer{}
	}
	h.keys[name] = k
}

func (h *fakeHSM) set(failErr error, corrupt bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failErr, h.corrupt = failErr, corrupt
}

func (h *fakeHSM) signCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.signs
}

func (h *fakeHSM) Open(ctx context.Context, hsmKey string) (keyserver.ContextSigner, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	k, ok := h.keys[hsmKey]
	if !ok {
		return nil, keyserver.Errorf(keyserver.ENOTFOUND, "The HSM key was not found.")
	}
	return fakeSigner{h, k}, nil
}

type fakeSigner struct {
	h *fakeHSM
	k crypto.Signer
}

func (s fakeSigner) Public() crypto.PublicKey { return s.k.Public() }

// SignContext signs like crypto.Signer (ECDSA as ASN.1 DER). Options the
// Key Vault adapter could not honour fail loudly.
func (s fakeSigner) SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
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
			return nil, keyserver.Errorf(keyserver.EINTERNAL, "fake HSM: PSS needs an RSA key and a salt as long as the hash")
		}
	default:
		return nil, keyserver.Errorf(keyserver.EINTERNAL, "fake HSM: options %T not supported", opts)
	}
	h := opts.HashFunc()
	if h != crypto.SHA256 && h != crypto.SHA384 && h != crypto.SHA512 || len(digest) != h.Size() {
		return nil, keyserver.Errorf(keyserver.EINTERNAL, "fake HSM: a %d-byte digest under %v", len(digest), h)
	}
	sig, err := s.k.Sign(rand.Reader, digest, opts)
	if err != nil {
		return nil, keyserver.Errorf(keyserver.EINTERNAL, "fake HSM: %v", err)
	}
	if corrupt {
		sig = slices.Clone(sig)
		sig[len(sig)-1] ^= 0x01
	}
	return sig, nil
}

// testKeys are generated once per test binary: RSA is slow.
var testKeys = sync.OnceValue(func() map[string]crypto.Signer {
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

func mustTestKey(tb testing.TB, name string) crypto.Signer {
	tb.Helper()
	k, ok := testKeys()[name]
	if !ok {
		tb.Fatalf("no test key %q", name)
	}
	return k
}
