package keyserver_test

import (
	"context"
	"testing"
	"time"

	"keyserver/internal/keyserver"
	"keyserver/internal/keyserver/memstore"
	"keyserver/internal/keyserver/storetest"
)

// TestMemStoreContract holds the fake to the same contract as the Table
// Storage adapter (azurite-tests/store_contract_test.go), so that the service
// tests prove something.
func TestMemStoreContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Stores {
		m := memstore.New()
		return storetest.Stores{Ops: m, Keys: m, Subjects: m, Audit: m, Policies: m}
	})
}

// TestMemStoreRefusesLoudly checks the fake's own strictness, beyond the
// contract: requests the domain should never make fail with EINTERNAL and
// write nothing.
func TestMemStoreRefusesLoudly(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	newOp := func(t *testing.T, m *memstore.Store) *keyserver.Operation {
		t.Helper()
		op := &keyserver.Operation{ID: keyserver.NewID(), Requester: principal("orderer"), Expires: now.Add(time.Minute),
			Keys: []*keyserver.KeyGrant{{KeyID: "key2", MaxUsageCount: 2, RequiredApprovals: 1}}}
		if err := m.CreateOperation(ctx, op, keyserver.AuditEvent{Action: keyserver.ActionCreate}, nil); err != nil {
			t.Fatalf("CreateOperation: %v", err)
		}
		return op
	}
	approval := keyserver.Approval{Approver: principal("approver2"), Time: now}
	tests := []struct {
		name string
		call func(m *memstore.Store, op *keyserver.Operation) error
	}{
		{"approval missing from the Update", func(m *memstore.Store, op *keyserver.Operation) error {
			_, err := m.UpdateOperation(ctx, op.ID, func(o *keyserver.Operation) (*keyserver.Update, error) {
				o.Keys[0].Approvals = append(o.Keys[0].Approvals, approval)
				return &keyserver.Update{}, nil
			})
			return err
		}},
		{"usage changed by fn", func(m *memstore.Store, op *keyserver.Operation) error {
			_, err := m.UpdateOperation(ctx, op.ID, func(o *keyserver.Operation) (*keyserver.Update, error) {
				o.Keys[0].UsageCount++
				return &keyserver.Update{}, nil
			})
			return err
		}},
		{"no Update", func(m *memstore.Store, op *keyserver.Operation) error {
			_, err := m.UpdateOperation(ctx, op.ID, func(*keyserver.Operation) (*keyserver.Update, error) { return nil, nil })
			return err
		}},
		{"ReserveUse with another max", func(m *memstore.Store, op *keyserver.Operation) error {
			_, err := m.ReserveUse(ctx, op.ID, "key2", 3, 0)
			return err
		}},
		{"ReserveUse of a key not granted", func(m *memstore.Store, op *keyserver.Operation) error {
			_, err := m.ReserveUse(ctx, op.ID, "key3", 2, 0)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := memstore.New()
			op := newOp(t, m)
			wantCode(t, tt.call(m, op), keyserver.EINTERNAL)
			got, err := m.Operation(ctx, op.ID)
			if err != nil || len(got.Keys[0].Approvals) != 0 || got.Keys[0].UsageCount != 0 || len(m.Events(op.ID)) != 1 {
				t.Fatalf("a refused request was written: %+v, %v, %d events", got, err, len(m.Events(op.ID)))
			}
		})
	}
}
