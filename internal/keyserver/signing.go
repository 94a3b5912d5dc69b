package keyserver

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// SignOrder is a request to sign, as the PKCS#11 client sends it through POST /api/signorders.
type SignOrder struct {
	OperationID     string
	KeyID           string
	InputData       string
	InputFormat     string
	InputPadding    string
	SignatureFormat string
	Description     string
	HashAlgorithm   string
}

// SignResult is the answer to a sign order; Result uses the order's input format.
type SignResult struct {
	KeyID           string
	InputData       string
	SignatureFormat string
	Result          string
	// AuditRecord is the id of the signature's audit record.
	AuditRecord string
	// Took is how long the signature's steps took (for the request log).
	Took SignSteps
}

// SignSteps are the wall times of a signature's steps: reserving its use,
// the HSM signing (and the signature's checks), and completing the use.
type SignSteps struct {
	Reserve, HSM, Complete time.Duration
}

// Input paddings and signature formats of the wire protocol.
const (
	PaddingDigestInfo = "digestinfo"
	PaddingNone       = "none"
	PaddingPSS        = "pss"
	FormatASN1        = "asn1"
	FormatP1363       = "p1363"
	InputHex          = "hex"
	InputBase64       = "base64"
)

// signPlan is a validated order: the digest, how to sign it and how to
// encode the answer.
type signPlan struct {
	digest []byte
	opts   crypto.SignerOpts
	format string
}

var hashesByName = map[string]crypto.Hash{
	"SHA256": crypto.SHA256, "SHA384": crypto.SHA384, "SHA512": crypto.SHA512,
}

func hashByName(name string) (crypto.Hash, bool) {
	h, ok := hashesByName[strings.ToUpper(strings.ReplaceAll(name, "-", ""))]
	return h, ok
}

func hashBySize(n int) (crypto.Hash, bool) {
	for _, h := range []crypto.Hash{crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		if h.Size() == n {
			return h, true
		}
	}
	return 0, false
}

// digestInfoPrefixes are the DER encodings of DigestInfo up to the digest
// octets (RFC 8017, section 9.2, note 1).
var digestInfoPrefixes = map[crypto.Hash][]byte{
	crypto.SHA256: {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20},
	crypto.SHA384: {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30},
	crypto.SHA512: {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40},
}

// ParseDigestInfo returns the hash and digest of a DER DigestInfo for
// SHA-256, SHA-384 or SHA-512.
func ParseDigestInfo(b []byte) (crypto.Hash, []byte, error) {
	for h, prefix := range digestInfoPrefixes {
		if len(b) == len(prefix)+h.Size() && bytes.HasPrefix(b, prefix) {
			return h, b[len(prefix):], nil
		}
	}
	return 0, nil, Errorf(EINVALID, "inputdata is not a DER DigestInfo for SHA-256, SHA-384 or SHA-512.")
}

// DigestInfo returns the DER DigestInfo of digest under h.
func DigestInfo(h crypto.Hash, digest []byte) []byte {
	return append(append([]byte{}, digestInfoPrefixes[h]...), digest...)
}

func decodeInput(format, data string) ([]byte, error) {
	switch format {
	case InputHex, "":
		b, err := hex.DecodeString(data)
		if err != nil {
			return nil, Errorf(EINVALID, "inputdata is not valid hex.")
		}
		return b, nil
	case InputBase64:
		b, err := base64.StdEncoding.DecodeString(data)
		if err != nil {
			return nil, Errorf(EINVALID, "inputdata is not valid base64.")
		}
		return b, nil
	}
	return nil, Errorf(EINVALID, "inputformat must be %q or %q.", InputHex, InputBase64)
}

func encodeOutput(format string, b []byte) string {
	if format == InputBase64 {
		return base64.StdEncoding.EncodeToString(b)
	}
	return hex.EncodeToString(b)
}

// plan validates an order against the key's public key.
func (o *SignOrder) plan(pub crypto.PublicKey) (*signPlan, error) {
	input, err := decodeInput(o.InputFormat, o.InputData)
	if err != nil {
		return nil, err
	}
	var named crypto.Hash
	if o.HashAlgorithm != "" {
		h, ok := hashByName(o.HashAlgorithm)
		if !ok {
			return nil, Errorf(EINVALID, "hashalgorithm must be SHA256, SHA384 or SHA512.")
		}
		named = h
	}
	switch pub.(type) {
	case *rsa.PublicKey:
		return o.planRSA(input, named)
	case *ecdsa.PublicKey:
		return o.planEC(input, named)
	}
	return nil, Errorf(EINVALID, "Key %q has an unsupported key type.", o.KeyID)
}

