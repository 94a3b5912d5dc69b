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
	"testing"
	"time"

	"keyserver/internal/keyserver"
)

// Key is an EC P-256 key in memory.
type Key struct{ k *ecdsa.PrivateKey }

// NewKey makes a key and a self-signed certificate for it.
func NewKey(tb testing.TB) (*Key, *x509.Certificate) {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "keyserver audit (test)"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return &Key{k}, cert
}

// Open opens the key under any name, as a keyserver.KeyBackend.
func (k *Key) Open(context.Context, string) (keyserver.ContextSigner, error) { return k, nil }

// Public returns the public key.
func (k *Key) Public() crypto.PublicKey { return &k.k.PublicKey }

// SignContext signs a digest, ASN.1 DER.
func (k *Key) SignContext(_ context.Context, digest []byte, _ crypto.SignerOpts) ([]byte, error) {
	return ecdsa.SignASN1(rand.Reader, k.k, digest)
}
