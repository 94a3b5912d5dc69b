package hsmfake

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/asn1"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/big"

	"github.com/miekg/pkcs11"
)

var curveOIDs = map[string]asn1.ObjectIdentifier{
	"P-256": {1, 2, 840, 10045, 3, 1, 7},
	"P-384": {1, 3, 132, 0, 34},
	"P-521": {1, 3, 132, 0, 35},
}

var curves = map[string]elliptic.Curve{
	"P-256": elliptic.P256(),
	"P-384": elliptic.P384(),
	"P-521": elliptic.P521(),
}

// generate makes a key pair inside the token. The private key is sensitive
// and not extractable; CKA_LABEL holds the key name and CKA_ID the version.
func (t *token) generate(sh pkcs11.SessionHandle, spec KeySpec, id []byte) (pkcs11.ObjectHandle, crypto.PublicKey, error) {
	common := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, spec.Name),
		pkcs11.NewAttribute(pkcs11.CKA_ID, id),
	}
	pub := append([]*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
		pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, false),
		pkcs11.NewAttribute(pkcs11.CKA_WRAP, false),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
	}, common...)
	priv := append([]*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
		pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, false),
		pkcs11.NewAttribute(pkcs11.CKA_UNWRAP, false),
		pkcs11.NewAttribute(pkcs11.CKA_DERIVE, false),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, false),
	}, common...)
	var mech uint
	if spec.isRSA() {
		mech = pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN
		pub = append(pub,
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA),
			pkcs11.NewAttribute(pkcs11.CKA_MODULUS_BITS, spec.Size),
			pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1}))
		priv = append(priv, pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA))
	} else {
		params, err := asn1.Marshal(curveOIDs[spec.Crv])
		if err != nil {
			return 0, nil, fmt.Errorf("encoding curve %s: %w", spec.Crv, err)
		}
		mech = pkcs11.CKM_EC_KEY_PAIR_GEN
		pub = append(pub,
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC),
			pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, params))
		priv = append(priv, pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC))
	}
	pubH, privH, err := t.p.GenerateKeyPair(sh, []*pkcs11.Mechanism{pkcs11.NewMechanism(mech, nil)}, pub, priv)
	if err != nil {
		return 0, nil, fmt.Errorf("generating %s key %s in the token: %w", spec.Kty, spec.Name, err)
	}
	pk, err := t.publicKey(sh, pubH, spec.isRSA())
	if err != nil {
		return 0, nil, err
	}
	return privH, pk, nil
}

// publicKey reads a public key object into its Go form.
func (t *token) publicKey(sh pkcs11.SessionHandle, h pkcs11.ObjectHandle, isRSA bool) (crypto.PublicKey, error) {
	if isRSA {
		attrs, err := t.p.GetAttributeValue(sh, h, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_MODULUS, nil),
			pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, nil),
		})
		if err != nil {
			return nil, fmt.Errorf("reading RSA public key: %w", err)
		}
		e := new(big.Int).SetBytes(attrs[1].Value)
		if !e.IsInt64() || e.Int64() > 1<<31-1 {
			return nil, fmt.Errorf("reading RSA public key: exponent too large")
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(attrs[0].Value), E: int(e.Int64())}, nil
	}
	attrs, err := t.p.GetAttributeValue(sh, h, []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, nil),
		pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, nil),
	})
	if err != nil {
		return nil, fmt.Errorf("reading EC public key: %w", err)
	}
	var oid asn1.ObjectIdentifier
	if _, err := asn1.Unmarshal(attrs[0].Value, &oid); err != nil {
		return nil, fmt.Errorf("reading EC curve: %w", err)
	}
	var curve elliptic.Curve
	for name, o := range curveOIDs {
		if o.Equal(oid) {
			curve = curves[name]
		}
	}
	if curve == nil {
		return nil, fmt.Errorf("reading EC public key: unsupported curve %s", oid)
	}
	point := attrs[1].Value
	var inner []byte
	if rest, err := asn1.Unmarshal(point, &inner); err == nil && len(rest) == 0 {
		point = inner
	}
	pk, err := ecdsa.ParseUncompressedPublicKey(curve, point)
	if err != nil {
		return nil, fmt.Errorf("reading EC public point: %w", err)
	}
	return pk, nil
}

// loadAll reads every key pair the fake made: private keys whose CKA_ID is a
// 16-byte version, each with the public key of the same label and id.
func (t *token) loadAll(sh pkcs11.SessionHandle) ([]*keyVersion, error) {
	privs, err := t.find(sh, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PRIVATE_KEY)})
	if err != nil {
		return nil, err
	}
	var out []*keyVersion
	for _, h := range privs {
		attrs, err := t.p.GetAttributeValue(sh, h, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, nil),
			pkcs11.NewAttribute(pkcs11.CKA_ID, nil),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, nil),
		})
		if err != nil {
			return nil, fmt.Errorf("reading private key attributes: %w", err)
		}
		name, id := string(attrs[0].Value), attrs[1].Value
		kv, ok := parseVersion(name, id)
		if !ok || !validKeyName(name) {
			continue // not made by the fake
		}
		pubs, err := t.find(sh, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
			pkcs11.NewAttribute(pkcs11.CKA_LABEL, name),
			pkcs11.NewAttribute(pkcs11.CKA_ID, id),
		})
		if err != nil {
			return nil, err
		}
		if len(pubs) != 1 {
			return nil, fmt.Errorf("loading key %s/%s: found %d public keys, want 1", name, hex.EncodeToString(id), len(pubs))
		}
		isRSA := nativeUint(attrs[2].Value) == pkcs11.CKK_RSA
		if kv.pub, err = t.publicKey(sh, pubs[0], isRSA); err != nil {
			return nil, fmt.Errorf("loading key %s/%s: %w", name, kv.version, err)
		}
		kv.priv = h
		out = append(out, kv)
	}
	return out, nil
}

// nativeUint decodes a CK_ULONG attribute value.
func nativeUint(b []byte) uint {
	switch len(b) {
	case 8:
		return uint(binary.NativeEndian.Uint64(b))
	case 4:
		return uint(binary.NativeEndian.Uint32(b))
	}
	return ^uint(0)
}

func (t *token) find(sh pkcs11.SessionHandle, template []*pkcs11.Attribute) ([]pkcs11.ObjectHandle, error) {
	if err := t.p.FindObjectsInit(sh, template); err != nil {
		return nil, fmt.Errorf("searching token objects: %w", err)
	}
	var all []pkcs11.ObjectHandle
	for {
		hs, _, err := t.p.FindObjects(sh, 64)
		if err != nil {
			_ = t.p.FindObjectsFinal(sh)
			return nil, fmt.Errorf("searching token objects: %w", err)
		}
		if len(hs) == 0 {
			break
		}
		all = append(all, hs...)
	}
	if err := t.p.FindObjectsFinal(sh); err != nil {
		return nil, fmt.Errorf("ending object search: %w", err)
	}
	return all, nil
}

// sign runs one PKCS#11 signature in the token.
func (t *token) sign(sh pkcs11.SessionHandle, key pkcs11.ObjectHandle, mech *pkcs11.Mechanism, data []byte) ([]byte, error) {
	if err := t.p.SignInit(sh, []*pkcs11.Mechanism{mech}, key); err != nil {
		return nil, fmt.Errorf("starting PKCS#11 signature: %w", err)
	}
	sig, err := t.p.Sign(sh, data)
	if err != nil {
		return nil, fmt.Errorf("PKCS#11 signature: %w", err)
	}
	return sig, nil
}
