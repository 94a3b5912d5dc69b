package keyvault

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/asn1"
	"errors"
	"math/big"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"keyserver/internal/keyserver"
)

// ecParams is what Key Vault pairs with a curve: one algorithm, its digest
// size, and the size of each of r and s in a raw signature.
type ecParams struct {
	alg        azkeys.SignatureAlgorithm
	digestSize int
	coordSize  int
}

func ecParamsFor(c elliptic.Curve) (ecParams, bool) {
	switch c {
	case elliptic.P256():
		return ecParams{azkeys.SignatureAlgorithmES256, 32, 32}, true
	case elliptic.P384():
		return ecParams{azkeys.SignatureAlgorithmES384, 48, 48}, true
	case elliptic.P521():
		return ecParams{azkeys.SignatureAlgorithmES512, 64, 66}, true
	}
	return ecParams{}, false
}

// rsaAlgorithm picks RS* for a crypto.Hash and PS* for *rsa.PSSOptions, and
// checks that digest is as long as that hash.
func rsaAlgorithm(digest []byte, opts crypto.SignerOpts) (azkeys.SignatureAlgorithm, error) {
	if opts == nil {
		return "", keyserver.Errorf(keyserver.EINVALID, "An RSA signature needs a hash (SHA-256, SHA-384 or SHA-512).")
	}
	pss, isPSS := opts.(*rsa.PSSOptions)
	h := opts.HashFunc()
	var alg azkeys.SignatureAlgorithm
	switch {
	case isPSS && h == crypto.SHA256:
		alg = azkeys.SignatureAlgorithmPS256
	case isPSS && h == crypto.SHA384:
		alg = azkeys.SignatureAlgorithmPS384
	case isPSS && h == crypto.SHA512:
		alg = azkeys.SignatureAlgorithmPS512
	case h == crypto.SHA256:
		alg = azkeys.SignatureAlgorithmRS256
	case h == crypto.SHA384:
		alg = azkeys.SignatureAlgorithmRS384
	case h == crypto.SHA512:
		alg = azkeys.SignatureAlgorithmRS512
	default:
		return "", keyserver.Errorf(keyserver.EINVALID, "The HSM signs RSA only with SHA-256, SHA-384 or SHA-512, not %v.", h)
	}
	if isPSS && pss.SaltLength != rsa.PSSSaltLengthEqualsHash && pss.SaltLength != h.Size() {
		return "", keyserver.Errorf(keyserver.EINVALID, "The HSM signs RSA-PSS only with a salt as long as the hash (%d bytes).", h.Size())
	}
	if len(digest) != h.Size() {
		return "", keyserver.Errorf(keyserver.EINVALID, "The digest is %d bytes long; %v needs %d.", len(digest), h, h.Size())
	}
	return alg, nil
}

// ecDigest checks an ECDSA digest and brings it to the size Key Vault wants
// for the curve's algorithm, keeping the integer ECDSA would use: a longer
// digest keeps its leftmost bytes, a shorter one is left-padded with zeros.
func ecDigest(p ecParams, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if _, isPSS := opts.(*rsa.PSSOptions); isPSS {
		return nil, keyserver.Errorf(keyserver.EINVALID, "RSA-PSS options cannot be used with an EC key.")
	}
	switch len(digest) {
	case 28, 32, 48, 64:
	default:
		return nil, keyserver.Errorf(keyserver.EINVALID, "The digest is %d bytes long; an EC key signs SHA-2 digests (28, 32, 48 or 64 bytes).", len(digest))
	}
	if opts != nil && opts.HashFunc() != 0 && opts.HashFunc().Size() != len(digest) {
		return nil, keyserver.Errorf(keyserver.EINVALID, "The digest is %d bytes long; %v needs %d.", len(digest), opts.HashFunc(), opts.HashFunc().Size())
	}
	return normaliseDigest(digest, p.digestSize), nil
}

func normaliseDigest(digest []byte, size int) []byte {
	if len(digest) >= size {
		return append([]byte(nil), digest[:size]...)
	}
	out := make([]byte, size)
	copy(out[size-len(digest):], digest)
	return out
}

type ecdsaSignature struct {
	R, S *big.Int
}

