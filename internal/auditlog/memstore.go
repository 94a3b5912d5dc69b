package auditlog

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// IndexGrace is how long a chain's index row must have been untouched (and
// its owner finished) before the sealer may drop the chain from the index:
// a writer that put the chain in the index writes its record well within
// it. It is also SealSlack, what a verifier allows the sealer.
const IndexGrace = SealSlack

// MemStore is an in-memory Store, for tests and the handler's unit tests.
// Append writes records as the Table Storage adapter does: it lists the
// chain in the index first.
type MemStore struct {
	mu       sync.Mutex
	Now      func() time.Time
	chains   map[string][]Stored
	index    map[string]memIndexRow
	version  int
	cps      []Sealed
	segments map[string][]Segment
	tiles    map[[2]int64][]byte // (level, n) -> the widest data written
	tree     uint64
}

type memIndexRow struct {
	touched time.Time
	version int
}

// NewMemStore returns an empty log.
func NewMemStore(now func() time.Time) *MemStore {
	return &MemStore{Now: now, chains: map[string][]Stored{}, index: map[string]memIndexRow{},
		segments: map[string][]Segment{}, tiles: map[[2]int64][]byte{}}
}

// Append lists r's chain in the index, then chains r at the end of its
// chain and returns it as stored.
func (m *MemStore) Append(_ context.Context, r Record) (Stored, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rs := m.chains[r.Chain]
	var h Head
	if len(rs) > 0 {
		h = Head{Seq: rs[len(rs)-1].Record.Seq, Hash: rs[len(rs)-1].Record.LeafHash()}
	}
	r, _ = h.Chain(r)
	if err := r.Check(); err != nil {
		return Stored{}, err
	}
	m.touch(r.Chain)
	s := Stored{Row: r.Seq, Record: r}
	m.chains[r.Chain] = append(rs, s)
	return s, nil
}

func (m *MemStore) touch(chain string) {
	m.version++
	m.index[chain] = memIndexRow{touched: m.Now(), version: m.version}
}

// Indexed reports whether chain is in the index, for tests.
func (m *MemStore) Indexed(chain string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.index[chain]
	return ok
}

func (m *MemStore) PendingChains(context.Context) ([]Pending, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.Now()
	out := make([]Pending, 0, len(m.index))
	for c, r := range m.index {
		out = append(out, Pending{Chain: c, Idle: now.Sub(r.touched) > IndexGrace, Mark: strconv.Itoa(r.version)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Chain < out[j].Chain })
	return out, nil
}

func (m *MemStore) ReleaseChains(_ context.Context, chains []Pending) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range chains {
		if r, ok := m.index[p.Chain]; ok && strconv.Itoa(r.version) == p.Mark {
			delete(m.index, p.Chain)
		}
	}
	return nil
}

// Chains returns every chain's records, for tests that tamper with them.
func (m *MemStore) Chains() map[string][]Stored {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.chains
}

// All returns every record, chain by chain in row order.
func (m *MemStore) All() []Stored {
	m.mu.Lock()
	defer m.mu.Unlock()
	names := make([]string, 0, len(m.chains))
	for c := range m.chains {
		names = append(names, c)
	}
	sort.Strings(names)
	var out []Stored
	for _, c := range names {
		out = append(out, m.chains[c]...)
	}
	return out
}

func (m *MemStore) ChainRecords(_ context.Context, chain string, from uint64) ([]Stored, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Stored
	for _, s := range m.chains[chain] {
		if s.Row >= from {
			out = append(out, s)
		}
	}
	return out, nil
}

// Record returns record chain#seq, or ErrNotFound.
func (m *MemStore) Record(_ context.Context, chain string, seq uint64) (Stored, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.chains[chain] {
		if s.Row == seq {
			return s, nil
		}
	}
	return Stored{}, ErrNotFound
}

func (m *MemStore) UnsealedRecords(ctx context.Context, chain string, after Head) ([]Stored, error) {
	return m.ChainRecords(ctx, chain, after.Seq+1)
}

func (m *MemStore) SealedHeads(_ context.Context, chains []string) (map[string]Head, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]Head{}
	for _, c := range chains {
		if segs := m.segments[c]; len(segs) > 0 {
			out[c] = segs[len(segs)-1].Head()
		}
	}
	return out, nil
}

func (m *MemStore) SealedAt(_ context.Context, chain string, seq uint64) (Segment, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.segments[chain] {
		if s.First <= seq && seq <= s.Last {
			return s, nil
		}
	}
	return Segment{}, ErrNotFound
}

func (m *MemStore) LatestCheckpoint(context.Context) (*Sealed, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.cps) == 0 {
		return nil, ErrNotFound
	}
	s := m.cps[len(m.cps)-1]
	return &s, nil
}

func (m *MemStore) Checkpoints(_ context.Context, from uint64, limit int) ([]Sealed, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Sealed
	for _, s := range m.cps {
		if s.Checkpoint.N >= from && len(out) < limit {
			out = append(out, s)
		}
	}
	return out, nil
}

// DropCheckpoint removes checkpoint n, for tests.
func (m *MemStore) DropCheckpoint(n uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, s := range m.cps {
		if s.Checkpoint.N == n {
			m.cps = append(m.cps[:i], m.cps[i+1:]...)
			return
		}
	}
}

func (m *MemStore) PutCheckpoint(_ context.Context, s *Sealed, st SealState) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if uint64(len(m.cps))+1 != s.Checkpoint.N {
		return ErrConflict
	}
	m.cps = append(m.cps, *s)
	m.putTree(s.Checkpoint.N, st)
	return nil
}

// PutOldCheckpoint writes a checkpoint as it was written before the tree
// was stored beside it (no segments, no tiles), for tests.
func (m *MemStore) PutOldCheckpoint(s *Sealed) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if uint64(len(m.cps))+1 != s.Checkpoint.N {
		return ErrConflict
	}
	m.cps = append(m.cps, *s)
	return nil
}

func (m *MemStore) PutTree(_ context.Context, n uint64, st SealState) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.putTree(n, st)
	return nil
}

func (m *MemStore) putTree(n uint64, st SealState) {
	for _, seg := range st.Segments {
		m.segments[seg.Chain] = append(m.segments[seg.Chain], seg)
	}
	for _, t := range st.Tiles {
		k := [2]int64{int64(t.Tile.L), t.Tile.N}
		if len(t.Data) >= len(m.tiles[k]) {
			m.tiles[k] = t.Data
		}
	}
	m.tree = max(m.tree, n)
}

func (m *MemStore) TreeStored(context.Context) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.tree, nil
}

func (m *MemStore) ReadTiles(_ context.Context, tiles []tlog.Tile) ([][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		d, ok := m.tiles[[2]int64{int64(t.L), t.N}]
		if !ok {
			return nil, fmt.Errorf("tile %s: %w", t.Path(), ErrNotFound)
		}
		out[i] = d
	}
	return out, nil
}

// TamperTile flips a byte of a stored tile, for tests.
func (m *MemStore) TamperTile(level int, n int64, at int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := [2]int64{int64(level), n}
	d := append([]byte(nil), m.tiles[k]...)
	d[at] ^= 1
	m.tiles[k] = d
}

// TamperSegment moves the last sequence number of chain's latest segment
// by delta, as an edit of the unsigned segment row would, for tests.
func (m *MemStore) TamperSegment(chain string, delta int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	segs := m.segments[chain]
	segs[len(segs)-1].Last = uint64(int(segs[len(segs)-1].Last) + delta)
}
