package keyserver

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"testing"
)

// TestVerifyPKCS1v15AgreesWithCryptoRSA checks the sign path's RSA check
// against crypto/rsa on good signatures and on every kind of bad one.
func TestVerifyPKCS1v15AgreesWithCryptoRSA(t *testing.T) {
	for _, bits := range []int{2048, 3072} {
		key, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			t.Fatalf("GenerateKey: %v", err)
		}
		for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
			digest := make([]byte, h.Size())
			_, _ = rand.Read(digest)
			sig, err := rsa.SignPKCS1v15(rand.Reader, key, h, digest)
			if err != nil {
				t.Fatalf("SignPKCS1v15: %v", err)
			}
			other := append([]byte{}, digest...)
			other[0] ^= 1
			flipped := append([]byte{}, sig...)
			flipped[len(flipped)/2] ^= 0x10
			tooBig := key.N.FillBytes(make([]byte, len(sig))) // s = n
			cases := []struct {
				name        string
				hash        crypto.Hash
				digest, sig []byte
			}{
				{"good", h, digest, sig},
				{"other digest", h, other, sig},
				{"other hash", otherHash(h), make([]byte, otherHash(h).Size()), sig},
				{"flipped bit", h, digest, flipped},
				{"short", h, digest, sig[1:]},
				{"long", h, digest, append([]byte{0}, sig...)},
				{"not below n", h, digest, tooBig},
				{"digest of the wrong length", h, digest[1:], sig},
			}
			for _, c := range cases {
				want := rsa.VerifyPKCS1v15(&key.PublicKey, c.hash, c.digest, c.sig) == nil
				got := verifyPKCS1v15(&key.PublicKey, c.hash, c.digest, c.sig) == nil
				if got != want || (c.name == "good") != got {
					t.Fatalf("%d bits, %v, %s: verifies %v, crypto/rsa says %v", bits, h, c.name, got, want)
				}
			}
		}
	}
}

func otherHash(h crypto.Hash) crypto.Hash {
	if h == crypto.SHA256 {
		return crypto.SHA512
	}
	return crypto.SHA256
}
