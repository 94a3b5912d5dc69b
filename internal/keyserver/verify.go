package keyserver

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"errors"
)

// Verified wraps a key backend so that every signature is checked against
// the public key of the key version that made it before it is returned: a bad
// signature is never handed out.
func Verified(b KeyBackend) KeyBackend { return verifiedBackend{b} }

type verifiedBackend struct{ KeyBackend }

func (v verifiedBackend) Open(ctx context.Context, hsmKey string) (ContextSigner, error) {
	s, err := v.KeyBackend.Open(ctx, hsmKey)
	if err != nil {
		return nil, err
	}
	return verifiedSigner{s}, nil
}

// Pin passes KeyPinner through; a backend without versions keeps hsmKey.
func (v verifiedBackend) Pin(ctx context.Context, hsmKey string) (string, error) {
	if p, ok := v.KeyBackend.(KeyPinner); ok {
		return p.Pin(ctx, hsmKey)
	}
	return hsmKey, nil
}

type verifiedSigner struct{ ContextSigner }

// SignAttributed signs and verifies the signature against the public key of
// the version that made it.
func (v verifiedSigner) SignAttributed(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, crypto.PublicKey, error) {
	sig, by, err := signAttributed(ctx, v.ContextSigner, digest, opts)
	if err != nil {
		return nil, nil, err
	}
	if err := VerifySignature(by, digest, sig, opts); err != nil {
		return nil, nil, Wrap(EUNAVAILABLE, err, "The HSM returned a signature that does not verify; no signature was issued.")
	}
	return sig, by, nil
}

// SignContext returns only a signature made by the key Public returns.
func (v verifiedSigner) SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	sig, by, err := v.SignAttributed(ctx, digest, opts)
	if err != nil {
		return nil, err
	}
	if !samePublicKey(by, v.Public()) {
		return nil, Errorf(EUNAVAILABLE, "The HSM signed with another version of the key than the one opened; no signature was issued.")
	}
	return sig, nil
}

// signAttributed signs with s and names the public key that made the
// signature: the version the HSM names when s can say, else s's own.
func signAttributed(ctx context.Context, s ContextSigner, digest []byte, opts crypto.SignerOpts) ([]byte, crypto.PublicKey, error) {
	if a, ok := s.(AttributedSigner); ok {
		return a.SignAttributed(ctx, digest, opts)
	}
	sig, err := s.SignContext(ctx, digest, opts)
	return sig, s.Public(), err
}

func samePublicKey(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}

// VerifySignature checks sig over digest with pub; ECDSA signatures are ASN.1 DER.
func VerifySignature(pub crypto.PublicKey, digest, sig []byte, opts crypto.SignerOpts) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if pss, ok := opts.(*rsa.PSSOptions); ok {
			return rsa.VerifyPSS(k, pss.Hash, digest, sig, pss)
		}
		return rsa.VerifyPKCS1v15(k, opts.HashFunc(), digest, sig)
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, digest, sig) {
			return errors.New("ECDSA signature does not verify")
		}
		return nil
	}
	return errors.New("unsupported public key type")
}
