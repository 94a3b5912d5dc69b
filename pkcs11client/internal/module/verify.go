package module

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/asn1"
	"math/big"
)

// Finish checks the Keyserver's signature over input and brings it to the
// Cryptoki layout: RSA left-padded to the modulus size, ECDSA raw r||s.
func (op *SignOp) Finish(input, sig []byte) ([]byte, error) {
	k := op.Key
	switch op.spec.kind {
	case kindPKCS1, kindPSS:
		if len(sig) > k.SigSize {
			return nil, errorf(CKR_GENERAL_ERROR, "the Keyserver returned a %d-byte signature for the %d-bit key %s", len(sig), k.Bits, k.ID)
		}
		sig = append(make([]byte, k.SigSize-len(sig)), sig...)
		var err error
		if op.spec.kind == kindPSS {
			err = rsa.VerifyPSS(k.RSA, op.pssHash, input, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			di := input
			if op.spec.hash != 0 {
				di = DigestInfo(op.spec.hash, input)
			}
			err = rsa.VerifyPKCS1v15(k.RSA, crypto.Hash(0), di, sig)
		}
		if err != nil {
			return nil, errorf(CKR_GENERAL_ERROR, "the Keyserver returned a signature that does not verify with the certificate of key %s", k.ID)
		}
		return sig, nil
	}
	raw, ok := ecdsaRaw(sig, k.SigSize)
	if !ok {
		return nil, errorf(CKR_GENERAL_ERROR, "the Keyserver returned a malformed ECDSA signature for key %s", k.ID)
	}
	half := k.SigSize / 2
	r, s := new(big.Int).SetBytes(raw[:half]), new(big.Int).SetBytes(raw[half:])
	if !ecdsa.Verify(k.ECDSA, input, r, s) {
		return nil, errorf(CKR_GENERAL_ERROR, "the Keyserver returned a signature that does not verify with the certificate of key %s", k.ID)
	}
	return raw, nil
}

// ecdsaRaw accepts r||s of size bytes, or an ASN.1 ECDSA-Sig-Value it converts.
func ecdsaRaw(sig []byte, size int) ([]byte, bool) {
	if len(sig) == size {
		return sig, true
	}
	var v struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(sig, &v); err != nil || len(rest) != 0 || v.R.Sign() <= 0 || v.S.Sign() <= 0 {
		return nil, false
	}
	half := size / 2
	if v.R.BitLen() > 8*half || v.S.BitLen() > 8*half {
		return nil, false
	}
	out := make([]byte, size)
	v.R.FillBytes(out[:half])
	v.S.FillBytes(out[half:])
	return out, true
}
