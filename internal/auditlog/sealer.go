package auditlog

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"
)

// ScanOverlap is how far before the last scan's start the next scan
// starts, so that a record committed while a scan ran is not missed.
const ScanOverlap = 2 * time.Minute

// Limits of one checkpoint: its leaves and the chains whose heads move
// with it (a Table Storage transaction holds 100 entities).
const (
	MaxLeavesPerCheckpoint = 200
	MaxChainsPerCheckpoint = 90
)

// Sealer seals new records into checkpoints signed by the audit key. One
// runs at a time (the upkeep timer); a second one loses at PutCheckpoint.
type Sealer struct {
	Store       Store
	Signer      Signer
	Certificate *x509.Certificate
	Now         func() time.Time
	Log         *slog.Logger
	Tree        *TreeCache
}

// Seal writes the checkpoints that seal every record stored since the last
// scan, and returns how many it wrote. A chain whose stored records do not
// link is left unsealed from the break on, and reported.
func (s *Sealer) Seal(ctx context.Context) (int, error) {
	start := s.Now()
	tree, latest, err := s.Tree.Sync(ctx, s.Store)
	if err != nil {
		return 0, err
	}
	since := time.Time{}
	if latest != nil {
		_, scanFrom, err := s.Store.LatestCheckpoint(ctx)
		if err != nil {
			return 0, err
		}
		since = scanFrom.Add(-ScanOverlap)
	}
	leaves, heads, err := s.pending(ctx, since)
	if err != nil {
		return 0, err
	}
	written := 0
	for first := true; first || len(leaves) > 0; first = false {
		batch, rest := nextBatch(leaves)
		if len(batch) == 0 && latest != nil && first {
			// Nothing new: the tree stays as it is, and so does the scan start.
			return 0, nil
		}
		st := SealState{Heads: map[string]Head{}, ScanFrom: start}
		for _, l := range batch {
			st.Heads[l.Chain] = heads[RecordID(l.Chain, l.Seq)]
		}
		var prev *Checkpoint
		if latest != nil {
			prev = &latest.Checkpoint
		}
		next := tree.Clone()
		for _, l := range batch {
			next.Append(l.Hash)
		}
		cp, sig, err := Seal(ctx, s.Signer, s.Certificate, prev, next, s.Now())
		if err != nil {
			return written, err
		}
		sealed := &Sealed{Checkpoint: *cp, Signature: sig, Leaves: batch}
		if err := s.Store.PutCheckpoint(ctx, sealed, st); err != nil {
			s.Tree.Reset()
			return written, err
		}
		s.Tree.Add(sealed)
		tree, latest, leaves = next, sealed, rest
		written++
	}
	return written, nil
}

// nextBatch takes the leaves of the next checkpoint.
func nextBatch(leaves []Leaf) (batch, rest []Leaf) {
	chains := map[string]bool{}
	for i, l := range leaves {
		if !chains[l.Chain] && len(chains) == MaxChainsPerCheckpoint || i == MaxLeavesPerCheckpoint {
			return leaves[:i], leaves[i:]
		}
		chains[l.Chain] = true
	}
	return leaves, nil
}

