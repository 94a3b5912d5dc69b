package keyserver

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"errors"
	"math/big"
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
		return verifyPKCS1v15(k, opts.HashFunc(), digest, sig)
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, digest, sig) {
			return errors.New("ECDSA signature does not verify")
		}
		return nil
	}
	return errors.New("unsupported public key type")
}

// verifyPKCS1v15 checks an RSASSA-PKCS1-v1_5 signature the way RFC 8017
// (8.2.2) describes: s^e mod n must equal the encoding of the digest. It
// does what rsa.VerifyPKCS1v15 does at half the cost, since the signature
// and the key are public and the check need not be constant-time: on the
// sign path, every RSA signature the HSM returns is checked.
func verifyPKCS1v15(pub *rsa.PublicKey, h crypto.Hash, digest, sig []byte) error {
	prefix, ok := digestInfoPrefixes[h]
	k := (pub.N.BitLen() + 7) / 8
	if !ok || len(digest) != h.Size() {
		return errors.New("RSA PKCS #1 v1.5: unsupported hash or wrong digest length")
	}
	tLen := len(prefix) + len(digest)
	if len(sig) != k || k < tLen+11 {
		return errors.New("RSA PKCS #1 v1.5: signature of the wrong length")
	}
	s := new(big.Int).SetBytes(sig)
	if s.Cmp(pub.N) >= 0 {
		return errors.New("RSA PKCS #1 v1.5: signature out of range")
	}
	em := s.Exp(s, big.NewInt(int64(pub.E)), pub.N).FillBytes(make([]byte, k))
	want := make([]byte, 0, k)
	want = append(want, 0x00, 0x01)
	want = append(want, bytes.Repeat([]byte{0xff}, k-tLen-3)...)
	want = append(append(append(want, 0x00), prefix...), digest...)
	if !bytes.Equal(em, want) {
		return errors.New("RSA PKCS #1 v1.5: signature does not verify")
	}
	return nil
}
