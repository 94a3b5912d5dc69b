// Package auditexport reads and writes an audit export directory: the
// records, checkpoints, consistency proofs and audit certificate that
// `ks audit export` fetches and `ks audit verify` checks without the server.
// docs/AUDIT.md describes the layout.
package auditexport

import (
	"bufio"
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"keyserver/internal/auditlog"
	"keyserver/internal/auditwire"
)

// File names in an export directory.
const (
	CertificateFile = "audit-certificate.pem"
	CertificatesDir = "certificates"
	RecordsFile     = "records.jsonl"
	ProofsFile      = "consistency.jsonl"
	ManifestFile    = "export.json"
	CheckpointDir   = "checkpoints"
)

// Manifest says what an export holds.
type Manifest struct {
	Since    string `json:"since,omitempty"` // RFC 3339; empty for the whole log
	Exported string `json:"exported"`
	Server   string `json:"server,omitempty"`
}

// Export is everything an export directory holds, in wire form.
type Export struct {
	Manifest    Manifest
	Certificate string // PEM, the first
	// Certificates are every audit certificate, the first included (PEM);
	// each is written as certificates/<sha256>.pem.
	Certificates []string
	Records      []auditwire.Record
	Checkpoints  []auditwire.Checkpoint
	Proofs       []auditwire.Consistency
}

// CheckpointName is the file name stem of checkpoint n.
func CheckpointName(n uint64) string { return fmt.Sprintf("%08d", n) }

// Write writes e into dir, creating it.
func Write(dir string, e *Export) error {
	for _, d := range []string{CheckpointDir, CertificatesDir} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	files := map[string][]byte{CertificateFile: []byte(e.Certificate)}
	for _, c := range e.Certificates {
		cert, err := ParseCertificate([]byte(c))
		if err != nil {
			return err
		}
		files[CertificatePath(auditlog.CertificateHash(cert))] = []byte(c)
	}
	var err error
	if files[ManifestFile], err = json.MarshalIndent(e.Manifest, "", "  "); err != nil {
		return err
	}
	if files[RecordsFile], err = jsonLines(e.Records); err != nil {
		return err
	}
	if files[ProofsFile], err = jsonLines(e.Proofs); err != nil {
		return err
	}
	for _, c := range e.Checkpoints {
		stem := filepath.Join(CheckpointDir, CheckpointName(c.N))
		if files[stem+".json"], err = json.MarshalIndent(c, "", "  "); err != nil {
			return err
		}
		files[stem+".body"], files[stem+".sig"] = []byte(c.Body), c.Signature
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func jsonLines[T any](vs []T) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for _, v := range vs {
		if err := enc.Encode(v); err != nil {
			return nil, err
		}
	}
	return b.Bytes(), nil
}

func readJSONLines[T any](path string) ([]T, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []T
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for line := 1; sc.Scan(); line++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var v T
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", filepath.Base(path), line, err)
		}
		out = append(out, v)
	}
	return out, sc.Err()
}

// Read reads an export directory into the log the verifier checks. A
// malformed file is an error; a tampered one is the verifier's to find.
func Read(dir string) (*auditlog.Log, error) {
	l := &auditlog.Log{}
	var m Manifest
	if err := readJSON(filepath.Join(dir, ManifestFile), &m); err != nil {
		return nil, err
	}
	if m.Since != "" {
		t, err := time.Parse(time.RFC3339Nano, m.Since)
		if err != nil {
			return nil, fmt.Errorf("%s: since: %w", ManifestFile, err)
		}
		l.Since = t
	}
	cert, err := ReadCertificate(filepath.Join(dir, CertificateFile))
	if err != nil {
		return nil, err
	}
	l.Certificate = cert
	if l.Certificates, err = readCertificates(filepath.Join(dir, CertificatesDir)); err != nil {
		return nil, err
	}
	if l.Checkpoints, err = readCheckpoints(filepath.Join(dir, CheckpointDir)); err != nil {
		return nil, err
	}
	recs, err := readJSONLines[auditwire.Record](filepath.Join(dir, RecordsFile))
	if err != nil {
		return nil, err
	}
	for i := range recs {
		s, err := recs[i].Stored()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", RecordsFile, err)
		}
		l.Records = append(l.Records, s)
	}
	proofs, err := readJSONLines[auditwire.Consistency](filepath.Join(dir, ProofsFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	for _, p := range proofs {
		hs, err := auditwire.ParseHashes(p.Proof)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", ProofsFile, err)
		}
		l.Proofs = append(l.Proofs, auditlog.Consistency{From: p.From, To: p.To, Proof: hs})
	}
	return l, nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return nil
}

// CertificatePath is where an export keeps the certificate of hash h.
func CertificatePath(h auditlog.Hash) string {
	return filepath.Join(CertificatesDir, h.String()+".pem")
}

// readCertificates reads every certificates/*.pem; the verifier names each
// by the SHA-256 of its DER, whatever its file is called. An export written
// before certificates were kept has none.
func readCertificates(dir string) ([]*x509.Certificate, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.pem"))
	if err != nil {
		return nil, err
	}
	var out []*x509.Certificate
	for _, name := range names {
		c, err := ReadCertificate(name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Base(name), err)
		}
		out = append(out, c)
	}
	return out, nil
}

// ReadCertificate reads one PEM certificate.
func ReadCertificate(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseCertificate(b)
}

// ParseCertificate reads one PEM certificate.
func ParseCertificate(b []byte) (*x509.Certificate, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, errors.New("the audit certificate is not a PEM certificate")
	}
	return x509.ParseCertificate(blk.Bytes)
}

// readCheckpoints reads every checkpoints/*.json, by number, checking that
// the .body and .sig files beside it, when present, say the same.
func readCheckpoints(dir string) ([]auditlog.Sealed, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []auditlog.Sealed
	for _, name := range names {
		var c auditwire.Checkpoint
		if err := readJSON(name, &c); err != nil {
			return nil, err
		}
		stem := strings.TrimSuffix(name, ".json")
		if err := sameAs(stem+".body", []byte(c.Body)); err != nil {
			return nil, err
		}
		if err := sameAs(stem+".sig", c.Signature); err != nil {
			return nil, err
		}
		s, err := c.Sealed()
		if err != nil {
			return nil, err
		}
		out = append(out, *s)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Checkpoint.N < out[j].Checkpoint.N })
	return out, nil
}

func sameAs(path string, want []byte) error {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !bytes.Equal(b, want) {
		return fmt.Errorf("%s differs from the checkpoint's JSON", filepath.Base(path))
	}
	return nil
}
