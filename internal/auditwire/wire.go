// Package auditwire is the JSON of the Keyserver's audit routes and of an
// audit export directory (docs/AUDIT.md): the server, the ks CLI and the
// export share it.
package auditwire

import (
	"fmt"
	"time"

	"keyserver/internal/auditlog"
)

// TimeLayout is how audit times are written: UTC, to the microsecond.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// Actor is who did what a record says.
type Actor struct {
	Issuer  string `json:"issuer"`
	Subject string `json:"subject"`
	Kind    string `json:"kind"`
}

// Record is one record, with where storage keeps it and, once sealed,
// its place in the tree.
type Record struct {
	ID          string `json:"id"`
	Chain       string `json:"chain"`
	Seq         uint64 `json:"seq"`
	Row         uint64 `json:"row"`
	Prev        string `json:"prev"`
	Time        string `json:"time"`
	Event       string `json:"event"`
	Actor       Actor  `json:"actor"`
	OperationID string `json:"operationid"`
	KeyID       string `json:"keyid"`
	Target      string `json:"target"`
	Digest      string `json:"digest"`
	Result      string `json:"result"`
	Detail      string `json:"detail"`
	Hash        string `json:"hash"`
}

// Page is one page of GET /api/audit.
type Page struct {
	Records []Record `json:"records"`
	// Next is the value of the next page's "page" parameter; empty on the last page.
	Next string `json:"next,omitempty"`
}

// Leaf is a record as a checkpoint's leaf list names it.
type Leaf struct {
	Chain string `json:"chain"`
	Seq   uint64 `json:"seq"`
	Time  string `json:"time"`
	Hash  string `json:"hash"`
}

// Checkpoint is a signed checkpoint and the leaves it added.
type Checkpoint struct {
	N    uint64 `json:"n"`
	Size uint64 `json:"size"`
	Root string `json:"root"`
	Time string `json:"time"`
	Prev string `json:"prev"`
	// Certificate is the SHA-256 of the certificate that signed it, as a
	// v2 body names it; empty for a v1 body.
	Certificate string `json:"certificate,omitempty"`
	Body        string `json:"body"`
	Signature   []byte `json:"signature"`
	Leaves      []Leaf `json:"leaves"`
}

// Key is the audit key's first certificate, and every certificate a
// checkpoint may name.
type Key struct {
	Certificate string `json:"certificate"`
	// SHA256 is the SHA-256 of the certificate's DER, hex, to compare with
	// a copy kept elsewhere.
	SHA256 string `json:"sha256"`
	// Certificates are every certificate of the audit key, the first first,
	// in the order they were first used.
	Certificates []KeyCertificate `json:"certificates"`
}

// KeyCertificate is one certificate of the audit key.
type KeyCertificate struct {
	Certificate string `json:"certificate"`
	SHA256      string `json:"sha256"`
	// Record is the id of the audit.key record that introduced it (empty
	// for a certificate stored before certificates were recorded).
	Record string `json:"record"`
}

// Inclusion proves a record is in the tree of a checkpoint.
type Inclusion struct {
	Record     string   `json:"record"`
	LeafIndex  uint64   `json:"leafindex"`
	LeafHash   string   `json:"leafhash"`
	Checkpoint uint64   `json:"checkpoint"`
	TreeSize   uint64   `json:"treesize"`
	Root       string   `json:"root"`
	Proof      []string `json:"proof"`
}

// Consistency proves that one checkpoint's tree is a prefix of another's.
type Consistency struct {
	From     uint64   `json:"from"`
	To       uint64   `json:"to"`
	FromSize uint64   `json:"fromsize"`
	ToSize   uint64   `json:"tosize"`
	Proof    []string `json:"proof"`
}

func wireTime(t time.Time) string { return auditlog.Normalize(t).Format(TimeLayout) }

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(TimeLayout, s)
	if err != nil {
		return t, fmt.Errorf("time %q is not %s", s, TimeLayout)
	}
	return t, nil
}

