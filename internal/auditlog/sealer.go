package auditlog

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// Limits of one checkpoint: its leaves, and the chains whose segments are
// written with it. A Table Storage transaction holds 100 entities: the
// checkpoint, the tree's mark, a segment per chain and the tiles (at most
// two a level, a handful in all).
const (
	MaxLeavesPerCheckpoint = 200
	MaxChainsPerCheckpoint = 85
	maxEntities            = 100
)

// Sealer seals new records into checkpoints signed by the audit key. One
// runs at a time (the upkeep timer); a second one loses at PutCheckpoint.
type Sealer struct {
	Store       Store
	Signer      Signer
	Certificate *x509.Certificate
	Now         func() time.Time
	Log         *slog.Logger
	// Tiles caches verified tiles between runs; nil keeps none.
	Tiles *TileCache
	// Heads caches where chains stand in the tree between runs; nil keeps none.
	Heads *HeadCache
}

// Seal writes the checkpoints that seal every record of the chains the
// store's index lists, then removes from the index the idle chains it
// found sealed to their heads. It returns how many checkpoints it wrote. A
// chain whose stored records do not link is left unsealed from the break
// on, and reported.
func (s *Sealer) Seal(ctx context.Context) (int, error) {
	if s.Tiles == nil {
		s.Tiles = &TileCache{}
	}
	if s.Heads == nil {
		s.Heads = &HeadCache{}
	}
	latest, err := s.Store.LatestCheckpoint(ctx)
	if errors.Is(err, ErrNotFound) {
		latest, err = nil, nil
	}
	if err != nil {
		return 0, err
	}
	if err := s.storeTree(ctx, latest); err != nil {
		return 0, err
	}

	pending, err := s.Store.PendingChains(ctx)
	if err != nil {
		return 0, err
	}
	var n uint64
	if latest != nil {
		n = latest.Checkpoint.N
	}
	s.Heads.at(n)
	leaves, complete, err := s.unsealed(ctx, pending, n)
	if err != nil {
		return 0, err
	}
	written := 0
	for first := true; first || len(leaves) > 0; first = false {
		if len(leaves) == 0 && latest != nil {
			break // nothing new: the tree stays as it is
		}
		var size uint64
		if latest != nil {
			size = latest.Checkpoint.Size
		}
		batch, rest := nextBatch(leaves, size)
		if len(batch) == 0 && len(rest) > 0 {
			return written, fmt.Errorf("no leaf fits in a checkpoint over a tree of %d leaves", size)
		}
		sealed, st, err := s.checkpoint(ctx, latest, batch)
		if err != nil {
			return written, err
		}
		if err := s.Store.PutCheckpoint(ctx, sealed, st); err != nil {
			s.Heads.reset()
			return written, err
		}
		s.cacheTiles(st.Tiles)
		s.Heads.advance(sealed.Checkpoint.N, st.Segments)
		latest, leaves = sealed, rest
		written++
	}
	var idle []Pending
	for _, p := range pending {
		if p.Idle && complete[p.Chain] {
			idle = append(idle, p)
		}
	}
	if len(idle) > 0 {
		if err := s.Store.ReleaseChains(ctx, idle); err != nil {
			return written, err
		}
	}
	return written, nil
}

func (s *Sealer) cacheTiles(tiles []Tile) {
	for _, t := range tiles {
		s.Tiles.put([]tlog.Tile{t.Tile}, [][]byte{t.Data})
	}
}

// checkpoint grows the tree of latest (nil: the empty tree) by the batch's
// leaves and signs the checkpoint after it.
func (s *Sealer) checkpoint(ctx context.Context, latest *Sealed, batch []Leaf) (*Sealed, SealState, error) {
	var size uint64
	root := RootHash(nil)
	var prev *Checkpoint
	if latest != nil {
		prev = &latest.Checkpoint
		size, root = prev.Size, prev.Root
	}
	g := newGrowth(ctx, s.Store, s.Tiles, size, root)
	st, err := grow(g, batch, size, 0)
	if err != nil {
		return nil, st, err
	}
	cp := &Checkpoint{N: 1, Size: g.size, Time: Normalize(s.Now()), Certificate: CertificateHash(s.Certificate)}
	if prev != nil {
		cp.N, cp.Prev = prev.N+1, prev.Hash()
	}
	if cp.Root, err = g.root(); err != nil {
		return nil, st, tilesErr(err)
	}
	for i := range st.Segments {
		st.Segments[i].N = cp.N
	}
	sig, err := Sign(ctx, s.Signer, s.Certificate, cp)
	if err != nil {
		return nil, st, err
	}
	return &Sealed{Checkpoint: *cp, Signature: sig, Leaves: batch}, st, nil
}

// grow appends leaves, the tree's leaves from index base on, and returns
// their segments (in checkpoint n) and the tiles to write.
func grow(g *growth, leaves []Leaf, base, n uint64) (SealState, error) {
	var st SealState
	for _, l := range leaves {
		if err := g.append(l.Hash); err != nil {
			return st, tilesErr(err)
		}
	}
	tiles, err := g.tiles()
	if err != nil {
		return st, tilesErr(err)
	}
	return SealState{Segments: segmentsOf(leaves, base, n), Tiles: tiles}, nil
}

