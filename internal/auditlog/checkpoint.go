package auditlog

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Checkpoint seals the tree at a size. Its Body is what the audit key signs.
type Checkpoint struct {
	N    uint64    // 1 for the first checkpoint, then one more each time
	Size uint64    // the number of leaves in the tree
	Root Hash      // RootHash of those leaves
	Time time.Time // when it was sealed, to the microsecond, UTC
	Prev Hash      // Hash of checkpoint N-1; zero for N = 1
	// Certificate is the CertificateHash of the certificate whose key
	// signed the checkpoint: a v2 body. Zero in a v1 body, which names none
	// and was signed with the log's first certificate.
	Certificate Hash
}

const (
	checkpointTag   = "keyserver audit checkpoint v1"
	checkpointTagV2 = "keyserver audit checkpoint v2"
	timeLayout      = "2006-01-02T15:04:05.000000Z"
)

// Body is the signed text (docs/AUDIT.md, "Checkpoints"): six lines in v1,
// seven in v2 (the certificate's hash last), each ending in "\n".
func (c *Checkpoint) Body() []byte {
	if c.Certificate.IsZero() {
		return fmt.Appendf(nil, "%s\n%d\n%d\n%s\n%s\n%s\n", checkpointTag, c.N, c.Size, c.Root, Normalize(c.Time).Format(timeLayout), c.Prev)
	}
	return fmt.Appendf(nil, "%s\n%d\n%d\n%s\n%s\n%s\n%s\n", checkpointTagV2, c.N, c.Size, c.Root, Normalize(c.Time).Format(timeLayout), c.Prev, c.Certificate)
}

// CertificateHash names a certificate: SHA-256 of its DER.
func CertificateHash(cert *x509.Certificate) Hash { return sha256.Sum256(cert.Raw) }

// Hash is SHA-256(Body()), what the next checkpoint's Prev holds.
func (c *Checkpoint) Hash() Hash { return sha256.Sum256(c.Body()) }

// ParseBody reads a checkpoint body, accepting only the exact bytes Body writes.
func ParseBody(b []byte) (*Checkpoint, error) {
	lines := strings.Split(string(b), "\n")
	v2 := len(lines) == 8 && lines[0] == checkpointTagV2
	if !v2 && (len(lines) != 7 || lines[0] != checkpointTag) || lines[len(lines)-1] != "" {
		return nil, errors.New("not a keyserver audit checkpoint v1 or v2 body")
	}
	c := &Checkpoint{}
	var err error
	if v2 {
		if c.Certificate, err = ParseHash(lines[6]); err != nil || c.Certificate.IsZero() {
			return nil, fmt.Errorf("checkpoint certificate: %q is not a certificate's SHA-256", lines[6])
		}
	}
	if c.N, err = strconv.ParseUint(lines[1], 10, 64); err != nil {
		return nil, fmt.Errorf("checkpoint number: %w", err)
	}
	if c.Size, err = strconv.ParseUint(lines[2], 10, 64); err != nil {
		return nil, fmt.Errorf("checkpoint tree size: %w", err)
	}
	if c.Root, err = ParseHash(lines[3]); err != nil {
		return nil, fmt.Errorf("checkpoint root: %w", err)
	}
	if c.Time, err = time.Parse(timeLayout, lines[4]); err != nil {
		return nil, fmt.Errorf("checkpoint time: %w", err)
	}
	if c.Prev, err = ParseHash(lines[5]); err != nil {
		return nil, fmt.Errorf("previous checkpoint hash: %w", err)
	}
	if string(c.Body()) != string(b) {
		return nil, errors.New("the checkpoint body is not in its canonical form")
	}
	return c, nil
}

// Signer is the HSM signer every Keyserver signature goes through (the
// same method set as keyserver.ContextSigner). ECDSA signatures are ASN.1 DER.
type Signer interface {
	Public() crypto.PublicKey
	SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error)
}

// hashFor is the hash a key signs checkpoints with: SHA-384 for P-384,
// SHA-512 for P-521, SHA-256 otherwise (RSA PKCS #1 v1.5 or P-256).
func hashFor(pub crypto.PublicKey) (crypto.Hash, x509.SignatureAlgorithm, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return crypto.SHA256, x509.SHA256WithRSA, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return crypto.SHA256, x509.ECDSAWithSHA256, nil
		case elliptic.P384():
			return crypto.SHA384, x509.ECDSAWithSHA384, nil
		case elliptic.P521():
			return crypto.SHA512, x509.ECDSAWithSHA512, nil
		}
	}
	return 0, 0, fmt.Errorf("an audit key must be RSA or ECDSA P-256, P-384 or P-521, not %T", pub)
}

// Sign signs c's body with s and checks the signature against cert before
// returning it.
func Sign(ctx context.Context, s Signer, cert *x509.Certificate, c *Checkpoint) ([]byte, error) {
	h, _, err := hashFor(s.Public())
	if err != nil {
		return nil, err
	}
	d := h.New()
	d.Write(c.Body())
	sig, err := s.SignContext(ctx, d.Sum(nil), h)
	if err != nil {
		return nil, err
	}
	if err := VerifySignature(cert, c, sig); err != nil {
		return nil, fmt.Errorf("the audit key's signature of checkpoint %d does not verify with its certificate: %w", c.N, err)
	}
	return sig, nil
}

// VerifySignature checks sig over c's body with the certificate's public
// key. A v2 body must name cert.
func VerifySignature(cert *x509.Certificate, c *Checkpoint, sig []byte) error {
	if !c.Certificate.IsZero() && c.Certificate != CertificateHash(cert) {
		return fmt.Errorf("checkpoint %d names certificate %s, not %s", c.N, c.Certificate, CertificateHash(cert))
	}
	_, alg, err := hashFor(cert.PublicKey)
	if err != nil {
		return err
	}
	return cert.CheckSignature(alg, c.Body(), sig)
}