// RecordOf is the wire form of a stored record.
func RecordOf(s auditlog.Stored) Record {
	r := s.Record
	return Record{ID: r.ID(), Chain: r.Chain, Seq: r.Seq, Row: s.Row, Prev: r.Prev.String(), Time: wireTime(r.Time),
		Event: r.Event, Actor: Actor{r.ActorIssuer, r.ActorSubject, r.ActorKind}, OperationID: r.OperationID, KeyID: r.KeyID,
		Target: r.Target, Digest: r.Digest, Result: r.Result, Detail: r.Detail, Hash: r.LeafHash().String()}
}

// Stored reads a wire record back. Its hash is not trusted: the verifier
// computes it.
func (a *Record) Stored() (auditlog.Stored, error) {
	prev, err := auditlog.ParseHash(a.Prev)
	if err != nil {
		return auditlog.Stored{}, fmt.Errorf("record %s: %w", a.ID, err)
	}
	t, err := parseTime(a.Time)
	if err != nil {
		return auditlog.Stored{}, fmt.Errorf("record %s: %w", a.ID, err)
	}
	return auditlog.Stored{Row: a.Row, Record: auditlog.Record{Chain: a.Chain, Seq: a.Seq, Prev: prev, Time: t, Event: a.Event,
		ActorIssuer: a.Actor.Issuer, ActorSubject: a.Actor.Subject, ActorKind: a.Actor.Kind, OperationID: a.OperationID, KeyID: a.KeyID,
		Target: a.Target, Digest: a.Digest, Result: a.Result, Detail: a.Detail}}, nil
}

// CheckpointOf is the wire form of a sealed checkpoint.
func CheckpointOf(s *auditlog.Sealed) Checkpoint {
	c := &s.Checkpoint
	out := Checkpoint{N: c.N, Size: c.Size, Root: c.Root.String(), Time: wireTime(c.Time), Prev: c.Prev.String(),
		Body: string(c.Body()), Signature: s.Signature, Leaves: make([]Leaf, len(s.Leaves))}
	if !c.Certificate.IsZero() {
		out.Certificate = c.Certificate.String()
	}
	for i, l := range s.Leaves {
		out.Leaves[i] = Leaf{Chain: l.Chain, Seq: l.Seq, Time: wireTime(l.Time), Hash: l.Hash.String()}
	}
	return out
}

// Sealed reads a wire checkpoint back from its body, which is what was
// signed; the other fields must agree with it.
func (a *Checkpoint) Sealed() (*auditlog.Sealed, error) {
	c, err := auditlog.ParseBody([]byte(a.Body))
	if err != nil {
		return nil, fmt.Errorf("checkpoint %d: %w", a.N, err)
	}
	cert := ""
	if !c.Certificate.IsZero() {
		cert = c.Certificate.String()
	}
	if c.N != a.N || c.Size != a.Size || c.Root.String() != a.Root || c.Prev.String() != a.Prev || wireTime(c.Time) != a.Time || cert != a.Certificate {
		return nil, fmt.Errorf("checkpoint %d: its fields differ from its signed body", a.N)
	}
	s := &auditlog.Sealed{Checkpoint: *c, Signature: a.Signature, Leaves: make([]auditlog.Leaf, len(a.Leaves))}
	for i, l := range a.Leaves {
		h, err := auditlog.ParseHash(l.Hash)
		if err != nil {
			return nil, fmt.Errorf("checkpoint %d, leaf %d: %w", a.N, i, err)
		}
		t, err := parseTime(l.Time)
		if err != nil {
			return nil, fmt.Errorf("checkpoint %d, leaf %d: %w", a.N, i, err)
		}
		s.Leaves[i] = auditlog.Leaf{Chain: l.Chain, Seq: l.Seq, Time: t, Hash: h}
	}
	return s, nil
}

// HexHashes writes hashes as hex.
func HexHashes(hs []auditlog.Hash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.String()
	}
	return out
}

// ParseHashes reads hex hashes.
func ParseHashes(ss []string) ([]auditlog.Hash, error) {
	out := make([]auditlog.Hash, len(ss))
	for i, s := range ss {
		h, err := auditlog.ParseHash(s)
		if err != nil {
			return nil, err
		}
		out[i] = h
	}
	return out, nil
}
