// Package audittest is a software audit key for tests: a signer, the HSM
// backend that opens it under any name, and its certificate. The HSM's own
// signer is tested through the keyvault adapter and the HSM fake.
package audittest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"keyserver/internal/keyserver"
)

// Key is an EC P-256 key in memory, with versions as Key Vault keeps
// them: Rotate adds one, and the key signs with its latest.
type Key struct {
	mu       sync.Mutex
	versions []*ecdsa.PrivateKey
	disabled map[int]bool // version numbers that cannot be opened
}

// NewKey makes a key and a self-signed certificate for it.
func NewKey(tb testing.TB) (*Key, *x509.Certificate) {
	tb.Helper()
	k := &Key{}
	k.Rotate(tb)
	pk := k.versions[0]
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "keyserver audit (test)"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &pk.PublicKey, pk)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return k, cert
}

// Rotate adds a version, which becomes the one the key signs with.
func (k *Key) Rotate(tb testing.TB) {
	pk, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	k.versions = append(k.versions, pk)
}

var versionSuffix = regexp.MustCompile(`/v([0-9]+)$`)

// SetEnabled enables or disables version n (from 1), as Key Vault can.
func (k *Key) SetEnabled(n int, enabled bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.disabled == nil {
		k.disabled = map[int]bool{}
	}
	k.disabled[n] = !enabled
}

// version returns the version ref names ("<anything>/v<n>"), else the latest.
func (k *Key) version(ref string) (*ecdsa.PrivateKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	m := versionSuffix.FindStringSubmatch(ref)
	if m == nil {
		return k.versions[len(k.versions)-1], nil
	}
	n, err := strconv.Atoi(m[1])
	if err != nil || n < 1 || n > len(k.versions) {
		return nil, keyserver.Errorf(keyserver.ENOTFOUND, "The HSM key version %q was not found.", ref)
	}
	if k.disabled[n] {
		return nil, keyserver.Errorf(keyserver.EINVALID, "The HSM key is disabled.")
	}
	return k.versions[n-1], nil
}

// Pin names the latest version, as a keyserver.KeyPinner.
func (k *Key) Pin(_ context.Context, ref string) (string, error) {
	if versionSuffix.MatchString(ref) {
		return ref, nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return ref + "/v" + strconv.Itoa(len(k.versions)), nil
}

// Open opens the version ref names, or the latest, under any name, as a
// keyserver.KeyBackend.
func (k *Key) Open(_ context.Context, ref string) (keyserver.ContextSigner, error) {
	v, err := k.version(ref)
	if err != nil {
		return nil, err
	}
	return version{v}, nil
}

// Public returns the latest version's public key.
func (k *Key) Public() crypto.PublicKey {
	v, _ := k.version("")
	return &v.PublicKey
}

// SignContext signs a digest with the latest version, ASN.1 DER.
func (k *Key) SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	v, _ := k.version("")
	return version{v}.SignContext(ctx, digest, opts)
}

type version struct{ k *ecdsa.PrivateKey }

func (v version) Public() crypto.PublicKey { return &v.k.PublicKey }

func (v version) SignContext(_ context.Context, digest []byte, _ crypto.SignerOpts) ([]byte, error) {
	return ecdsa.SignASN1(rand.Reader, v.k, digest)
}
