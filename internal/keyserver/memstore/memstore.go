package memstore

import (
	"context"
	"slices"
	"sync"

	"keyserver/internal/keyserver"
)

// Package memstore is the in-memory fake of the Keyserver's stores, for the
// domain's and the HTTP handlers' unit tests. storetest holds it to the same
// contract as the Table Storage adapter.

// Store is an in-memory OperationStore, KeyStore, SubjectStore and
// AuditLog that keeps the contracts of ports.go. Uses are kept apart from the
// operation row, as the table store keeps them in rows of their own, and the
// operation's usage counts are derived from them. A request the domain should
// never make fails loudly with an internal error.
type Store struct {
	mu       sync.Mutex
	ops      map[string]*memOp
	keys     map[string]*keyserver.Key
	subjects map[keyserver.Principal]*keyserver.Subject
	audit    []keyserver.AuditEvent
	trail    Appender         // where admin records are chained; nil: kept in audit
	faults   map[string]error // method name -> error it returns
	deleted  map[string][]keyserver.AuditEvent
	losses   int // UpdateOperation attempts still to lose to another writer
	tokens   int
	idem     map[memIdemKey]keyserver.IdempotencyRecord
	policies map[string]*keyserver.Policy
}

type memOp struct {
	op     *keyserver.Operation
	uses   map[string]map[int]*memUse // key id -> seq -> use; released ones are deleted
	seqs   map[string]int             // key id -> last seq given
	events []keyserver.AuditEvent
	outbox []*memEvent
}

type memUse struct {
	token   string
	spent   bool
	revoked bool // by closing the operation; no longer counted
}

// New returns an empty Store.
func New() *Store {
	return &Store{
		ops:      map[string]*memOp{},
		keys:     map[string]*keyserver.Key{},
		subjects: map[keyserver.Principal]*keyserver.Subject{},
		faults:   map[string]error{},
	}
}

// Fail makes method return err until Fail(method, nil).
func (m *Store) Fail(method string, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err == nil {
		delete(m.faults, method)
		return
	}
	m.faults[method] = err
}

// fault must be called with m.mu held.
func (m *Store) fault(method string) error { return m.faults[method] }

func loud(format string, args ...any) error {
	return keyserver.Errorf(keyserver.EINTERNAL, "memstore: "+format, args...)
}

func cloneOp(op *keyserver.Operation) *keyserver.Operation {
	c := *op
	c.Keys = make([]*keyserver.KeyGrant, len(op.Keys))
	for i, g := range op.Keys {
		cg := *g
		cg.Approvals = slices.Clone(g.Approvals)
		c.Keys[i] = &cg
	}
	if op.Rejected != nil {
		r := *op.Rejected
		c.Rejected = &r
	}
	if op.Cancelled != nil {
		cl := *op.Cancelled
		c.Cancelled = &cl
	}
	if op.BuildContext != nil {
		bc := *op.BuildContext
		c.BuildContext = &bc
	}
	return &c
}

// view returns a copy of the operation with usage counts derived from its uses.
func (r *memOp) view() *keyserver.Operation {
	c := cloneOp(r.op)
	for _, g := range c.Keys {
		g.UsageCount, g.SpentCount = r.held(g.KeyID), 0
		for _, u := range r.uses[g.KeyID] {
			if u.spent && !u.revoked {
				g.SpentCount++
			}
		}
	}
	return c
}

func (m *Store) CreateOperation(ctx context.Context, op *keyserver.Operation, ev keyserver.AuditEvent, evs []*keyserver.Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault("CreateOperation"); err != nil {
		return err
	}
	if _, ok := m.ops[op.ID]; ok {
		return keyserver.Errorf(keyserver.ECONFLICT, "memstore: operation %s exists", op.ID)
	}
	r := &memOp{op: cloneOp(op), uses: map[string]map[int]*memUse{}, seqs: map[string]int{}, events: []keyserver.AuditEvent{ev}}
	for _, g := range r.op.Keys {
		if g.UsageCount != 0 {
			return loud("new operation with usage count %d", g.UsageCount)
		}
	}
	r.emit(evs)
	m.ops[op.ID] = r
	return nil
}

