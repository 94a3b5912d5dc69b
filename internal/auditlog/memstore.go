package auditlog

import (
	"context"
	"sort"
	"sync"
	"time"
)

// MemStore is an in-memory Store, for tests and the handler's unit tests.
// Append writes records as the Table Storage adapter does.
type MemStore struct {
	mu     sync.Mutex
	Now    func() time.Time
	chains map[string][]Stored
	stored map[string]time.Time // record id -> when it was stored
	cps    []Sealed
	scans  []time.Time
	heads  map[string]Head
}

// NewMemStore returns an empty log.
func NewMemStore(now func() time.Time) *MemStore {
	return &MemStore{Now: now, chains: map[string][]Stored{}, stored: map[string]time.Time{}, heads: map[string]Head{}}
}

// Append chains r at the end of its chain and returns it as stored.
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
	s := Stored{Row: r.Seq, Record: r}
	m.chains[r.Chain] = append(rs, s)
	m.stored[r.ID()] = m.Now()
	return s, nil
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

func (m *MemStore) NewRecords(_ context.Context, since time.Time) ([]Stored, error) {
	var out []Stored
	for _, s := range m.All() {
		m.mu.Lock()
		at := m.stored[s.Record.ID()]
		m.mu.Unlock()
		if !at.Before(since) {
			out = append(out, s)
		}
	}
	return out, nil
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

func (m *MemStore) SealedHeads(_ context.Context, chains []string) (map[string]Head, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]Head{}
	for _, c := range chains {
		if h, ok := m.heads[c]; ok {
			out[c] = h
		}
	}
	return out, nil
}

func (m *MemStore) LatestCheckpoint(context.Context) (*Sealed, time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.cps) == 0 {
		return nil, time.Time{}, ErrNotFound
	}
	s := m.cps[len(m.cps)-1]
	return &s, m.scans[len(m.scans)-1], nil
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
			m.scans = append(m.scans[:i], m.scans[i+1:]...)
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
	m.scans = append(m.scans, st.ScanFrom)
	for c, h := range st.Heads {
		m.heads[c] = h
	}
	return nil
}
