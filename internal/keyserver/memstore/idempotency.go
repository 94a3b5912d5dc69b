package memstore

import (
	"context"

	"keyserver/internal/keyserver"
)

type memIdemKey struct {
	requester keyserver.Principal
	key       string
}

// ClaimIdempotencyKey keeps one record per requester and key, like the table store.
func (m *Store) ClaimIdempotencyKey(ctx context.Context, rec keyserver.IdempotencyRecord) (*keyserver.IdempotencyRecord, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault("ClaimIdempotencyKey"); err != nil {
		return nil, false, err
	}
	if rec.Key == "" || rec.Fingerprint == "" || !keyserver.ValidID(rec.OperationID) {
		return nil, false, loud("incomplete idempotency record %+v", rec)
	}
	k := memIdemKey{rec.Requester, rec.Key}
	if old, ok := m.idem[k]; ok {
		return &old, false, nil
	}
	if m.idem == nil {
		m.idem = map[memIdemKey]keyserver.IdempotencyRecord{}
	}
	m.idem[k] = rec
	stored := rec
	return &stored, true, nil
}
