package module

import (
	"bytes"
	"crypto"
	_ "crypto/sha256" // registers SHA-256 for crypto.Hash
	_ "crypto/sha512" // registers SHA-384 and SHA-512 for crypto.Hash
	"encoding/hex"
	"hash"
)

// digestInfoPrefix is the DER of a DigestInfo up to the digest bytes.
var digestInfoPrefix = map[crypto.Hash][]byte{
	crypto.SHA256: {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20},
	crypto.SHA384: {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30},
	crypto.SHA512: {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40},
}

var hashNames = map[crypto.Hash]string{crypto.SHA256: "SHA256", crypto.SHA384: "SHA384", crypto.SHA512: "SHA512"}

// DigestInfo wraps digest in the DER DigestInfo of h.
func DigestInfo(h crypto.Hash, digest []byte) []byte {
	return append(append([]byte{}, digestInfoPrefix[h]...), digest...)
}

// ParseDigestInfo returns the hash of a DigestInfo for SHA-256/384/512.
func ParseDigestInfo(b []byte) (crypto.Hash, bool) {
	for h, p := range digestInfoPrefix {
		if len(b) == len(p)+h.Size() && bytes.HasPrefix(b, p) {
			return h, true
		}
	}
	return 0, false
}

type signKind int

const (
	kindPKCS1 signKind = iota
	kindPSS
	kindECDSA
)

// mechSpec describes one supported signing mechanism.
type mechSpec struct {
	keyType uint
	kind    signKind
	hash    crypto.Hash // hashed in the module; 0 when the input is a digest
}

var mechSpecs = map[uint]mechSpec{
	CKM_RSA_PKCS:            {CKK_RSA, kindPKCS1, 0},
	CKM_SHA256_RSA_PKCS:     {CKK_RSA, kindPKCS1, crypto.SHA256},
	CKM_SHA384_RSA_PKCS:     {CKK_RSA, kindPKCS1, crypto.SHA384},
	CKM_SHA512_RSA_PKCS:     {CKK_RSA, kindPKCS1, crypto.SHA512},
	CKM_RSA_PKCS_PSS:        {CKK_RSA, kindPSS, 0},
	CKM_SHA256_RSA_PKCS_PSS: {CKK_RSA, kindPSS, crypto.SHA256},
	CKM_SHA384_RSA_PKCS_PSS: {CKK_RSA, kindPSS, crypto.SHA384},
	CKM_SHA512_RSA_PKCS_PSS: {CKK_RSA, kindPSS, crypto.SHA512},
	CKM_ECDSA:               {CKK_EC, kindECDSA, 0},
	CKM_ECDSA_SHA256:        {CKK_EC, kindECDSA, crypto.SHA256},
	CKM_ECDSA_SHA384:        {CKK_EC, kindECDSA, crypto.SHA384},
	CKM_ECDSA_SHA512:        {CKK_EC, kindECDSA, crypto.SHA512},
}

var pssParams = map[uint]struct {
	hash crypto.Hash
	mgf  uint
}{
	CKM_SHA256: {crypto.SHA256, CKG_MGF1_SHA256},
	CKM_SHA384: {crypto.SHA384, CKG_MGF1_SHA384},
	CKM_SHA512: {crypto.SHA512, CKG_MGF1_SHA512},
}

// maxRawInput bounds the input of the mechanisms that take a digest.
const maxRawInput = 1024

// SignOp is one signing operation of a session, from C_SignInit until its
// result is fetched or it fails.
type SignOp struct {
	Key     *Key
	Mech    uint
	spec    mechSpec
	pssHash crypto.Hash // digest hash for PSS
	hasher  hash.Hash   // set for the hashing mechanisms
	buf     []byte      // raw input collected by C_SignUpdate
	multi   bool        // C_SignUpdate was called
	input   []byte      // the digest or DigestInfo, once computed
	result  []byte      // signature made but not yet fetched
}

// NewSignOp checks that key k signs with mech and param. param is the raw
// mechanism parameter (a CK_RSA_PKCS_PSS_PARAMS for PSS).
func NewSignOp(k *Key, mech uint, param []byte) (*SignOp, error) {
	spec, ok := mechSpecs[mech]
	if !ok {
		return nil, errorf(CKR_MECHANISM_INVALID, "mechanism 0x%x is not supported", mech)
	}
	if spec.keyType != k.Type {
		return nil, errorf(CKR_KEY_TYPE_INCONSISTENT, "mechanism 0x%x does not fit key %s", mech, k.ID)
	}
	op := &SignOp{Key: k, Mech: mech, spec: spec}
	if spec.hash != 0 {
		op.hasher = spec.hash.New()
	}
	switch spec.kind {
	case kindPSS:
		h, err := checkPSSParams(param, spec.hash)
		if err != nil {
			return nil, err
		}
		op.pssHash = h
	default:
		if len(param) != 0 {
			return nil, errorf(CKR_MECHANISM_PARAM_INVALID, "mechanism 0x%x takes no parameter", mech)
		}
	}
	return op, nil
}

