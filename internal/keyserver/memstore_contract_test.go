package keyserver_test

import (
	"context"
	"testing"
	"time"

	"keyserver/internal/keyserver"
)

// TestMemStoreContract checks that the fake keeps the contracts of ports.go,
// so that the service tests prove something.
func TestMemStoreContract(t *testing.T) {
	ctx := context.Background()
	m := newMemStore()
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	op := &keyserver.Operation{ID: keyserver.NewID(), Requester: principal("orderer"), Expires: now.Add(time.Minute),
		Keys: []*keyserver.KeyGrant{{KeyID: "key2", MaxUsageCount: 2, RequiredApprovals: 1}}}
	if err := m.CreateOperation(ctx, op, keyserver.AuditEvent{Action: keyserver.ActionCreate}, nil); err != nil {
		t.Fatalf("CreateOperation: %v", err)
	}
	approval := keyserver.Approval{Approver: principal("approver2"), Time: now}
	approve := func(o *keyserver.Operation) { o.Keys[0].Approvals = append(o.Keys[0].Approvals, approval) }

	// A failing fn writes nothing, even after changing its copy.
	wantErr := keyserver.Errorf(keyserver.ECONFLICT, "no")
	if _, err := m.UpdateOperation(ctx, op.ID, func(o *keyserver.Operation) (*keyserver.Update, error) {
		approve(o)
		o.Cancelled = &keyserver.Closure{}
		return nil, wantErr
	}); err != wantErr {
		t.Fatalf("UpdateOperation returned %v, want fn's error", err)
	}
	// Approvals that the Update does not list are refused loudly.
	_, err := m.UpdateOperation(ctx, op.ID, func(o *keyserver.Operation) (*keyserver.Update, error) {
		approve(o)
		return &keyserver.Update{}, nil
	})
	wantCode(t, err, keyserver.EINTERNAL)
	got, _ := m.Operation(ctx, op.ID)
	if got.Closed() || len(got.Keys[0].Approvals) != 0 || len(m.events(op.ID)) != 1 {
		t.Fatalf("a failed update was written: %+v", got)
	}
	got.Keys[0].Approvals = append(got.Keys[0].Approvals, approval)
	if again, _ := m.Operation(ctx, op.ID); len(again.Keys[0].Approvals) != 0 {
		t.Fatalf("Operation returned the stored value, not a copy")
	}
	if _, err := m.UpdateOperation(ctx, op.ID, func(o *keyserver.Operation) (*keyserver.Update, error) {
		approve(o)
		return &keyserver.Update{Approvals: []keyserver.NewApproval{{KeyID: "key2", Approval: approval}}, Audit: keyserver.AuditEvent{Action: keyserver.ActionApprove}}, nil
	}); err != nil {
		t.Fatalf("UpdateOperation: %v", err)
	}
	if got, _ := m.Operation(ctx, op.ID); !got.Approved(now) || len(m.events(op.ID)) != 2 {
		t.Fatalf("approval was not written: %+v", got)
	}

	// Uses never pass the maximum; a released use comes back; a spent one does not.
	r1, err1 := m.ReserveUse(ctx, op.ID, "key2", 2, 0)
	r2, err2 := m.ReserveUse(ctx, op.ID, "key2", 2, 1)
	if err1 != nil || err2 != nil || r1.Slot == r2.Slot {
		t.Fatalf("ReserveUse: %v, %v, slots %v", err1, err2, []int{r1.Slot, r2.Slot})
	}
	_, err = m.ReserveUse(ctx, op.ID, "key2", 2, 2)
	wantCode(t, err, keyserver.EEXHAUSTED)
	if err := m.ReleaseUse(ctx, r1, keyserver.AuditEvent{}); err != nil {
		t.Fatalf("ReleaseUse: %v", err)
	}
	wantCode(t, m.ReleaseUse(ctx, r1, keyserver.AuditEvent{}), keyserver.EINTERNAL)
	if got, _ := m.Operation(ctx, op.ID); got.Keys[0].UsageCount != 1 {
		t.Fatalf("usage after a release = %d, want 1", got.Keys[0].UsageCount)
	}
	r3, err := m.ReserveUse(ctx, op.ID, "key2", 2, 1)
	if err != nil {
		t.Fatalf("ReserveUse after a release: %v", err)
	}
	for _, r := range []*keyserver.Reservation{r2, r3} {
		if err := m.CompleteUse(ctx, r, keyserver.AuditEvent{}); err != nil {
			t.Fatalf("CompleteUse: %v", err)
		}
	}
	wantCode(t, m.ReleaseUse(ctx, r2, keyserver.AuditEvent{}), keyserver.EINTERNAL)
	if got, _ := m.Operation(ctx, op.ID); got.Status(now) != keyserver.StatusExhausted {
		t.Fatalf("status after spending every use = %s", got.Status(now))
	}
	_, err = m.ReserveUse(ctx, op.ID, "key2", 3, 2)
	wantCode(t, err, keyserver.EINTERNAL)
}
