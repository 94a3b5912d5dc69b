package kscli

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"

	"keyserver/internal/ksc"
)

// hashes are the digests ks signs with, by their openssl names.
var hashes = map[string]crypto.Hash{"sha256": crypto.SHA256, "sha384": crypto.SHA384, "sha512": crypto.SHA512}

func parseHash(name string) (crypto.Hash, error) {
	h, ok := hashes[strings.ToLower(strings.ReplaceAll(name, "-", ""))]
	if !ok {
		return 0, fail(ExitUsage, "--hash %q must be sha256, sha384 or sha512", name)
	}
	return h, nil
}

func hashName(h crypto.Hash) string {
	for n, x := range hashes {
		if x == h {
			return n
		}
	}
	return h.String()
}

// hashFile digests a file without loading it whole.
func hashFile(path string, h crypto.Hash) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fail(ExitUsage, "cannot read %s: %v", path, errors.Unwrap(err))
	}
	defer f.Close()
	w := h.New()
	if _, err := io.Copy(w, f); err != nil {
		return nil, fail(ExitError, "reading %s: %v", path, err)
	}
	return w.Sum(nil), nil
}

// certificateKey parses a PEM certificate and returns its RSA or EC public key.
func certificateKey(pemText, what string) (crypto.PublicKey, error) {
	block, _ := pem.Decode([]byte(pemText))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fail(ExitError, "%s is not a PEM certificate", what)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fail(ExitError, "%s cannot be parsed: %v", what, err)
	}
	switch pub := cert.PublicKey.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey:
		return pub, nil
	}
	return nil, fail(ExitError, "%s holds neither an RSA nor an EC key", what)
}

// signOrder asks for the signature openssl dgst -sign makes: PKCS#1 v1.5
// over the DigestInfo for RSA, DER ECDSA-Sig-Value for EC.
func signOrder(opID, keyID string, pub crypto.PublicKey, h crypto.Hash, digest []byte, description string) *ksc.SignOrder {
	o := &ksc.SignOrder{OperationID: opID, KeyID: keyID, InputFormat: "hex", SignatureFormat: "asn1", Description: description}
	if _, ok := pub.(*rsa.PublicKey); ok {
		// The DigestInfo names the hash.
		o.InputPadding = "digestinfo"
		o.InputData = hex.EncodeToString(append(digestInfoPrefix(h), digest...))
	} else {
		o.InputPadding = "none"
		o.InputData = hex.EncodeToString(digest)
		o.HashAlgorithm = strings.ToUpper(hashName(h))
	}
	return o
}

// digestInfoPrefix is the DER DigestInfo up to the digest (RFC 8017, 9.2).
func digestInfoPrefix(h crypto.Hash) []byte {
	oid := map[crypto.Hash]byte{crypto.SHA256: 1, crypto.SHA384: 2, crypto.SHA512: 3}[h]
	n := byte(h.Size())
	return []byte{0x30, 0x11 + n, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, oid, 0x05, 0x00, 0x04, n}
}

// canonical checks sig over digest and returns the bytes openssl writes:
// RSA left-padded to the modulus size, ECDSA as minimal DER.
func canonical(pub crypto.PublicKey, h crypto.Hash, digest, sig []byte) ([]byte, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		size := k.Size()
		if len(sig) > size {
			return nil, errors.New("the signature is longer than the key")
		}
		sig = append(make([]byte, size-len(sig)), sig...)
		if err := rsa.VerifyPKCS1v15(k, h, digest, sig); err != nil {
			return nil, errors.New("the signature does not verify with the key's certificate")
		}
		return sig, nil
	case *ecdsa.PublicKey:
		var v struct{ R, S *big.Int }
		if rest, err := asn1.Unmarshal(sig, &v); err != nil || len(rest) != 0 || v.R == nil || v.S == nil {
			return nil, errors.New("the signature is not a DER ECDSA signature")
		}
		der, err := asn1.Marshal(v)
		if err != nil || !ecdsa.VerifyASN1(k, digest, der) {
			return nil, errors.New("the signature does not verify with the key's certificate")
		}
		return der, nil
	}
	return nil, fmt.Errorf("unsupported key type %T", pub)
}

// verifyFile checks path's signature file against pub.
func verifyFile(pub crypto.PublicKey, h crypto.Hash, path string) error {
	digest, err := hashFile(path, h)
	if err != nil {
		return err
	}
	sig, err := os.ReadFile(path + ".sig")
	if err != nil {
		return fail(ExitUsage, "cannot read the signature %s.sig: %v", path, errors.Unwrap(err))
	}
	if _, err := canonical(pub, h, digest, sig); err != nil {
		return fail(ExitBadSignature, "%s.sig: %v (hash %s)", path, err, hashName(h))
	}
	return nil
}

// writeAtomically writes data to path through a temporary file, so that a
// reader never sees half a signature.
func writeAtomically(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