// Operation's not-found message differs from the domain's on purpose, so
// tests see whether a store message reaches a caller.
func (m *Store) Operation(ctx context.Context, id string) (*keyserver.Operation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault("Operation"); err != nil {
		return nil, err
	}
	r, ok := m.ops[id]
	if !ok {
		return nil, keyserver.Errorf(keyserver.ENOTFOUND, "memstore has no row for %s", id)
	}
	return r.view(), nil
}

// OperationForSigning makes the fake a SigningLoader like the table store:
// approvals are only counted, and spent uses not told from reserved ones.
func (m *Store) OperationForSigning(ctx context.Context, id string) (*keyserver.Operation, error) {
	op, err := m.Operation(ctx, id)
	if err != nil {
		return nil, err
	}
	for _, g := range op.Keys {
		g.ApprovalCount, g.Approvals, g.SpentCount = len(g.Approvals), []keyserver.Approval{}, 0
	}
	return op, nil
}

func (m *Store) ListOperations(ctx context.Context, f keyserver.OperationFilter) ([]*keyserver.Operation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault("ListOperations"); err != nil {
		return nil, err
	}
	var out []*keyserver.Operation
	for _, r := range m.ops {
		if !f.OpenAt.IsZero() && (r.op.Closed() || !f.OpenAt.Before(r.op.Expires)) {
			continue
		}
		if r.op.Created.Before(f.CreatedSince) {
			continue
		}
		out = append(out, r.view())
	}
	return out, nil
}

// UpdateOperation applies fn to a copy and writes only when fn succeeds. The
// approvals fn adds must be exactly those its Update lists, and fn may not
// change usage, which belongs to ReserveUse.
func (m *Store) UpdateOperation(ctx context.Context, id string, fn func(*keyserver.Operation) (*keyserver.Update, error)) (*keyserver.Operation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault("UpdateOperation"); err != nil {
		return nil, err
	}
	r, ok := m.ops[id]
	if !ok {
		return nil, keyserver.Errorf(keyserver.ENOTFOUND, "memstore has no row for %s", id)
	}
	before := r.view()
	for ; m.losses > 0; m.losses-- {
		// This attempt lost to another writer: what fn returned is dropped.
		if _, err := fn(cloneOp(before)); err != nil {
			return nil, err
		}
	}
	after := cloneOp(before)
	u, err := fn(after)
	if err != nil {
		return nil, err
	}
	if u == nil {
		return nil, loud("UpdateOperation without an Update")
	}
	if after.ID != id || len(after.Keys) != len(before.Keys) {
		return nil, loud("fn changed the operation's id or keys")
	}
	for i, g := range after.Keys {
		b := before.Keys[i]
		if g.KeyID != b.KeyID || g.UsageCount != b.UsageCount || g.SpentCount != b.SpentCount || g.MaxUsageCount != b.MaxUsageCount {
			return nil, loud("fn changed grant %s beyond its approvals", b.KeyID)
		}
		want := slices.Clone(b.Approvals)
		for _, a := range u.Approvals {
			if a.KeyID == g.KeyID {
				want = append(want, a.Approval)
			}
		}
		if !slices.Equal(want, g.Approvals) {
			return nil, loud("approvals of %s differ from Update.Approvals", g.KeyID)
		}
	}
	if !before.Closed() && after.Closed() {
		r.revokeReserved()
	}
	r.op = after
	r.events = append(r.events, u.Audit)
	r.emit(u.Events)
	return r.view(), nil
}

func (m *Store) RecordEvent(ctx context.Context, opID string, ev keyserver.AuditEvent) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault("RecordEvent"); err != nil {
		return err
	}
	r, ok := m.ops[opID]
	if !ok {
		return loud("RecordEvent into unknown operation %s", opID)
	}
	r.events = append(r.events, ev)
	return nil
}

// OperationEvents lets storetest read the audit events of an operation.
func (m *Store) OperationEvents(ctx context.Context, opID string) ([]keyserver.AuditEvent, error) {
	return m.Events(opID), nil
}

// Events returns the audit events of an operation, deleted or not.
func (m *Store) Events(opID string) []keyserver.AuditEvent {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.ops[opID]; ok {
		return slices.Clone(r.events)
	}
	return slices.Clone(m.deleted[opID])
}

// OpCount returns how many operations the store holds.
func (m *Store) OpCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.ops)
}

// GlobalAudit returns the audit events that belong to no operation.
func (m *Store) GlobalAudit() []keyserver.AuditEvent {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.audit)
}
