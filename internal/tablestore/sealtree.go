package tablestore

import (
	"context"
	"encoding/base64"
	"fmt"
	"math"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
	"golang.org/x/mod/sumdb/tlog"

	"keyserver/internal/auditlog"
)

// The tree's rows, in partition "seal" of the audit table beside the
// checkpoints, written in the checkpoint's transaction:
//
//	seg~<chain, base64url>~<MaxInt64-first> records first..last of a chain sealed at leaves leaf.. (First, Last, Leaf, N, Hash)
//	tile~<level>~<n>                         tile n of a level of the tree (Data: its hashes, base64; the widest written)
//	tree                                     N: the last checkpoint whose segments and tiles are stored
//
// A chain's latest segment, the first row of its range, is where the tree
// holds it. A record's segment is the first row at or after the row key its
// sequence number would have: the latest segment starting at or before it.
const (
	segmentPfx = "seg~"
	tilePfx    = "tile~"
	treeRow    = "tree"
)

var _ auditlog.Store = (*Store)(nil)

func segmentRange(chain string) string { return segmentPfx + encodeKey(chain) + "~" }

func segmentRowKey(chain string, first uint64) string {
	return latestFirstKey(segmentRange(chain), first)
}

func tileRowKey(level int, n int64) string { return fmt.Sprintf("%s%02d~%015d", tilePfx, level, n) }

func segmentRow(g auditlog.Segment) *row {
	return newRow(sealPartition, segmentRowKey(g.Chain, g.First)).set("Chain", g.Chain).
		set("First", aztables.EDMInt64(g.First)).set("Last", aztables.EDMInt64(g.Last)).
		set("Leaf", aztables.EDMInt64(g.Leaf)).set("N", aztables.EDMInt64(g.N)).set("Hash", g.Hash.String())
}

func segmentOfRow(r *row) (auditlog.Segment, error) {
	h, err := auditlog.ParseHash(r.str("Hash"))
	if err != nil {
		return auditlog.Segment{}, fmt.Errorf("segment row %s: %w", r.RowKey, err)
	}
	return auditlog.Segment{Chain: r.str("Chain"), First: uint64(r.num("First")), Last: uint64(r.num("Last")),
		Leaf: uint64(r.num("Leaf")), N: uint64(r.num("N")), Hash: h}, nil
}

// treeActions are the writes of a checkpoint's segments and tiles and the
// tree's mark at n.
func treeActions(n uint64, st auditlog.SealState) []aztables.TransactionAction {
	var out []aztables.TransactionAction
	for _, g := range st.Segments {
		out = append(out, upsert(segmentRow(g)))
	}
	for _, t := range st.Tiles {
		out = append(out, upsert(newRow(sealPartition, tileRowKey(t.Tile.L, t.Tile.N)).
			set("W", int32(t.Tile.W)).set("Data", base64.StdEncoding.EncodeToString(t.Data))))
	}
	return append(out, upsert(newRow(sealPartition, treeRow).set("N", aztables.EDMInt64(n))))
}

// PutCheckpoint inserts the checkpoint with its segments, its tiles and the
// tree's mark, in one transaction: a second sealer loses at the insert and
// writes nothing.
func (s *Store) PutCheckpoint(ctx context.Context, sealed *auditlog.Sealed, st auditlog.SealState) error {
	actions := append([]aztables.TransactionAction{{ActionType: aztables.TransactionTypeAdd, Entity: checkpointRow(sealed).marshal()}},
		treeActions(sealed.Checkpoint.N, st)...)
	if len(actions) > maxBatch {
		return fmt.Errorf("checkpoint %d needs %d rows, more than a transaction holds", sealed.Checkpoint.N, len(actions))
	}
	_, err := s.audit.SubmitTransaction(ctx, actions, nil)
	if status, _ := statusOf(err); status == http.StatusConflict {
		return fmt.Errorf("checkpoint %d: %w", sealed.Checkpoint.N, auditlog.ErrConflict)
	}
	return classify(err, fmt.Sprintf("writing checkpoint %d", sealed.Checkpoint.N))
}

