package keyserver

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"errors"
)

// Verified wraps a key backend so that every signature is checked against
// the key's public key before it is returned: a bad signature is never handed out.
func Verified(b KeyBackend) KeyBackend { return verifiedBackend{b} }

type verifiedBackend struct{ KeyBackend }

func (v verifiedBackend) Open(ctx context.Context, hsmKey string) (ContextSigner, error) {
	s, err := v.KeyBackend.Open(ctx, hsmKey)
	if err != nil {
		return nil, err
	}
	return verifiedSigner{s}, nil
}

type verifiedSigner struct{ ContextSigner }

func (v verifiedSigner) SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	sig, err := v.ContextSigner.SignContext(ctx, digest, opts)
	if err != nil {
		return nil, err
	}
	if err := VerifySignature(v.Public(), digest, sig, opts); err != nil {
		return nil, Wrap(EUNAVAILABLE, err, "The HSM returned a signature that does not verify; no signature was issued.")
	}
	return sig, nil
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
