package hsmfake

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"fmt"
	"math/big"

	"github.com/miekg/pkcs11"
)

type sigFamily int

const (
	familyPKCS1 sigFamily = iota // RSASSA-PKCS1-v1_5
	familyPSS                    // RSASSA-PSS, salt length = hash length
	familyECDSA                  // raw r||s
)

type sigAlg struct {
	name   string
	family sigFamily
	hash   crypto.Hash
	curve  string // ECDSA only
}

var sigAlgs = map[string]sigAlg{
	"RS256": {"RS256", familyPKCS1, crypto.SHA256, ""},
	"RS384": {"RS384", familyPKCS1, crypto.SHA384, ""},
	"RS512": {"RS512", familyPKCS1, crypto.SHA512, ""},
	"PS256": {"PS256", familyPSS, crypto.SHA256, ""},
	"PS384": {"PS384", familyPSS, crypto.SHA384, ""},
	"PS512": {"PS512", familyPSS, crypto.SHA512, ""},
	"ES256": {"ES256", familyECDSA, crypto.SHA256, "P-256"},
	"ES384": {"ES384", familyECDSA, crypto.SHA384, "P-384"},
	"ES512": {"ES512", familyECDSA, crypto.SHA512, "P-521"},
}

// PKCS#11 mechanisms of each hash, for CK_RSA_PKCS_PSS_PARAMS.
var pssHash = map[crypto.Hash][2]uint{
	crypto.SHA256: {pkcs11.CKM_SHA256, pkcs11.CKG_MGF1_SHA256},
	crypto.SHA384: {pkcs11.CKM_SHA384, pkcs11.CKG_MGF1_SHA384},
	crypto.SHA512: {pkcs11.CKM_SHA512, pkcs11.CKG_MGF1_SHA512},
}

var hashOIDs = map[crypto.Hash]asn1.ObjectIdentifier{
	crypto.SHA256: {2, 16, 840, 1, 101, 3, 4, 2, 1},
	crypto.SHA384: {2, 16, 840, 1, 101, 3, 4, 2, 2},
	crypto.SHA512: {2, 16, 840, 1, 101, 3, 4, 2, 3},
}

// checkAlg finds alg and checks that it fits the key and the digest.
func checkAlg(k *keyVersion, alg string, digest []byte) (sigAlg, error) {
	a, ok := sigAlgs[alg]
	if !ok {
		return a, unsupported(400, "Algorithm %q is not supported by hsmfake; use RS256/384/512, PS256/384/512 or ES256/384/512.", alg)
	}
	switch a.family {
	case familyPKCS1, familyPSS:
		if _, isRSA := k.pub.(*rsa.PublicKey); !isRSA {
			return a, badParameter("Algorithm %s is not valid for key type %s.", alg, k.kty())
		}
	case familyECDSA:
		if a.curve != k.curve() {
			return a, badParameter("Algorithm %s is not valid for key type %s with curve %s.", alg, k.kty(), k.curve())
		}
	}
	if len(digest) != a.hash.Size() {
		return a, badParameter("Invalid digest length %d for algorithm %s; want %d bytes.", len(digest), alg, a.hash.Size())
	}
	return a, nil
}

// mechanism returns the PKCS#11 mechanism and the data it signs.
func (a sigAlg) mechanism(digest []byte) (*pkcs11.Mechanism, []byte, error) {
	switch a.family {
	case familyPKCS1:
		di, err := digestInfo(a.hash, digest)
		if err != nil {
			return nil, nil, err
		}
		return pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS, nil), di, nil
	case familyPSS:
		h := pssHash[a.hash]
		params := pkcs11.NewPSSParams(h[0], h[1], uint(a.hash.Size()))
		return pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_PSS, params), digest, nil
	default:
		return pkcs11.NewMechanism(pkcs11.CKM_ECDSA, nil), digest, nil
	}
}

// digestInfo builds the DER DigestInfo that PKCS#1 v1.5 signs.
func digestInfo(h crypto.Hash, digest []byte) ([]byte, error) {
	di := struct {
		Algorithm pkix.AlgorithmIdentifier
		Digest    []byte
	}{pkix.AlgorithmIdentifier{Algorithm: hashOIDs[h], Parameters: asn1.NullRawValue}, digest}
	b, err := asn1.Marshal(di)
	if err != nil {
		return nil, fmt.Errorf("encoding DigestInfo: %w", err)
	}
	return b, nil
}

// verify checks sig over digest with the key's public half.
func (a sigAlg) verify(pub crypto.PublicKey, digest, sig []byte) bool {
	switch a.family {
	case familyPKCS1:
		return rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), a.hash, digest, sig) == nil
	case familyPSS:
		opts := &rsa.PSSOptions{SaltLength: a.hash.Size(), Hash: a.hash}
		return rsa.VerifyPSS(pub.(*rsa.PublicKey), a.hash, digest, sig, opts) == nil
	default:
		ec := pub.(*ecdsa.PublicKey)
		n := (ec.Curve.Params().BitSize + 7) / 8
		if len(sig) != 2*n {
			return false
		}
		r, s := new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])
		return ecdsa.Verify(ec, digest, r, s)
	}
}

var b64 = base64.RawURLEncoding

// decodeB64URL accepts base64url with or without padding.
func decodeB64URL(s string) ([]byte, error) {
	for len(s) > 0 && s[len(s)-1] == '=' {
		s = s[:len(s)-1]
	}
	return b64.DecodeString(s)
}

// jsonWebKey is the public half of a key as Key Vault returns it.
type jsonWebKey struct {
	KID    string   `json:"kid"`
	Kty    string   `json:"kty"`
	KeyOps []string `json:"key_ops"`
	N      string   `json:"n,omitempty"`
	E      string   `json:"e,omitempty"`
	Crv    string   `json:"crv,omitempty"`
	X      string   `json:"x,omitempty"`
	Y      string   `json:"y,omitempty"`
}

// keyOps are the only operations the fake implements.
var keyOps = []string{"sign", "verify"}

func (k *keyVersion) jwk(kid string) jsonWebKey {
	j := jsonWebKey{KID: kid, Kty: k.kty(), KeyOps: keyOps}
	switch pub := k.pub.(type) {
	case *rsa.PublicKey:
		j.N = b64.EncodeToString(pub.N.Bytes())
		j.E = b64.EncodeToString(big.NewInt(int64(pub.E)).Bytes())
	case *ecdsa.PublicKey:
		n := (pub.Curve.Params().BitSize + 7) / 8
		j.Crv = k.curve()
		if point, err := pub.Bytes(); err == nil && len(point) == 1+2*n {
			j.X = b64.EncodeToString(point[1 : 1+n])
			j.Y = b64.EncodeToString(point[1+n:])
		}
	}
	return j
}