// segmentsOf cuts leaves, from leaf index base on, into runs of one chain.
func segmentsOf(leaves []Leaf, base, n uint64) []Segment {
	var out []Segment
	for i, l := range leaves {
		if k := len(out) - 1; k >= 0 && out[k].Chain == l.Chain && out[k].Last+1 == l.Seq {
			out[k].Last, out[k].Hash = l.Seq, l.Hash
			continue
		}
		out = append(out, Segment{Chain: l.Chain, First: l.Seq, Last: l.Seq, Leaf: base + uint64(i), N: n, Hash: l.Hash})
	}
	return out
}

// nextBatch takes the leaves of the next checkpoint, over a tree of size
// leaves: at most MaxLeavesPerCheckpoint, MaxChainsPerCheckpoint chains, and
// what one transaction holds with the tiles it writes.
func nextBatch(leaves []Leaf, size uint64) (batch, rest []Leaf) {
	end := len(leaves)
	chains := map[string]bool{}
	for i, l := range leaves {
		if !chains[l.Chain] && len(chains) == MaxChainsPerCheckpoint || i == MaxLeavesPerCheckpoint {
			end = i
			break
		}
		chains[l.Chain] = true
	}
	for end > 0 && 2+len(segmentsOf(leaves[:end], 0, 0))+tileCount(size, size+uint64(end)) > maxEntities {
		end--
	}
	return leaves[:end], leaves[end:]
}

// unsealed returns the records to seal, chain by chain in sequence order,
// and which chains end sealed to their heads once they are.
func (s *Sealer) unsealed(ctx context.Context, pending []Pending, n uint64) ([]Leaf, map[string]bool, error) {
	seen := map[string]bool{}
	var chains []string
	for _, p := range pending {
		if !seen[p.Chain] {
			seen[p.Chain] = true
			chains = append(chains, p.Chain)
		}
	}
	sort.Strings(chains)
	sealed, missing := s.Heads.split(chains)
	if len(missing) > 0 {
		read, err := s.Store.SealedHeads(ctx, missing)
		if err != nil {
			return nil, nil, err
		}
		s.Heads.add(n, missing, read)
		for c, h := range read {
			sealed[c] = h
		}
	}
	var leaves []Leaf
	complete := map[string]bool{}
	for _, c := range chains {
		h := sealed[c]
		rs, err := s.Store.UnsealedRecords(ctx, c, h)
		if err != nil {
			return nil, nil, err
		}
		complete[c] = true
		mark := len(leaves)
		for _, st := range rs {
			r := st.Record
			if err := r.Check(); err != nil || r.Chain != c || r.Seq != h.Seq+1 || r.Prev != h.Hash || st.Row != r.Seq {
				// Either side of the break may be the changed one: the
				// record before it stays unsealed too.
				if len(leaves) > mark {
					leaves = leaves[:len(leaves)-1]
				}
				complete[c] = false
				s.log().ErrorContext(ctx, "audit chain does not link; left unsealed from here", "record", r.ID(), "row", st.Row, "after", RecordID(c, h.Seq))
				break
			}
			h = Head{Seq: r.Seq, Hash: r.LeafHash()}
			leaves = append(leaves, Leaf{Chain: c, Seq: r.Seq, Time: r.Time, Hash: h.Hash})
		}
	}
	return leaves, complete, nil
}

// storeTree stores the segments and tiles of checkpoints written before
// they were stored, oldest first, checking that each checkpoint's leaves
// make its signed root. It runs once on a log from before tiles, and reads
// nothing more than the tree's mark afterwards.
func (s *Sealer) storeTree(ctx context.Context, latest *Sealed) error {
	if latest == nil {
		return nil
	}
	through, err := s.Store.TreeStored(ctx)
	if err != nil || through >= latest.Checkpoint.N {
		return err
	}
	var size uint64
	root := RootHash(nil)
	if through > 0 {
		cps, err := s.Store.Checkpoints(ctx, through, 1)
		if err != nil {
			return err
		}
		if len(cps) != 1 {
			return fmt.Errorf("checkpoint %d is missing: verify the log", through)
		}
		size, root = cps[0].Checkpoint.Size, cps[0].Checkpoint.Root
	}
	for n := through + 1; n <= latest.Checkpoint.N; {
		cps, err := s.Store.Checkpoints(ctx, n, 50)
		if err != nil {
			return err
		}
		if len(cps) == 0 {
			return fmt.Errorf("checkpoint %d is missing: verify the log", n)
		}
		for _, c := range cps {
			if c.Checkpoint.N != n {
				return fmt.Errorf("checkpoint %d is missing: verify the log", n)
			}
			g := newGrowth(ctx, s.Store, s.Tiles, size, root)
			st, err := grow(g, c.Leaves, size, n)
			if err != nil {
				return err
			}
			if r, err := g.root(); err != nil || g.size != c.Checkpoint.Size || r != c.Checkpoint.Root {
				return fmt.Errorf("checkpoint %d: its leaves do not make its signed root: verify the log", n)
			}
			if err := s.Store.PutTree(ctx, n, st); err != nil {
				return err
			}
			s.cacheTiles(st.Tiles)
			size, root, n = c.Checkpoint.Size, c.Checkpoint.Root, n+1
		}
	}
	return nil
}

func (s *Sealer) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}