// pending returns the records to seal, chain by chain in sequence order,
// and the head each leaves its chain at (by record id).
func (s *Sealer) pending(ctx context.Context, since time.Time) ([]Leaf, map[string]Head, error) {
	recs, err := s.Store.NewRecords(ctx, since)
	if err != nil {
		return nil, nil, err
	}
	byChain := map[string][]Stored{}
	for _, r := range recs {
		byChain[r.Record.Chain] = append(byChain[r.Record.Chain], r)
	}
	chains := make([]string, 0, len(byChain))
	for c := range byChain {
		chains = append(chains, c)
	}
	sort.Strings(chains)
	sealed, err := s.Store.SealedHeads(ctx, chains)
	if err != nil {
		return nil, nil, err
	}
	var leaves []Leaf
	heads := map[string]Head{}
	for _, c := range chains {
		rs := byChain[c]
		sort.Slice(rs, func(i, j int) bool { return rs[i].Record.Seq < rs[j].Record.Seq })
		h := sealed[c]
		if i := sort.Search(len(rs), func(i int) bool { return rs[i].Record.Seq > h.Seq }); i == len(rs) {
			continue
		} else if rs[i].Record.Seq != h.Seq+1 {
			// Records older than the scan are missing: read the chain.
			if rs, err = s.Store.ChainRecords(ctx, c, h.Seq+1); err != nil {
				return nil, nil, err
			}
		} else {
			rs = rs[i:]
		}
		mark := len(leaves)
		for _, st := range rs {
			r := st.Record
			if err := r.Check(); err != nil || r.Seq != h.Seq+1 || r.Prev != h.Hash || st.Row != r.Seq {
				// Either side of the break may be the changed one: the
				// record before it stays unsealed too.
				if len(leaves) > mark {
					leaves = leaves[:len(leaves)-1]
				}
				s.log().ErrorContext(ctx, "audit chain does not link; left unsealed from here", "record", r.ID(), "row", st.Row, "after", RecordID(c, h.Seq))
				break
			}
			h = Head{Seq: r.Seq, Hash: r.LeafHash()}
			heads[r.ID()] = h
			leaves = append(leaves, Leaf{Chain: c, Seq: r.Seq, Time: r.Time, Hash: h.Hash})
		}
	}
	return leaves, heads, nil
}

func (s *Sealer) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// TreeCache keeps the tree of every checkpoint read so far, so that sealing
// and proofs read only the checkpoints written since.
type TreeCache struct {
	mu     sync.Mutex
	tree   *Tree
	leaves []Leaf
	index  map[chainSeq]uint64
	cps    []Checkpoint
}

// Reset forgets everything.
func (c *TreeCache) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tree, c.leaves, c.index, c.cps = nil, nil, nil, nil
}

// Add appends a checkpoint just written after the ones known.
func (c *TreeCache) Add(s *Sealed) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tree == nil || uint64(len(c.cps))+1 != s.Checkpoint.N {
		c.tree, c.leaves, c.index, c.cps = nil, nil, nil, nil
		return
	}
	c.add(s)
}

func (c *TreeCache) add(s *Sealed) {
	for _, l := range s.Leaves {
		c.index[chainSeq{l.Chain, l.Seq}] = uint64(len(c.leaves))
		c.leaves = append(c.leaves, l)
		c.tree.Append(l.Hash)
	}
	c.cps = append(c.cps, s.Checkpoint)
}

// Sync reads the checkpoints written since the last call and returns a copy
// of the tree of the latest one, which it returns too (nil when there is none).
func (c *TreeCache) Sync(ctx context.Context, st Store) (*Tree, *Sealed, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tree == nil {
		c.tree, c.leaves, c.index, c.cps = NewTree(nil), nil, map[chainSeq]uint64{}, nil
	}
	var latest *Sealed
	for {
		cps, err := st.Checkpoints(ctx, uint64(len(c.cps))+1, 100)
		if err != nil {
			return nil, nil, err
		}
		for i := range cps {
			s := &cps[i]
			if s.Checkpoint.N != uint64(len(c.cps))+1 || s.Checkpoint.Size != c.tree.Size()+uint64(len(s.Leaves)) {
				c.tree = nil
				return nil, nil, fmt.Errorf("checkpoint %d does not follow checkpoint %d: verify the log", s.Checkpoint.N, len(c.cps))
			}
			c.add(s)
			latest = s
		}
		if len(cps) < 100 {
			break
		}
	}
	if latest == nil && len(c.cps) > 0 {
		latest = &Sealed{Checkpoint: c.cps[len(c.cps)-1]}
	}
	return c.tree.Clone(), latest, nil
}

// Checkpoint returns a known checkpoint by number (0: the latest).
func (c *TreeCache) Checkpoint(n uint64) (*Checkpoint, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n == 0 {
		n = uint64(len(c.cps))
	}
	if n == 0 || n > uint64(len(c.cps)) {
		return nil, ErrNotFound
	}
	cp := c.cps[n-1]
	return &cp, nil
}

// LeafIndex returns where record chain#seq is in the tree.
func (c *TreeCache) LeafIndex(chain string, seq uint64) (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, ok := c.index[chainSeq{chain, seq}]
	if !ok {
		return 0, ErrNotFound
	}
	return i, nil
}
