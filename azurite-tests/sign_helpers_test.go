package azuritetests

import (
	"crypto"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"keyserver/internal/api"
	"keyserver/internal/keyserver"
)

// mustSign posts a sign order and checks the 201 answer echoes the order.
func mustSign(tb testing.TB, token string, o api.SignOrder) api.SignResult {
	tb.Helper()
	var res api.SignResult
	mustDo(tb, "POST", "/api/signorders", token, o).mustDecode(tb, http.StatusCreated, &res)
	if res.KeyID != o.KeyID || res.InputData != o.InputData || res.Result == "" {
		tb.Fatalf("sign answer keyid %q, inputdata %q, result %d chars; want keyid %q and the order's inputdata", res.KeyID, res.InputData, len(res.Result), o.KeyID)
	}
	if o.SignatureFormat != "" && res.SignatureFormat != o.SignatureFormat {
		tb.Fatalf("signatureformat = %q, want %q", res.SignatureFormat, o.SignatureFormat)
	}
	return res
}

// encodeInput encodes b as a sign order's inputformat does.
func encodeInput(format string, b []byte) string {
	if format == keyserver.InputBase64 {
		return base64.StdEncoding.EncodeToString(b)
	}
	return hex.EncodeToString(b)
}

// mustDecodeResult decodes a sign result in the order's inputformat.
func mustDecodeResult(tb testing.TB, format, s string) []byte {
	tb.Helper()
	var b []byte
	var err error
	if format == keyserver.InputBase64 {
		b, err = base64.StdEncoding.DecodeString(s)
	} else {
		b, err = hex.DecodeString(s)
	}
	if err != nil {
		tb.Fatalf("result is not %s: %v", format, err)
	}
	return b
}

// hashOf returns the digest of msg under h.
func hashOf(h crypto.Hash, msg []byte) []byte {
	w := h.New()
	w.Write(msg)
	return w.Sum(nil)
}

// hashOIDs identify the digests in a DigestInfo (RFC 8017, appendix B.1).
var hashOIDs = map[crypto.Hash]asn1.ObjectIdentifier{
	crypto.SHA256: {2, 16, 840, 1, 101, 3, 4, 2, 1},
	crypto.SHA384: {2, 16, 840, 1, 101, 3, 4, 2, 2},
	crypto.SHA512: {2, 16, 840, 1, 101, 3, 4, 2, 3},
}

// mustDigestInfo DER-encodes a DigestInfo independently of the product code.
func mustDigestInfo(tb testing.TB, h crypto.Hash, digest []byte) []byte {
	tb.Helper()
	di := struct {
		Algorithm pkix.AlgorithmIdentifier
		Digest    []byte
	}{pkix.AlgorithmIdentifier{Algorithm: hashOIDs[h], Parameters: asn1.NullRawValue}, digest}
	b, err := asn1.Marshal(di)
	if err != nil {
		tb.Fatalf("encoding DigestInfo: %v", err)
	}
	return b
}

// mustP1363ToDER turns a fixed-length r||s into an ASN.1 DER ECDSA signature.
func mustP1363ToDER(tb testing.TB, sig []byte) []byte {
	tb.Helper()
	n := len(sig) / 2
	der, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])})
	if err != nil {
		tb.Fatalf("encoding ECDSA signature: %v", err)
	}
	return der
}

// mustOpenSSL runs the openssl CLI in dir and fails on error.
func mustOpenSSL(tb testing.TB, dir string, args ...string) {
	tb.Helper()
	if err := openssl(dir, args...); err != nil {
		tb.Fatalf("%v", err)
	}
}

// openssl runs the openssl CLI in dir, in toolEnv's clean environment.
func openssl(dir string, args ...string) error {
	if r := runTool(dir, toolEnv(nil), "openssl", args...); r.Err != nil {
		return fmt.Errorf("openssl %v: %v: %s", args, r.Err, strings.TrimSpace(r.Stdout+r.Stderr))
	}
	return nil
}

// verifier checks signatures with the openssl CLI against a key's certificate.
type verifier struct {
	dir string
	n   atomic.Int64
}

// mustVerifier writes the certificate's public key to a PEM file with openssl.
func mustVerifier(tb testing.TB, certPEM string) *verifier {
	tb.Helper()
	v := &verifier{dir: tb.TempDir()}
	if err := os.WriteFile(filepath.Join(v.dir, "cert.pem"), []byte(certPEM), 0o600); err != nil {
		tb.Fatalf("writing certificate: %v", err)
	}
	mustOpenSSL(tb, v.dir, "x509", "-in", "cert.pem", "-pubkey", "-noout", "-out", "pub.pem")
	return v
}

// verify runs openssl pkeyutl -verify on digest and a DER signature.
func (v *verifier) verify(digest, sig []byte, pkeyopts ...string) error {
	n := v.n.Add(1)
	in, sf := fmt.Sprintf("digest%d.bin", n), fmt.Sprintf("sig%d.bin", n)
	if err := os.WriteFile(filepath.Join(v.dir, in), digest, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(v.dir, sf), sig, 0o600); err != nil {
		return err
	}
	args := []string{"pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-sigfile", sf, "-in", in}
	for _, o := range pkeyopts {
		args = append(args, "-pkeyopt", o)
	}
	return openssl(v.dir, args...)
}
