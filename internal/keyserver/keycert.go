package keyserver

import (
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"sync"
)

// certKeys remembers the public key of each registered key's certificate,
// so that the sign path parses a certificate once, not per signature.
type certKeys struct {
	mu sync.Mutex
	m  map[string]certKey // by key id
}

type certKey struct {
	pem string
	pub crypto.PublicKey
}

// check refuses a signature for k that by did not make with the key k's
// certificate carries (or, for a key without one, the key opened): the HSM
// key got a new version since k was registered without a pinned version.
func (c *certKeys) check(k *Key, by, opened crypto.PublicKey) error {
	want := opened
	if k.Certificate != "" {
		pub, err := c.get(k)
		if err != nil {
			return err
		}
		want = pub
	}
	if !samePublicKey(by, want) {
		return Errorf(ECONFLICT, "Key %q is signed by a version of its HSM key that its certificate does not carry: the HSM key has a new version. An admin must register the key again (PUT /api/admin/keys/%s), which pins the HSM key's current version.", k.KeyID, k.KeyID)
	}
	return nil
}

func (c *certKeys) get(k *Key) (crypto.PublicKey, error) {
	c.mu.Lock()
	e, ok := c.m[k.KeyID]
	c.mu.Unlock()
	if ok && e.pem == k.Certificate {
		return e.pub, nil
	}
	block, _ := pem.Decode([]byte(k.Certificate))
	if block == nil {
		return nil, Errorf(EINTERNAL, "The certificate of key %q is not PEM.", k.KeyID)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, Wrap(EINTERNAL, err, "The certificate of key %q cannot be parsed.", k.KeyID)
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]certKey{}
	}
	c.m[k.KeyID] = certKey{pem: k.Certificate, pub: cert.PublicKey}
	c.mu.Unlock()
	return cert.PublicKey, nil
}

func (c *certKeys) forget(keyID string) {
	c.mu.Lock()
	delete(c.m, keyID)
	c.mu.Unlock()
}
