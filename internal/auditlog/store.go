package auditlog

import (
	"context"
	"errors"
	"time"
)

// Errors a Store returns.
var (
	ErrNotFound = errors.New("not found")
	// ErrConflict: another writer took the place first (a chain position or
	// a checkpoint number); read again and retry.
	ErrConflict = errors.New("conflict")
)

// SealState is what the sealer keeps beside a checkpoint, unsigned: where
// each chain it sealed stands, and where the next scan for new records starts.
type SealState struct {
	Heads    map[string]Head
	ScanFrom time.Time
}

// Store keeps the log. Records are written by the Keyserver's stores in
// the transactions of the changes they record; the sealer reads them and
// writes checkpoints.
type Store interface {
	// NewRecords returns the records storage received at since or later,
	// in any order.
	NewRecords(ctx context.Context, since time.Time) ([]Stored, error)
	// ChainRecords returns the records of chain from sequence number from
	// on, by row.
	ChainRecords(ctx context.Context, chain string, from uint64) ([]Stored, error)
	// SealedHeads returns where each chain named stands in the tree; a chain
	// never sealed is absent.
	SealedHeads(ctx context.Context, chains []string) (map[string]Head, error)
	// LatestCheckpoint returns the latest checkpoint and the scan start it
	// left, or ErrNotFound.
	LatestCheckpoint(ctx context.Context) (*Sealed, time.Time, error)
	// Checkpoints returns up to limit checkpoints from number from on.
	Checkpoints(ctx context.Context, from uint64, limit int) ([]Sealed, error)
	// PutCheckpoint writes a checkpoint and the chains' new heads at once;
	// ErrConflict when its number is taken.
	PutCheckpoint(ctx context.Context, s *Sealed, st SealState) error
}
