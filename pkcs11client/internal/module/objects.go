package module

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"
)

// Key is one Keyserver key with its public half taken from its certificate.
type Key struct {
	ID      string
	Type    uint // CKK_RSA or CKK_EC
	Bits    int  // modulus or field size
	Cert    *x509.Certificate
	Mechs   []uint
	CKAID   []byte
	RSA     *rsa.PublicKey
	ECDSA   *ecdsa.PublicKey
	SigSize int // bytes of a signature: modulus bytes, or 2 * field bytes
}

// Object is one PKCS#11 object: a key's private key, public key or certificate.
type Object struct {
	Handle uint
	Class  uint
	Key    *Key
	attrs  *attrSet
}

// Attr returns one attribute value or CKR_ATTRIBUTE_TYPE_INVALID/SENSITIVE.
func (o *Object) Attr(t uint) ([]byte, RV) { return o.attrs.Get(t) }

// Matches reports whether o has every attribute of tmpl.
func (o *Object) Matches(tmpl []Attribute) bool { return o.attrs.Matches(tmpl) }

// Size is an estimate of the object's size for C_GetObjectSize.
func (o *Object) Size() int {
	n := 0
	for _, v := range o.attrs.values {
		n += len(v)
	}
	return n
}

var (
	oidP256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	oidP384 = asn1.ObjectIdentifier{1, 3, 132, 0, 34}
	oidP521 = asn1.ObjectIdentifier{1, 3, 132, 0, 35}
)

// rsaMechs and ecMechs are what each key type signs with.
var (
	rsaMechs = []uint{CKM_RSA_PKCS, CKM_SHA256_RSA_PKCS, CKM_SHA384_RSA_PKCS, CKM_SHA512_RSA_PKCS,
		CKM_RSA_PKCS_PSS, CKM_SHA256_RSA_PKCS_PSS, CKM_SHA384_RSA_PKCS_PSS, CKM_SHA512_RSA_PKCS_PSS}
	ecMechs = []uint{CKM_ECDSA, CKM_ECDSA_SHA256, CKM_ECDSA_SHA384, CKM_ECDSA_SHA512}
)

// ParseKey turns a /api/keys entry into a Key, from its PEM certificate.
func ParseKey(ki KeyInfo) (*Key, error) {
	if ki.KeyID == "" {
		return nil, fmt.Errorf("a key has no keyid")
	}
	block, _ := pem.Decode([]byte(ki.Certificate))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("key %s has no PEM certificate", ki.KeyID)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing the certificate of key %s: %w", ki.KeyID, err)
	}
	var spki struct {
		Algorithm asn1.RawValue
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(cert.RawSubjectPublicKeyInfo, &spki); err != nil {
		return nil, fmt.Errorf("parsing the public key of key %s: %w", ki.KeyID, err)
	}
	id := sha1.Sum(spki.PublicKey.Bytes)
	k := &Key{ID: ki.KeyID, Cert: cert, CKAID: id[:]}
	switch pub := cert.PublicKey.(type) {
	case *rsa.PublicKey:
		k.Type, k.RSA, k.Bits, k.SigSize, k.Mechs = CKK_RSA, pub, pub.N.BitLen(), (pub.N.BitLen()+7)/8, rsaMechs
	case *ecdsa.PublicKey:
		if _, err := curveOID(pub.Curve); err != nil {
			return nil, fmt.Errorf("key %s: %w", ki.KeyID, err)
		}
		bits := pub.Curve.Params().BitSize
		k.Type, k.ECDSA, k.Bits, k.SigSize, k.Mechs = CKK_EC, pub, bits, 2*((bits+7)/8), ecMechs
	default:
		return nil, fmt.Errorf("key %s has a %T public key; only RSA and EC are supported", ki.KeyID, pub)
	}
	return k, nil
}

func curveOID(c elliptic.Curve) (asn1.ObjectIdentifier, error) {
	switch c {
	case elliptic.P256():
		return oidP256, nil
	case elliptic.P384():
		return oidP384, nil
	case elliptic.P521():
		return oidP521, nil
	}
	return nil, fmt.Errorf("curve %s is not supported", c.Params().Name)
}

// BuildObjects gives each key its private key, public key and certificate
// objects, with handles 3i+1, 3i+2, 3i+3.
func BuildObjects(keys []*Key) []*Object {
	var objs []*Object
	for i, k := range keys {
		base := uint(3 * i)
		objs = append(objs,
			&Object{Handle: base + 1, Class: CKO_PRIVATE_KEY, Key: k, attrs: privateAttrs(k)},
			&Object{Handle: base + 2, Class: CKO_PUBLIC_KEY, Key: k, attrs: publicAttrs(k)},
			&Object{Handle: base + 3, Class: CKO_CERTIFICATE, Key: k, attrs: certAttrs(k)},
		)
	}
	return objs
}

