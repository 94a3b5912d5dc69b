package module

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"testing"

	"keyserver/internal/ksfake"
)

func TestObjectsOfAnRSAKey(t *testing.T) {
	fk := ksfake.MustRSAKey(t, "key1", 2048)
	objs := BuildObjects([]*Key{mustKeyOf(t, fk)})
	if len(objs) != 3 {
		t.Fatalf("got %d objects, want 3", len(objs))
	}
	priv, pub, cert := objs[0], objs[1], objs[2]
	pk := fk.Signer.Public().(*rsa.PublicKey)
	serial, _ := asn1.Marshal(fk.Cert.SerialNumber)
	cases := []struct {
		obj  *Object
		attr uint
		want []byte
	}{
		{priv, CKA_CLASS, ULong(CKO_PRIVATE_KEY)},
		{priv, CKA_KEY_TYPE, ULong(CKK_RSA)},
		{priv, CKA_LABEL, []byte("key1")},
		{priv, CKA_TOKEN, Bool(true)},
		{priv, CKA_PRIVATE, Bool(false)},
		{priv, CKA_SIGN, Bool(true)},
		{priv, CKA_DECRYPT, Bool(false)},
		{priv, CKA_SENSITIVE, Bool(true)},
		{priv, CKA_EXTRACTABLE, Bool(false)},
		{priv, CKA_ALWAYS_AUTHENTICATE, Bool(false)},
		{priv, CKA_MODULUS, pk.N.Bytes()},
		{priv, CKA_PUBLIC_EXPONENT, []byte{1, 0, 1}},
		{priv, CKA_SUBJECT, fk.Cert.RawSubject},
		{priv, CKA_KEY_GEN_MECHANISM, ULong(CKM_RSA_PKCS_KEY_PAIR_GEN)},
		{pub, CKA_CLASS, ULong(CKO_PUBLIC_KEY)},
		{pub, CKA_VERIFY, Bool(true)},
		{pub, CKA_MODULUS_BITS, ULong(2048)},
		{cert, CKA_CLASS, ULong(CKO_CERTIFICATE)},
		{cert, CKA_CERTIFICATE_TYPE, ULong(CKC_X_509)},
		{cert, CKA_VALUE, fk.Cert.Raw},
		{cert, CKA_ISSUER, fk.Cert.RawIssuer},
		{cert, CKA_SERIAL_NUMBER, serial},
		{cert, CKA_TRUSTED, Bool(false)},
	}
	for _, c := range cases {
		got, rv := c.obj.Attr(c.attr)
		if rv != CKR_OK || !bytes.Equal(got, c.want) {
			t.Errorf("object %d attr 0x%x = %x (rv 0x%x), want %x", c.obj.Handle, c.attr, got, rv, c.want)
		}
	}
	for _, o := range objs[1:] {
		if a, _ := o.Attr(CKA_ID); !bytes.Equal(a, priv.Key.CKAID) {
			t.Errorf("object %d has another CKA_ID", o.Handle)
		}
	}
	if _, rv := priv.Attr(CKA_PRIVATE_EXPONENT); rv != CKR_ATTRIBUTE_SENSITIVE {
		t.Errorf("CKA_PRIVATE_EXPONENT rv = 0x%x, want CKR_ATTRIBUTE_SENSITIVE", rv)
	}
	if _, rv := cert.Attr(CKA_MODULUS); rv != CKR_ATTRIBUTE_TYPE_INVALID {
		t.Errorf("cert CKA_MODULUS rv = 0x%x, want CKR_ATTRIBUTE_TYPE_INVALID", rv)
	}
}

func TestObjectsOfAnECKey(t *testing.T) {
	fk := ksfake.MustECKey(t, "key2", elliptic.P256())
	objs := BuildObjects([]*Key{mustKeyOf(t, fk)})
	params, _ := objs[1].Attr(CKA_EC_PARAMS)
	if !bytes.Equal(params, []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}) {
		t.Fatalf("CKA_EC_PARAMS = %x", params)
	}
	point, _ := objs[1].Attr(CKA_EC_POINT)
	var raw []byte
	if rest, err := asn1.Unmarshal(point, &raw); err != nil || len(rest) != 0 {
		t.Fatalf("CKA_EC_POINT is not an OCTET STRING: %v", err)
	}
	pub, err := x509.ParsePKIXPublicKey(fk.Cert.RawSubjectPublicKeyInfo)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := pub.(*ecdsa.PublicKey).ECDH()
	if !bytes.Equal(raw, want.Bytes()) {
		t.Fatalf("CKA_EC_POINT holds %x, want %x", raw, want.Bytes())
	}
	if _, rv := objs[0].Attr(CKA_VALUE); rv != CKR_ATTRIBUTE_SENSITIVE {
		t.Fatalf("EC private CKA_VALUE rv = 0x%x", rv)
	}
	if objs[0].Key.SigSize != 64 {
		t.Fatalf("SigSize = %d, want 64", objs[0].Key.SigSize)
	}
}

func TestTemplateMatching(t *testing.T) {
	k1 := mustKeyOf(t, ksfake.MustRSAKey(t, "key1", 2048))
	k2 := mustKeyOf(t, ksfake.MustECKey(t, "key2", elliptic.P256()))
	objs := BuildObjects([]*Key{k1, k2})
	cases := []struct {
		name string
		tmpl []Attribute
		want []uint
	}{
		{"empty matches all", nil, []uint{1, 2, 3, 4, 5, 6}},
		{"label", []Attribute{{CKA_LABEL, []byte("key2")}}, []uint{4, 5, 6}},
		{"class and label", []Attribute{{CKA_CLASS, ULong(CKO_CERTIFICATE)}, {CKA_LABEL, []byte("key1")}}, []uint{3}},
		{"private keys", []Attribute{{CKA_CLASS, ULong(CKO_PRIVATE_KEY)}}, []uint{1, 4}},
		{"id", []Attribute{{CKA_ID, k2.CKAID}}, []uint{4, 5, 6}},
		{"key type EC sign", []Attribute{{CKA_KEY_TYPE, ULong(CKK_EC)}, {CKA_SIGN, Bool(true)}}, []uint{4}},
		{"no such label", []Attribute{{CKA_LABEL, []byte("key")}}, nil},
		{"sensitive never matches", []Attribute{{CKA_PRIVATE_EXPONENT, nil}}, nil},
		{"attribute the object lacks", []Attribute{{CKA_MODULUS, k1.RSA.N.Bytes()}}, []uint{1, 2}},
	}
	for _, c := range cases {
		var got []uint
		for _, o := range objs {
			if o.Matches(c.tmpl) {
				got = append(got, o.Handle)
			}
		}
		if !equalUints(got, c.want) {
			t.Errorf("%s: matched %v, want %v", c.name, got, c.want)
		}
	}
}

func equalUints(a, b []uint) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
