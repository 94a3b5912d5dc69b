package memstore

import (
	"context"
	"slices"
	"time"

	"keyserver/internal/keyserver"
)

// This file holds the Store's events and its UpkeepStore and SubjectLister:
// it keeps no index and scans itself, which a store of history must not.

// memEvent is an event an operation's change wrote, and whether it was
// marked published.
type memEvent struct {
	ev        keyserver.Event
	published bool
}

var _ keyserver.UpkeepStore = (*Store)(nil)

// emit keeps copies of the events a change wrote; r's store lock is held.
func (r *memOp) emit(evs []*keyserver.Event) {
	for _, ev := range evs {
		r.outbox = append(r.outbox, &memEvent{ev: *ev})
	}
}

func (m *Store) MarkPublished(ctx context.Context, opID string, ids []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault("MarkPublished"); err != nil {
		return err
	}
	if r, ok := m.ops[opID]; ok {
		for _, e := range r.outbox {
			if slices.Contains(ids, e.ev.ID) {
				e.published = true
			}
		}
	}
	return nil
}

func (m *Store) UnsentEvents(ctx context.Context, before time.Time, limit int) ([]*keyserver.Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault("UnsentEvents"); err != nil {
		return nil, err
	}
	var out []*keyserver.Event
	for _, r := range m.ops {
		for _, e := range r.outbox {
			if !e.published && e.ev.Time.Before(before) {
				c := e.ev
				out = append(out, &c)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b *keyserver.Event) int { return a.Time.Compare(b.Time) })
	return out[:min(len(out), limit)], nil
}

func (m *Store) DueOperations(ctx context.Context, now time.Time, limit int) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault("DueOperations"); err != nil {
		return nil, err
	}
	var out []string
	for id, r := range m.ops {
		if due, ok := r.view().NextUpkeep(now); ok && !now.Before(due) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out[:min(len(out), limit)], nil
}

// Settle has nothing to do: the Store scans its operations.
func (m *Store) Settle(ctx context.Context, id string, now time.Time) error { return nil }

func (m *Store) FinishedBefore(ctx context.Context, cutoff time.Time, limit int) ([]keyserver.Finished, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []keyserver.Finished
	for id, r := range m.ops {
		if at, ok := r.op.Finished(); ok && at.Before(cutoff) {
			out = append(out, keyserver.Finished{ID: id, At: at})
		}
	}
	slices.SortFunc(out, func(a, b keyserver.Finished) int { return a.At.Compare(b.At) })
	return out[:min(len(out), limit)], nil
}

func (m *Store) DeleteOperation(ctx context.Context, f keyserver.Finished) error {
	id := f.ID
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault("DeleteOperation"); err != nil {
		return err
	}
	if r, ok := m.ops[id]; ok {
		if m.deleted == nil {
			m.deleted = map[string][]keyserver.AuditEvent{}
		}
		m.deleted[id] = r.events
		delete(m.ops, id)
	}
	return nil
}

// Emitted returns the events an operation's changes wrote, oldest first.
func (m *Store) Emitted(opID string) []keyserver.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []keyserver.Event
	if r, ok := m.ops[opID]; ok {
		for _, e := range r.outbox {
			out = append(out, e.ev)
		}
	}
	return out
}

// Unsent returns the ids of an operation's events not marked published.
func (m *Store) Unsent(opID string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	if r, ok := m.ops[opID]; ok {
		for _, e := range r.outbox {
			if !e.published {
				out = append(out, e.ev.ID)
			}
		}
	}
	return out
}

// LoseUpdates makes the next n attempts of UpdateOperation lose to another
// writer: fn runs, and what it returns is dropped, as a store whose ETag
// check failed drops it.
func (m *Store) LoseUpdates(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.losses = n
}
