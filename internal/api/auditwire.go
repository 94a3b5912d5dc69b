package api

import (
	"fmt"
	"time"

	"keyserver/internal/auditlog"
)

// The audit routes' JSON. docs/AUDIT.md specifies it; an export directory
// holds the same JSON.

// AuditTimeLayout is how audit times are written: UTC, to the microsecond.
const AuditTimeLayout = "2006-01-02T15:04:05.000000Z"

// AuditActor is who did what a record says.
type AuditActor struct {
	Issuer  string `json:"issuer"`
	Subject string `json:"subject"`
	Kind    string `json:"kind"`
}

// AuditRecord is one record, with where storage keeps it and, once sealed,
// its place in the tree.
type AuditRecord struct {
	ID          string     `json:"id"`
	Chain       string     `json:"chain"`
	Seq         uint64     `json:"seq"`
	Row         uint64     `json:"row"`
	Prev        string     `json:"prev"`
	Time        string     `json:"time"`
	Event       string     `json:"event"`
	Actor       AuditActor `json:"actor"`
	OperationID string     `json:"operationid"`
	KeyID       string     `json:"keyid"`
	Target      string     `json:"target"`
	Digest      string     `json:"digest"`
	Result      string     `json:"result"`
	Detail      string     `json:"detail"`
	Hash        string     `json:"hash"`
}

// AuditPage is one page of GET /api/audit.
type AuditPage struct {
	Records []AuditRecord `json:"records"`
	// Next is the value of the next page's "page" parameter; empty on the last page.
	Next string `json:"next,omitempty"`
}

// AuditLeaf is a record as a checkpoint's leaf list names it.
type AuditLeaf struct {
	Chain string `json:"chain"`
	Seq   uint64 `json:"seq"`
	Time  string `json:"time"`
	Hash  string `json:"hash"`
}

// AuditCheckpoint is a signed checkpoint and the leaves it added.
type AuditCheckpoint struct {
	N         uint64      `json:"n"`
	Size      uint64      `json:"size"`
	Root      string      `json:"root"`
	Time      string      `json:"time"`
	Prev      string      `json:"prev"`
	Body      string      `json:"body"`
	Signature []byte      `json:"signature"`
	Leaves    []AuditLeaf `json:"leaves"`
}

// AuditKey is the audit key's certificate.
type AuditKey struct {
	Certificate string `json:"certificate"`
	// SHA256 is the SHA-256 of the certificate's DER, hex, to compare with
	// a copy kept elsewhere.
	SHA256 string `json:"sha256"`
}

// AuditInclusion proves a record is in the tree of a checkpoint.
type AuditInclusion struct {
	Record     string   `json:"record"`
	LeafIndex  uint64   `json:"leafindex"`
	LeafHash   string   `json:"leafhash"`
	Checkpoint uint64   `json:"checkpoint"`
	TreeSize   uint64   `json:"treesize"`
	Root       string   `json:"root"`
	Proof      []string `json:"proof"`
}

// AuditConsistency proves that one checkpoint's tree is a prefix of another's.
type AuditConsistency struct {
	From     uint64   `json:"from"`
	To       uint64   `json:"to"`
	FromSize uint64   `json:"fromsize"`
	ToSize   uint64   `json:"tosize"`
	Proof    []string `json:"proof"`
}

func auditTime(t time.Time) string { return auditlog.Normalize(t).Format(AuditTimeLayout) }

func parseAuditTime(s string) (time.Time, error) {
	t, err := time.Parse(AuditTimeLayout, s)
	if err != nil {
		return t, fmt.Errorf("time %q is not %s", s, AuditTimeLayout)
	}
	return t, nil
}

// AuditRecordOf is the wire form of a stored record.
func AuditRecordOf(s auditlog.Stored) AuditRecord {
	r := s.Record
	return AuditRecord{ID: r.ID(), Chain: r.Chain, Seq: r.Seq, Row: s.Row, Prev: r.Prev.String(), Time: auditTime(r.Time),
		Event: r.Event, Actor: AuditActor{r.ActorIssuer, r.ActorSubject, r.ActorKind}, OperationID: r.OperationID, KeyID: r.KeyID,
		Target: r.Target, Digest: r.Digest, Result: r.Result, Detail: r.Detail, Hash: r.LeafHash().String()}
}

// Stored reads a wire record back. Its hash is not trusted: the verifier
// computes it.
func (a *AuditRecord) Stored() (auditlog.Stored, error) {
	prev, err := auditlog.ParseHash(a.Prev)
	if err != nil {
		return auditlog.Stored{}, fmt.Errorf("record %s: %w", a.ID, err)
	}
	t, err := parseAuditTime(a.Time)
	if err != nil {
		return auditlog.Stored{}, fmt.Errorf("record %s: %w", a.ID, err)
	}
	return auditlog.Stored{Row: a.Row, Record: auditlog.Record{Chain: a.Chain, Seq: a.Seq, Prev: prev, Time: t, Event: a.Event,
		ActorIssuer: a.Actor.Issuer, ActorSubject: a.Actor.Subject, ActorKind: a.Actor.Kind, OperationID: a.OperationID, KeyID: a.KeyID,
		Target: a.Target, Digest: a.Digest, Result: a.Result, Detail: a.Detail}}, nil
}

// AuditCheckpointOf is the wire form of a sealed checkpoint.
func AuditCheckpointOf(s *auditlog.Sealed) AuditCheckpoint {
	c := &s.Checkpoint
	out := AuditCheckpoint{N: c.N, Size: c.Size, Root: c.Root.String(), Time: auditTime(c.Time), Prev: c.Prev.String(),
		Body: string(c.Body()), Signature: s.Signature, Leaves: make([]AuditLeaf, len(s.Leaves))}
	for i, l := range s.Leaves {
		out.Leaves[i] = AuditLeaf{Chain: l.Chain, Seq: l.Seq, Time: auditTime(l.Time), Hash: l.Hash.String()}
	}
	return out
}

// Sealed reads a wire checkpoint back from its body, which is what was
// signed; the other fields must agree with it.
func (a *AuditCheckpoint) Sealed() (*auditlog.Sealed, error) {
	c, err := auditlog.ParseBody([]byte(a.Body))
	if err != nil {
		return nil, fmt.Errorf("checkpoint %d: %w", a.N, err)
	}
	if c.N != a.N || c.Size != a.Size || c.Root.String() != a.Root || c.Prev.String() != a.Prev || auditTime(c.Time) != a.Time {
		return nil, fmt.Errorf("checkpoint %d: its fields differ from its signed body", a.N)
	}
	s := &auditlog.Sealed{Checkpoint: *c, Signature: a.Signature, Leaves: make([]auditlog.Leaf, len(a.Leaves))}
	for i, l := range a.Leaves {
		h, err := auditlog.ParseHash(l.Hash)
		if err != nil {
			return nil, fmt.Errorf("checkpoint %d, leaf %d: %w", a.N, i, err)
		}
		t, err := parseAuditTime(l.Time)
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
