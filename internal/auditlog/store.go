package auditlog

import (
	"context"
	"errors"
)

// Errors a Store returns.
var (
	ErrNotFound = errors.New("not found")
	// ErrConflict: another writer took the place first (a chain position or
	// a checkpoint number); read again and retry.
	ErrConflict = errors.New("conflict")
)

// Pending is a chain the store's index lists: one that may hold records
// not yet sealed.
type Pending struct {
	Chain string
	// Idle: when it was listed, the chain's owner (an operation) had been
	// finished, and its index row untouched, for longer than the store's
	// grace, so that no writer can still add a record without listing the
	// chain again. An idle chain found sealed to its head leaves the index.
	Idle bool
	// Mark is the store's: what it needs to remove the index row only if no
	// writer touched it since it was listed (its ETag).
	Mark string
}

// Segment is a run of consecutive records of one chain sealed at
// consecutive leaves: records First to Last at leaves Leaf to
// Leaf+Last-First, in checkpoint N. Hash is record Last's hash, so that the
// latest segment of a chain is where the tree holds it (its sealed head).
type Segment struct {
	Chain       string
	First, Last uint64
	Leaf        uint64
	N           uint64
	Hash        Hash
}

// Head is where the segment leaves its chain.
func (s Segment) Head() Head { return Head{Seq: s.Last, Hash: s.Hash} }

// SealState is what is written beside a checkpoint, unsigned: the segments
// it sealed and the tiles of its tree that it wrote or widened.
type SealState struct {
	Segments []Segment
	Tiles    []Tile
}

// Store keeps the log. Records are written by the Keyserver's stores in
// the transactions of the changes they record; the sealer reads them and
// writes checkpoints.
type Store interface {
	TileStore
	// PendingChains lists the chains the index holds: every chain that may
	// hold records not yet sealed. It never reads through the tables.
	PendingChains(ctx context.Context) ([]Pending, error)
	// ReleaseChains removes the chains from the index (the sealer found
	// them idle and sealed to their heads); a chain whose index row changed
	// since it was listed stays.
	ReleaseChains(ctx context.Context, chains []Pending) error
	// UnsealedRecords returns the records of chain after head after, by row,
	// to the chain's head.
	UnsealedRecords(ctx context.Context, chain string, after Head) ([]Stored, error)
	// ChainRecords returns the records of chain from sequence number from
	// on, by row.
	ChainRecords(ctx context.Context, chain string, from uint64) ([]Stored, error)
	// Record returns record chain#seq, by one point read, or ErrNotFound.
	Record(ctx context.Context, chain string, seq uint64) (Stored, error)
	// SealedHeads returns where each chain named stands in the tree (its
	// latest segment); a chain never sealed is absent.
	SealedHeads(ctx context.Context, chains []string) (map[string]Head, error)
	// SealedAt returns the segment that sealed record chain#seq, or
	// ErrNotFound.
	SealedAt(ctx context.Context, chain string, seq uint64) (Segment, error)
	// LatestCheckpoint returns the latest checkpoint, or ErrNotFound.
	LatestCheckpoint(ctx context.Context) (*Sealed, error)
	// Checkpoints returns up to limit checkpoints from number from on.
	Checkpoints(ctx context.Context, from uint64, limit int) ([]Sealed, error)
	// PutCheckpoint writes a checkpoint, its segments and tiles at once, and
	// notes that the tree is stored through it; ErrConflict when its number
	// is taken.
	PutCheckpoint(ctx context.Context, s *Sealed, st SealState) error
	// TreeStored returns the number of the last checkpoint whose segments
	// and tiles are stored (0: none). Checkpoints written before tiles were
	// stored lack them until the sealer stores them with PutTree.
	TreeStored(ctx context.Context) (uint64, error)
	// PutTree stores the segments and tiles of checkpoint n, written before
	// tiles were, then notes that the tree is stored through n.
	PutTree(ctx context.Context, n uint64, st SealState) error
}