// rawToDER turns Key Vault's r||s into the ASN.1 DER of crypto.Signer.
func rawToDER(raw []byte, coordSize int) ([]byte, error) {
	if len(raw) != 2*coordSize {
		return nil, errors.New("the HSM returned an EC signature of the wrong length")
	}
	r := new(big.Int).SetBytes(raw[:coordSize])
	s := new(big.Int).SetBytes(raw[coordSize:])
	if r.Sign() == 0 || s.Sign() == 0 {
		return nil, errors.New("the HSM returned an EC signature with a zero component")
	}
	return asn1.Marshal(ecdsaSignature{r, s})
}

// derToRaw is the inverse of rawToDER.
func derToRaw(der []byte, coordSize int) ([]byte, error) {
	var sig ecdsaSignature
	rest, err := asn1.Unmarshal(der, &sig)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 || sig.R == nil || sig.S == nil || sig.R.Sign() <= 0 || sig.S.Sign() <= 0 ||
		sig.R.BitLen() > 8*coordSize || sig.S.BitLen() > 8*coordSize {
		return nil, errors.New("malformed ECDSA signature")
	}
	raw := make([]byte, 2*coordSize)
	sig.R.FillBytes(raw[:coordSize])
	sig.S.FillBytes(raw[coordSize:])
	return raw, nil
}

// publicKey turns a JWK from Key Vault into a Go public key, refusing what
// the Keyserver does not sign with.
func publicKey(jwk *azkeys.JSONWebKey) (crypto.PublicKey, error) {
	if jwk == nil || jwk.Kty == nil {
		return nil, keyserver.Errorf(keyserver.EINVALID, "The HSM returned a key without a type.")
	}
	switch *jwk.Kty {
	case azkeys.KeyTypeRSA, azkeys.KeyTypeRSAHSM:
		return rsaPublicKey(jwk)
	case azkeys.KeyTypeEC, azkeys.KeyTypeECHSM:
		return ecPublicKey(jwk)
	}
	return nil, keyserver.Errorf(keyserver.EINVALID, "The HSM key has type %s; only RSA and EC keys can sign.", *jwk.Kty)
}

func rsaPublicKey(jwk *azkeys.JSONWebKey) (crypto.PublicKey, error) {
	n := new(big.Int).SetBytes(jwk.N)
	e := new(big.Int).SetBytes(jwk.E)
	switch n.BitLen() {
	case 2048, 3072, 4096:
	default:
		return nil, keyserver.Errorf(keyserver.EINVALID, "The HSM key is RSA %d; only RSA 2048, 3072 and 4096 are supported.", n.BitLen())
	}
	if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 || e.Bit(0) == 0 {
		return nil, keyserver.Errorf(keyserver.EINVALID, "The HSM key has an unsupported RSA public exponent.")
	}
	return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
}

func ecPublicKey(jwk *azkeys.JSONWebKey) (crypto.PublicKey, error) {
	var curve elliptic.Curve
	crv := ""
	if jwk.Crv != nil {
		crv = string(*jwk.Crv)
	}
	switch crv {
	case string(azkeys.CurveNameP256):
		curve = elliptic.P256()
	case string(azkeys.CurveNameP384):
		curve = elliptic.P384()
	case string(azkeys.CurveNameP521):
		curve = elliptic.P521()
	default:
		return nil, keyserver.Errorf(keyserver.EINVALID, "The HSM key is on curve %q; only P-256, P-384 and P-521 are supported.", crv)
	}
	p, _ := ecParamsFor(curve)
	if len(jwk.X) > p.coordSize || len(jwk.Y) > p.coordSize {
		return nil, keyserver.Errorf(keyserver.EINVALID, "The HSM returned an EC key with malformed coordinates.")
	}
	point := make([]byte, 1+2*p.coordSize)
	point[0] = 4
	copy(point[1+p.coordSize-len(jwk.X):], jwk.X)
	copy(point[1+2*p.coordSize-len(jwk.Y):], jwk.Y)
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
	if err != nil {
		return nil, keyserver.Wrap(keyserver.EINVALID, err, "The HSM returned an EC key that is not on its curve.")
	}
	return pub, nil
}
