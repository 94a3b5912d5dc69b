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

// signer signs with one HSM key: with one version of it, or, when floating,
// with whichever version the HSM holds as current.
type signer struct {
	backend  *Backend
	client   *azkeys.Client
	timeout  time.Duration
	hsmKey   string
	vaultURL string
	name     string
	version  string // the version opened, whose key pub is
	floating bool   // hsmKey names no version
	pub      crypto.PublicKey
	kid      string    // the kid the HSM names the opened version by: pinned()
	ec       *ecParams // nil for RSA
	rsaSize  int       // modulus size in bytes, for RSA
}

var (
	_ keyserver.ContextSigner    = (*signer)(nil)
	_ keyserver.AttributedSigner = (*signer)(nil)
)

func newSigner(b *Backend, c *azkeys.Client, ref keyRef, hsmKey, version string, pub crypto.PublicKey) (*signer, error) {
	s := &signer{
		backend: b, client: c, timeout: b.timeout, hsmKey: hsmKey, vaultURL: ref.vaultURL,
		name: ref.name, version: version, floating: ref.version == "", pub: pub,
	}
	s.kid = s.pinned()
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

// pinned is the reference of the version s opened.
func (s *signer) pinned() string { return s.vaultURL + "/keys/" + s.name + "/" + s.version }

// SignContext signs digest in the HSM. opts is a crypto.Hash or an
// *rsa.PSSOptions; ECDSA signatures come back as ASN.1 DER. It does not say
// which version signed; SignAttributed does.
func (s *signer) SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	sig, _, err := s.SignAttributed(ctx, digest, opts)
	return sig, err
}

// SignAttributed signs digest in the HSM and returns the public key of the
// version that signed, as the answer's kid names it: the opened version, or
// for a floating signer the HSM's current one, read once per version.
func (s *signer) SignAttributed(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, crypto.PublicKey, error) {
	alg, value, err := s.request(digest, opts)
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	version := s.version
	if s.floating {
		version = "" // the HSM's current version
	}
	rctx, rec := withRecorder(ctx)
	resp, err := s.client.Sign(rctx, s.name, version, azkeys.SignParameters{Algorithm: &alg, Value: value}, nil)
	if err != nil {
		return nil, nil, classify(fmt.Errorf("signing with HSM key %s (%s): %w", s.hsmKey, alg, err), rec.status())
	}
	by, err := s.signedBy(ctx, resp.KID)
	if err != nil {
		return nil, nil, err
	}
	sig, err := by.finish(resp.Result)
	if err != nil {
		return nil, nil, err
	}
	return sig, by.pub, nil
}

// signedBy returns the signer of the version kid names.
func (s *signer) signedBy(ctx context.Context, kid *azkeys.ID) (*signer, error) {
	if kid != nil && string(*kid) == s.kid { // the usual answer, known without parsing it
		return s, nil
	}
	if kid == nil || kid.Version() == "" || kid.Name() != s.name {
		return nil, keyserver.Errorf(keyserver.EUNAVAILABLE, "The HSM's answer does not name the version of key %s that signed; no signature was issued.", s.name)
	}
	if kid.Version() == s.version {
		return s, nil
	}
	if !s.floating {
		return nil, keyserver.Errorf(keyserver.EUNAVAILABLE, "The HSM signed with version %s of key %s instead of %s; no signature was issued.", kid.Version(), s.name, s.version)
	}
	return s.backend.open(ctx, s.vaultURL+"/keys/"+s.name+"/"+kid.Version())
}

// finish turns the HSM's signature into the form crypto.Signer returns.
func (s *signer) finish(result []byte) ([]byte, error) {
	if s.ec != nil {
		der, err := rawToDER(result, s.ec.coordSize)
		if err != nil {
			return nil, keyserver.Wrap(keyserver.EUNAVAILABLE, fmt.Errorf("signing with HSM key %s: %w", s.hsmKey, err), "The HSM returned a malformed signature.")
		}
		return der, nil
	}
	return s.fullRSASignature(result)
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
