package auditlog

import (
	"crypto/x509"
	"fmt"
	"sort"
	"time"
)

// Leaf is one record in the tree, as the checkpoint that added it lists it.
type Leaf struct {
	Chain string
	Seq   uint64
	Time  time.Time
	Hash  Hash
}

// Sealed is a signed checkpoint with the leaves it added to the tree, in
// tree order. The leaves are not signed: the signed root commits to them.
type Sealed struct {
	Checkpoint Checkpoint
	Signature  []byte
	Leaves     []Leaf
}

// Stored is a record as storage holds it. Row is the position storage keeps
// it at in its chain (its row key); a reordering changes the record, not the row.
type Stored struct {
	Row    uint64
	Record Record
}

// Consistency is a consistency proof between two checkpoints, as a server
// gave it.
type Consistency struct {
	From, To uint64 // checkpoint numbers
	Proof    []Hash
}

// Log is what the offline verifier checks.
type Log struct {
	// Certificate is the log's first audit certificate, trusted as given;
	// Certificates are every other one a checkpoint may name.
	Certificate  *x509.Certificate
	Certificates []*x509.Certificate
	Checkpoints  []Sealed // every checkpoint, by number
	Records      []Stored // every record of Since or later, each chain in row order
	Since        time.Time
	Proofs       []Consistency
	// Known are checkpoints kept elsewhere (from an earlier export): each
	// must be in the log unchanged.
	Known []Checkpoint
}

// Problem kinds.
const (
	KindEdited            = "edited"
	KindReordered         = "reordered"
	KindInserted          = "inserted"
	KindDeleted           = "deleted"
	KindCheckpointMissing = "checkpoint missing"
	KindCheckpointInvalid = "checkpoint invalid"
)

// Problem is one thing the verifier found wrong.
type Problem struct {
	Kind       string
	Record     string // the record's id, when the problem is a record's
	Checkpoint uint64 // the checkpoint's number, when it is a checkpoint's
	Message    string
	time       time.Time
}

func (p Problem) String() string {
	if p.Record != "" {
		return fmt.Sprintf("record %s %s: %s", p.Record, p.Kind, p.Message)
	}
	return fmt.Sprintf("checkpoint %d: %s: %s", p.Checkpoint, p.Kind, p.Message)
}

// Report is the verifier's answer. Problems come checkpoints first, then
// records oldest first; the first one is what a tamperer changed first.
type Report struct {
	Problems    []Problem
	Records     int // records checked
	Sealed      int // of which under a checkpoint
	Checkpoints int
	// Certificates is the number of audit certificates trusted: the first,
	// and every later one introduced by a rotation.
	Certificates int
	Latest       *Checkpoint // the latest checkpoint that verified, if any
}

// OK reports whether nothing was found wrong.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// SealSlack is how long the sealer may take to see a record: a record
// older than a checkpoint by more than this, and under no checkpoint, was
// put into storage after that checkpoint was sealed.
const SealSlack = 10 * time.Minute

type chainSeq struct {
	chain string
	seq   uint64
}

// Verify checks every checkpoint's signature, number, link and root, every
// consistency proof between consecutive checkpoints, every record's chain
// link and its inclusion in the tree, and that no record under a checkpoint
// is missing.
func Verify(l *Log) *Report {
	v := &verifier{log: l, rep: &Report{}, leafAt: map[chainSeq]int{}, tree: NewTree(nil)}
	v.checkpoints()
	v.records()
	v.rep.Certificates = len(v.trusted)
	sort.SliceStable(v.rep.Problems, func(i, j int) bool {
		a, b := v.rep.Problems[i], v.rep.Problems[j]
		if (a.Record == "") != (b.Record == "") {
			return a.Record == ""
		}
		return a.time.Before(b.time)
	})
	return v.rep
}

type verifier struct {
	log    *Log
	rep    *Report
	leaves []Leaf
	leafAt map[chainSeq]int
	tree   *Tree
	broken bool // a checkpoint failed: which records are sealed is unknown
	// trusted are the audit certificates trusted so far, by CertificateHash.
	trusted map[Hash]*x509.Certificate
}

func (v *verifier) problem(p Problem) { v.rep.Problems = append(v.rep.Problems, p) }

func (v *verifier) cpProblem(n uint64, kind, format string, args ...any) {
	v.broken = true
	v.problem(Problem{Kind: kind, Checkpoint: n, Message: fmt.Sprintf(format, args...)})
}