// PutTree stores the segments and tiles of checkpoint n, written before
// they were stored, then the tree's mark. Writing them again writes the same.
func (s *Store) PutTree(ctx context.Context, n uint64, st auditlog.SealState) error {
	actions := treeActions(n, st)
	mark := actions[len(actions)-1:]
	for rest := actions[:len(actions)-1]; len(rest) > 0; {
		k := min(len(rest), maxBatch)
		if _, err := s.audit.SubmitTransaction(ctx, rest[:k], nil); err != nil {
			return classify(err, fmt.Sprintf("storing the tree of checkpoint %d", n))
		}
		rest = rest[k:]
	}
	_, err := s.audit.SubmitTransaction(ctx, mark, nil)
	return classify(err, fmt.Sprintf("storing the tree of checkpoint %d", n))
}

// TreeStored reads the tree's mark.
func (s *Store) TreeStored(ctx context.Context) (uint64, error) {
	resp, err := s.audit.GetEntity(ctx, sealPartition, treeRow, nil)
	if isNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, classify(err, "reading how far the tree is stored")
	}
	r, err := parseRow(resp.Value)
	if err != nil {
		return 0, err
	}
	return uint64(r.num("N")), nil
}

// ReadTiles reads the tiles named, one row each.
func (s *Store) ReadTiles(ctx context.Context, tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		resp, err := s.audit.GetEntity(ctx, sealPartition, tileRowKey(t.L, t.N), nil)
		if isNotFound(err) {
			return nil, fmt.Errorf("tile %s: %w", t.Path(), auditlog.ErrNotFound)
		}
		if err != nil {
			return nil, classify(err, "reading tile "+t.Path())
		}
		r, err := parseRow(resp.Value)
		if err != nil {
			return nil, err
		}
		if out[i], err = base64.StdEncoding.DecodeString(r.str("Data")); err != nil {
			return nil, fmt.Errorf("tile %s: %w", t.Path(), err)
		}
	}
	return out, nil
}

// SealedHeads reads the latest segment of each chain named.
func (s *Store) SealedHeads(ctx context.Context, chains []string) (map[string]auditlog.Head, error) {
	out := map[string]auditlog.Head{}
	for _, c := range chains {
		r, err := firstRow(ctx, s.audit, rangeFilter(sealPartition, segmentRange(c)), "reading the sealed head of "+c)
		if err != nil {
			return nil, err
		}
		if r == nil {
			continue
		}
		g, err := segmentOfRow(r)
		if err != nil {
			return nil, err
		}
		out[c] = g.Head()
	}
	return out, nil
}

// SealedAt reads the segment of record chain#seq: the first of the chain's
// segments from the row key of seq on.
func (s *Store) SealedAt(ctx context.Context, chain string, seq uint64) (auditlog.Segment, error) {
	if seq < 1 || seq > math.MaxInt64 {
		return auditlog.Segment{}, auditlog.ErrNotFound
	}
	filter := fmt.Sprintf("PartitionKey eq %s and RowKey ge %s and RowKey lt %s", quote(sealPartition),
		quote(segmentRowKey(chain, seq)), quote(prefixEnd(segmentRange(chain))))
	r, err := firstRow(ctx, s.audit, filter, "reading where "+auditlog.RecordID(chain, seq)+" is sealed")
	if err != nil {
		return auditlog.Segment{}, err
	}
	if r == nil {
		return auditlog.Segment{}, auditlog.ErrNotFound
	}
	g, err := segmentOfRow(r)
	if err != nil {
		return g, err
	}
	if g.Chain != chain || g.First > seq || seq > g.Last {
		return auditlog.Segment{}, auditlog.ErrNotFound
	}
	return g, nil
}