func commonAttrs(k *Key, class uint) *attrSet {
	s := newAttrSet()
	s.setULong(CKA_CLASS, class)
	s.setBool(CKA_TOKEN, true)
	s.setBool(CKA_PRIVATE, false)
	s.setBool(CKA_MODIFIABLE, false)
	s.setBool(CKA_COPYABLE, false)
	s.setBool(CKA_DESTROYABLE, false)
	s.set(CKA_LABEL, []byte(k.ID))
	s.set(CKA_ID, k.CKAID)
	s.set(CKA_SUBJECT, k.Cert.RawSubject)
	s.set(CKA_PUBLIC_KEY_INFO, k.Cert.RawSubjectPublicKeyInfo)
	return s
}

func keyAttrs(s *attrSet, k *Key) {
	s.setULong(CKA_KEY_TYPE, k.Type)
	s.set(CKA_START_DATE, nil)
	s.set(CKA_END_DATE, nil)
	s.setBool(CKA_DERIVE, false)
	s.setBool(CKA_LOCAL, true)
	s.set(CKA_ALLOWED_MECHANISMS, ULongs(k.Mechs))
	if k.Type == CKK_RSA {
		s.setULong(CKA_KEY_GEN_MECHANISM, CKM_RSA_PKCS_KEY_PAIR_GEN)
		s.set(CKA_MODULUS, k.RSA.N.Bytes())
		s.set(CKA_PUBLIC_EXPONENT, big.NewInt(int64(k.RSA.E)).Bytes())
		s.setULong(CKA_MODULUS_BITS, uint(k.Bits))
		return
	}
	s.setULong(CKA_KEY_GEN_MECHANISM, CKM_EC_KEY_PAIR_GEN)
	oid, _ := curveOID(k.ECDSA.Curve)
	params, _ := asn1.Marshal(oid)
	s.set(CKA_EC_PARAMS, params)
	if ecdhKey, err := k.ECDSA.ECDH(); err == nil {
		point, _ := asn1.Marshal(ecdhKey.Bytes())
		s.set(CKA_EC_POINT, point)
	}
}

func privateAttrs(k *Key) *attrSet {
	s := commonAttrs(k, CKO_PRIVATE_KEY)
	keyAttrs(s, k)
	s.setBool(CKA_SENSITIVE, true)
	s.setBool(CKA_ALWAYS_SENSITIVE, true)
	s.setBool(CKA_EXTRACTABLE, false)
	s.setBool(CKA_NEVER_EXTRACTABLE, true)
	s.setBool(CKA_SIGN, true)
	s.setBool(CKA_SIGN_RECOVER, false)
	s.setBool(CKA_DECRYPT, false)
	s.setBool(CKA_UNWRAP, false)
	s.setBool(CKA_ALWAYS_AUTHENTICATE, false)
	s.setBool(CKA_WRAP_WITH_TRUSTED, false)
	if k.Type == CKK_RSA {
		for _, t := range []uint{CKA_PRIVATE_EXPONENT, CKA_PRIME_1, CKA_PRIME_2, CKA_EXPONENT_1, CKA_EXPONENT_2, CKA_COEFFICIENT} {
			s.sensitive[t] = true
		}
	} else {
		s.sensitive[CKA_VALUE] = true
	}
	return s
}

func publicAttrs(k *Key) *attrSet {
	s := commonAttrs(k, CKO_PUBLIC_KEY)
	keyAttrs(s, k)
	s.setBool(CKA_VERIFY, true)
	s.setBool(CKA_VERIFY_RECOVER, false)
	s.setBool(CKA_ENCRYPT, false)
	s.setBool(CKA_WRAP, false)
	s.setBool(CKA_TRUSTED, false)
	return s
}

func certAttrs(k *Key) *attrSet {
	s := commonAttrs(k, CKO_CERTIFICATE)
	c := k.Cert
	s.setULong(CKA_CERTIFICATE_TYPE, CKC_X_509)
	s.setBool(CKA_TRUSTED, false)
	s.setULong(CKA_CERTIFICATE_CATEGORY, CK_CERTIFICATE_CATEGORY_TOKEN_USER)
	sum := sha1.Sum(c.Raw)
	s.set(CKA_CHECK_VALUE, sum[:3])
	s.set(CKA_START_DATE, ckDate(c.NotBefore))
	s.set(CKA_END_DATE, ckDate(c.NotAfter))
	s.set(CKA_VALUE, c.Raw)
	s.set(CKA_ISSUER, c.RawIssuer)
	serial, _ := asn1.Marshal(c.SerialNumber)
	s.set(CKA_SERIAL_NUMBER, serial)
	s.set(CKA_URL, nil)
	s.set(CKA_HASH_OF_SUBJECT_PUBLIC_KEY, nil)
	s.set(CKA_HASH_OF_ISSUER_PUBLIC_KEY, nil)
	s.setULong(CKA_JAVA_MIDP_SECURITY_DOMAIN, 0)
	return s
}

// ckDate is a CK_DATE: YYYYMMDD as characters.
func ckDate(t time.Time) []byte { return []byte(t.UTC().Format("20060102")) }