// checkPSSParams decodes CK_RSA_PKCS_PSS_PARAMS {hashAlg, mgf, sLen}; want is
// the hash a SHAx_RSA_PKCS_PSS mechanism implies (0 for CKM_RSA_PKCS_PSS).
func checkPSSParams(param []byte, want crypto.Hash) (crypto.Hash, error) {
	if len(param) == 0 && want != 0 {
		return want, nil
	}
	if len(param) != 3*ulongSize {
		return 0, errorf(CKR_MECHANISM_PARAM_INVALID, "RSA-PSS needs a CK_RSA_PKCS_PSS_PARAMS parameter")
	}
	hashAlg, _ := DecodeULong(param[:ulongSize])
	mgf, _ := DecodeULong(param[ulongSize : 2*ulongSize])
	sLen, _ := DecodeULong(param[2*ulongSize:])
	p, ok := pssParams[hashAlg]
	switch {
	case !ok:
		return 0, errorf(CKR_MECHANISM_PARAM_INVALID, "RSA-PSS hash 0x%x is not supported; use SHA-256, SHA-384 or SHA-512", hashAlg)
	case want != 0 && p.hash != want:
		return 0, errorf(CKR_MECHANISM_PARAM_INVALID, "RSA-PSS parameter hash does not match the mechanism")
	case mgf != p.mgf:
		return 0, errorf(CKR_MECHANISM_PARAM_INVALID, "RSA-PSS MGF1 hash must equal the message hash")
	case sLen != uint(p.hash.Size()):
		return 0, errorf(CKR_MECHANISM_PARAM_INVALID, "RSA-PSS salt length must equal the hash length (%d)", p.hash.Size())
	}
	return p.hash, nil
}

// Update adds a part of the data (C_SignUpdate).
func (op *SignOp) Update(part []byte) error {
	op.multi = true
	if op.hasher != nil {
		op.hasher.Write(part)
		return nil
	}
	if len(op.buf)+len(part) > maxRawInput {
		return errorf(CKR_DATA_LEN_RANGE, "input for mechanism 0x%x is too long", op.Mech)
	}
	op.buf = append(op.buf, part...)
	return nil
}

// Input returns the collected data after Update calls, or data for C_Sign.
// It is computed once.
func (op *SignOp) Input(data []byte) []byte {
	if op.input != nil {
		return op.input
	}
	switch {
	case op.hasher != nil && op.multi:
		op.input = op.hasher.Sum(nil)
	case op.hasher != nil:
		op.hasher.Write(data)
		op.input = op.hasher.Sum(nil)
	case op.multi:
		op.input = op.buf
	default:
		op.input = append([]byte{}, data...)
	}
	return op.input
}

// Request builds the sign order for the digest or DigestInfo in input (what
// Input returned).
func (op *SignOp) Request(input []byte, opID, description string) (*SignRequest, error) {
	req := &SignRequest{OperationID: opID, KeyID: op.Key.ID, InputFormat: "hex", Description: description}
	switch op.spec.kind {
	case kindPKCS1:
		if op.spec.hash != 0 {
			input = DigestInfo(op.spec.hash, input)
		} else if _, ok := ParseDigestInfo(input); !ok {
			return nil, errorf(CKR_DATA_INVALID, "CKM_RSA_PKCS input must be a SHA-256, SHA-384 or SHA-512 DigestInfo")
		}
		req.InputPadding, req.SignatureFormat = "digestinfo", "asn1"
	case kindPSS:
		if len(input) != op.pssHash.Size() {
			return nil, errorf(CKR_DATA_LEN_RANGE, "RSA-PSS input must be a %d-byte digest", op.pssHash.Size())
		}
		req.InputPadding, req.SignatureFormat, req.HashAlgorithm = "pss", "asn1", hashNames[op.pssHash]
	case kindECDSA:
		if len(input) == 0 || len(input) > 64 {
			return nil, errorf(CKR_DATA_LEN_RANGE, "ECDSA input must be a digest of 1 to 64 bytes")
		}
		req.InputPadding, req.SignatureFormat = "none", "p1363"
	}
	req.InputData = hex.EncodeToString(input)
	return req, nil
}

// MechanismInfo describes mech for the given keys: key size range and flags.
func MechanismInfo(mech uint, keys []*Key) (minBits, maxBits, flags uint, ok bool) {
	spec, known := mechSpecs[mech]
	if !known {
		return 0, 0, 0, false
	}
	for _, k := range keys {
		if k.Type != spec.keyType {
			continue
		}
		b := uint(k.Bits)
		if !ok || b < minBits {
			minBits = b
		}
		if b > maxBits {
			maxBits = b
		}
		ok = true
	}
	flags = CKF_SIGN | CKF_HW
	if spec.keyType == CKK_EC {
		flags |= CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS
	}
	return minBits, maxBits, flags, ok
}

// Mechanisms lists the mechanisms of the keys' types, in a stable order.
func Mechanisms(keys []*Key) []uint {
	var hasRSA, hasEC bool
	for _, k := range keys {
		hasRSA = hasRSA || k.Type == CKK_RSA
		hasEC = hasEC || k.Type == CKK_EC
	}
	var out []uint
	if hasRSA {
		out = append(out, rsaMechs...)
	}
	if hasEC {
		out = append(out, ecMechs...)
	}
	return out
}
