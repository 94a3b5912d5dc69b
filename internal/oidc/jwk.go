package oidc

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
)

// publicKey is one usable key of an issuer's JWKS.
type publicKey struct {
	key crypto.PublicKey
	alg string // the JWK's "alg", empty when the JWK does not restrict it
}

type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	N   string `json:"n"`
	E   string `json:"e"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
}

const minRSABits = 2048

// parseJWKS returns the usable signing keys of a JWKS by kid. Keys of other
// types or uses are skipped; a JWKS with no usable key is an error.
func parseJWKS(body []byte) (map[string]publicKey, error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("decoding JWKS: %w", err)
	}
	keys := make(map[string]publicKey, len(set.Keys))
	var firstErr error
	for _, k := range set.Keys {
		if k.Kid == "" || (k.Use != "" && k.Use != "sig") {
			continue
		}
		pub, err := k.publicKey()
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("key %q: %w", k.Kid, err)
			}
			continue
		}
		if pub != nil {
			keys[k.Kid] = publicKey{key: pub, alg: k.Alg}
		}
	}
	if len(keys) == 0 {
		if firstErr != nil {
			return nil, fmt.Errorf("JWKS has no usable signing key: %w", firstErr)
		}
		return nil, fmt.Errorf("JWKS has no usable signing key")
	}
	return keys, nil
}

// publicKey decodes an RSA or EC JWK; other key types give nil, nil.
func (k jwk) publicKey() (crypto.PublicKey, error) {
	switch k.Kty {
	case "RSA":
		return k.rsaKey()
	case "EC":
		return k.ecKey()
	}
	return nil, nil
}

func (k jwk) rsaKey() (*rsa.PublicKey, error) {
	n, err := decodeB64(k.N)
	if err != nil {
		return nil, fmt.Errorf("modulus: %w", err)
	}
	e, err := decodeB64(k.E)
	if err != nil {
		return nil, fmt.Errorf("exponent: %w", err)
	}
	if len(e) == 0 || len(e) > 4 {
		return nil, fmt.Errorf("exponent has %d bytes", len(e))
	}
	exp := new(big.Int).SetBytes(e).Int64()
	if exp < 3 || exp%2 == 0 || exp > 1<<31-1 {
		return nil, fmt.Errorf("exponent %d is not acceptable", exp)
	}
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp)}
	if pub.N.BitLen() < minRSABits {
		return nil, fmt.Errorf("RSA modulus has %d bits, fewer than %d", pub.N.BitLen(), minRSABits)
	}
	return pub, nil
}

func (k jwk) ecKey() (*ecdsa.PublicKey, error) {
	curve := curveByName(k.Crv)
	if curve == nil {
		return nil, fmt.Errorf("curve %q is not supported", k.Crv)
	}
	size := (curve.Params().BitSize + 7) / 8
	x, err := decodeB64(k.X)
	if err != nil {
		return nil, fmt.Errorf("x: %w", err)
	}
	y, err := decodeB64(k.Y)
	if err != nil {
		return nil, fmt.Errorf("y: %w", err)
	}
	if len(x) > size || len(y) > size {
		return nil, fmt.Errorf("coordinates are longer than %d bytes", size)
	}
	point := make([]byte, 1+2*size)
	point[0] = 4
	copy(point[1+size-len(x):1+size], x)
	copy(point[1+2*size-len(y):], y)
	pub, err := ecdsa.ParseUncompressedPublicKey(curve, point)
	if err != nil {
		return nil, fmt.Errorf("EC point: %w", err)
	}
	return pub, nil
}

func curveByName(name string) elliptic.Curve {
	switch name {
	case "P-256":
		return elliptic.P256()
	case "P-384":
		return elliptic.P384()
	case "P-521":
		return elliptic.P521()
	}
	return nil
}

func decodeB64(s string) ([]byte, error) {
	if s == "" {
		return nil, fmt.Errorf("missing")
	}
	return base64.RawURLEncoding.DecodeString(s)
}

// keyFits reports whether pub can verify a token signed with alg.
func keyFits(pub crypto.PublicKey, alg string) bool {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return k.Curve == elliptic.P256()
		case "ES384":
			return k.Curve == elliptic.P384()
		case "ES512":
			return k.Curve == elliptic.P521()
		}
	}
	return false
}