func (o *SignOrder) planRSA(input []byte, named crypto.Hash) (*signPlan, error) {
	if o.SignatureFormat != FormatASN1 && o.SignatureFormat != "" {
		return nil, Errorf(EINVALID, "RSA key %q signs with signatureformat %q only.", o.KeyID, FormatASN1)
	}
	switch o.InputPadding {
	case PaddingDigestInfo:
		h, digest, err := ParseDigestInfo(input)
		if err != nil {
			return nil, err
		}
		if named != 0 && named != h {
			return nil, Errorf(EINVALID, "hashalgorithm does not match the DigestInfo's hash.")
		}
		return &signPlan{digest: digest, opts: h, format: FormatASN1}, nil
	case PaddingPSS:
		h, err := digestHash(input, named)
		if err != nil {
			return nil, err
		}
		return &signPlan{digest: input, opts: &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: h}, format: FormatASN1}, nil
	}
	return nil, Errorf(EINVALID, "RSA key %q needs inputpadding %q or %q.", o.KeyID, PaddingDigestInfo, PaddingPSS)
}

func (o *SignOrder) planEC(input []byte, named crypto.Hash) (*signPlan, error) {
	if o.InputPadding != PaddingNone && o.InputPadding != "" {
		return nil, Errorf(EINVALID, "EC key %q needs inputpadding %q.", o.KeyID, PaddingNone)
	}
	format := o.SignatureFormat
	if format == "" {
		format = FormatP1363
	}
	if format != FormatP1363 && format != FormatASN1 {
		return nil, Errorf(EINVALID, "signatureformat must be %q or %q.", FormatP1363, FormatASN1)
	}
	h, err := digestHash(input, named)
	if err != nil {
		return nil, err
	}
	return &signPlan{digest: input, opts: h, format: format}, nil
}

// digestHash checks that digest has the length of its hash, named or inferred.
func digestHash(digest []byte, named crypto.Hash) (crypto.Hash, error) {
	if named != 0 {
		if len(digest) != named.Size() {
			return 0, Errorf(EINVALID, "inputdata is %d bytes; a %s digest is %d bytes.", len(digest), named, named.Size())
		}
		return named, nil
	}
	h, ok := hashBySize(len(digest))
	if !ok {
		return 0, Errorf(EINVALID, "inputdata is %d bytes; a SHA-256, SHA-384 or SHA-512 digest is 32, 48 or 64 bytes.", len(digest))
	}
	return h, nil
}

// ECDSAToP1363 converts an ASN.1 DER ECDSA signature to fixed-length r||s.
func ECDSAToP1363(der []byte, curve elliptic.Curve) ([]byte, error) {
	var sig struct{ R, S *big.Int }
	rest, err := asn1.Unmarshal(der, &sig)
	if err != nil || len(rest) != 0 || sig.R == nil || sig.S == nil {
		return nil, fmt.Errorf("parsing ECDSA signature: malformed DER")
	}
	n := (curve.Params().BitSize + 7) / 8
	if sig.R.Sign() <= 0 || sig.S.Sign() <= 0 || len(sig.R.Bytes()) > n || len(sig.S.Bytes()) > n {
		return nil, fmt.Errorf("parsing ECDSA signature: values out of range")
	}
	out := make([]byte, 2*n)
	sig.R.FillBytes(out[:n])
	sig.S.FillBytes(out[n:])
	return out, nil
}

// Algorithm names a public key the way /api/keys reports it, e.g. "RSA-2048"
// or "EC-P256".
func Algorithm(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		switch bits := k.N.BitLen(); bits {
		case 2048, 3072, 4096:
			return fmt.Sprintf("RSA-%d", bits), nil
		default:
			return "", Errorf(EINVALID, "RSA keys of %d bits are not supported; use 2048, 3072 or 4096.", bits)
		}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return "EC-P256", nil
		case elliptic.P384():
			return "EC-P384", nil
		case elliptic.P521():
			return "EC-P521", nil
		}
	}
	return "", Errorf(EINVALID, "The HSM key's type is not supported; use RSA 2048/3072/4096 or EC P-256/P-384/P-521.")
}
