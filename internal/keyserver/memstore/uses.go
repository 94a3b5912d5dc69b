package memstore

import (
	"context"
	"strconv"

	"keyserver/internal/auditlog"
	"keyserver/internal/keyserver"
)

// held counts the uses of keyID reserved or spent.
func (r *memOp) held(keyID string) int {
	n := 0
	for _, u := range r.uses[keyID] {
		if !u.revoked {
			n++
		}
	}
	return n
}

func (m *Store) ReserveUse(ctx context.Context, opID, keyID string, max int) (*keyserver.Reservation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault("ReserveUse"); err != nil {
		return nil, err
	}
	r, ok := m.ops[opID]
	if !ok {
		return nil, loud("ReserveUse on unknown operation %s", opID)
	}
	g := r.op.Grant(keyID)
	if g == nil || g.MaxUsageCount != max {
		return nil, loud("ReserveUse of %s with max %d does not match the grant", keyID, max)
	}
	if r.op.Closed() {
		return nil, keyserver.Errorf(keyserver.ECLOSED, "memstore: operation %s is closed", opID)
	}
	if r.held(keyID) >= max {
		return nil, keyserver.Errorf(keyserver.EEXHAUSTED, "Key %q has no uses left in operation %s.", keyID, opID)
	}
	if r.uses[keyID] == nil {
		r.uses[keyID] = map[int]*memUse{}
	}
	m.tokens++
	r.seqs[keyID]++
	u := &memUse{token: strconv.Itoa(m.tokens)}
	r.uses[keyID][r.seqs[keyID]] = u
	return &keyserver.Reservation{OperationID: opID, KeyID: keyID, Seq: r.seqs[keyID], Token: u.token}, nil
}

// revokeReserved revokes the uses reserved and not yet spent, as closing
// the operation does.
func (r *memOp) revokeReserved() {
	for _, uses := range r.uses {
		for _, u := range uses {
			if !u.spent {
				u.revoked = true
			}
		}
	}
}

// reserved returns the operation of a held reservation. One no longer held
// is ECLOSED on a closed operation (closing revoked it), else ECONFLICT.
func (m *Store) reserved(res *keyserver.Reservation) (*memOp, error) {
	r, ok := m.ops[res.OperationID]
	if !ok {
		return nil, loud("unknown operation %s", res.OperationID)
	}
	u := r.uses[res.KeyID][res.Seq]
	switch {
	case u != nil && u.token == res.Token && !u.spent && !u.revoked:
		return r, nil
	case r.op.Closed():
		return nil, keyserver.Errorf(keyserver.ECLOSED, "memstore: operation %s is closed; use %s/%d was revoked", res.OperationID, res.KeyID, res.Seq)
	}
	return nil, keyserver.Errorf(keyserver.ECONFLICT, "memstore: use %s/%d is no longer reserved", res.KeyID, res.Seq)
}

func (m *Store) CompleteUse(ctx context.Context, res *keyserver.Reservation, ev keyserver.AuditEvent) error {
	_, err := m.CompleteUseNoting(ctx, res, ev, nil)
	return err
}

// CompleteUseNoting is CompleteUse that notes usage.exhausted with the use
// that spends the operation's last (keyserver.ExhaustingCompleter).
func (m *Store) CompleteUseNoting(ctx context.Context, res *keyserver.Reservation, ev keyserver.AuditEvent, noted func(*keyserver.Operation) *keyserver.Update) ([]*keyserver.Event, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault("CompleteUse"); err != nil {
		return nil, err
	}
	r, err := m.reserved(res)
	if err != nil {
		return nil, err
	}
	r.uses[res.KeyID][res.Seq].spent = true
	r.events = append(r.events, ev)
	res.AuditRecord = auditlog.RecordID(auditlog.OperationChain(res.OperationID), uint64(len(r.events)))
	if noted == nil || r.op.Closed() || r.op.ExhaustedNoted {
		return nil, nil
	}
	v := r.view()
	if !v.Exhausted() {
		return nil, nil
	}
	r.op.ExhaustedNoted, v.ExhaustedNoted = true, true
	u := noted(v)
	r.events = append(r.events, u.Audit)
	r.emit(u.Events)
	return u.Events, nil
}

func (m *Store) ReleaseUse(ctx context.Context, res *keyserver.Reservation, ev keyserver.AuditEvent) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault("ReleaseUse"); err != nil {
		return err
	}
	r, err := m.reserved(res)
	if err != nil {
		return err
	}
	delete(r.uses[res.KeyID], res.Seq)
	r.events = append(r.events, ev)
	return nil
}

// HeldUses returns how many uses of keyID are reserved or spent in opID.
func (m *Store) HeldUses(opID, keyID string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.ops[opID]; ok {
		return r.held(keyID)
	}
	return 0
}
