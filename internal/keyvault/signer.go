package keyvault

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"fmt"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"keyserver/internal/keyserver"
)

// signer signs with one version of one HSM key.
type signer struct {
	client  *azkeys.Client
	timeout time.Duration
	hsmKey  string
	name    string
	version string
	pub     crypto.PublicKey
	ec      *ecParams // nil for RSA
	rsaSize int       // modulus size in bytes, for RSA
}

var _ keyserver.ContextSigner = (*signer)(nil)

func newSigner(c *azkeys.Client, timeout time.Duration, hsmKey, name, version string, pub crypto.PublicKey) (*signer, error) {
	s := &signer{client: c, timeout: timeout, hsmKey: hsmKey, name: name, version: version, pub: pub}
	switch k := pub.(type) {
	case *rsa.PublicKey:
		s.rsaSize = k.Size()
	case *ecdsa.PublicKey:
		p, ok := ecParamsFor(k.Curve)
		if !ok {
			return nil, keyserver.Errorf(keyserver.EINVALID, "The HSM key is on an unsupported curve.")
		}
		s.ec = &p
	default:
		return nil, keyserver.Errorf(keyserver.EINVALID, "The HSM key type %T is not supported.", pub)
	}
	return s, nil
}

func (s *signer) Public() crypto.PublicKey { return s.pub }

// SignContext signs digest in the HSM. opts is a crypto.Hash or an
// *rsa.PSSOptions; ECDSA signatures come back as ASN.1 DER.
func (s *signer) SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	alg, value, err := s.request(digest, opts)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	ctx, rec := withRecorder(ctx)
	resp, err := s.client.Sign(ctx, s.name, s.version, azkeys.SignParameters{Algorithm: &alg, Value: value}, nil)
	if err != nil {
		return nil, classify(fmt.Errorf("signing with HSM key %s (%s): %w", s.hsmKey, alg, err), rec.status())
	}
	if s.ec != nil {
		der, err := rawToDER(resp.Result, s.ec.coordSize)
		if err != nil {
			return nil, keyserver.Wrap(keyserver.EUNAVAILABLE, fmt.Errorf("signing with HSM key %s: %w", s.hsmKey, err), "The HSM returned a malformed signature.")
		}
		return der, nil
	}
	return s.fullRSASignature(resp.Result)
}

// request picks the Key Vault algorithm and the value to send.
func (s *signer) request(digest []byte, opts crypto.SignerOpts) (azkeys.SignatureAlgorithm, []byte, error) {
	if s.ec != nil {
		value, err := ecDigest(*s.ec, digest, opts)
		return s.ec.alg, value, err
	}
	alg, err := rsaAlgorithm(digest, opts)
	return alg, digest, err
}

// fullRSASignature left-pads a signature to the modulus size, as
// crypto/rsa expects.
func (s *signer) fullRSASignature(sig []byte) ([]byte, error) {
	if len(sig) == 0 || len(sig) > s.rsaSize {
		return nil, keyserver.Errorf(keyserver.EUNAVAILABLE, "The HSM returned a malformed signature.")
	}
	if len(sig) == s.rsaSize {
		return sig, nil
	}
	out := make([]byte, s.rsaSize)
	copy(out[s.rsaSize-len(sig):], sig)
	return out, nil
}
