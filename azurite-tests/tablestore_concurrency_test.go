package azuritetests

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"keyserver/internal/keyserver"
)

func TestTablestoreReserveUseNeverPassesMax(t *testing.T) {
	s, ctx := mustTablestore(t), context.Background()
	op := mustCreateOp(t, s, map[string]int{"k1": 10})
	const callers = 200
	var wg sync.WaitGroup
	errs := make([]error, callers)
	slots := make([]int, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := s.ReserveUse(ctx, op.ID, "k1", 10)
			errs[i] = err
			if err == nil {
				slots[i] = r.Seq
			}
		}()
	}
	wg.Wait()
	reserved, exhausted := 0, 0
	taken := map[int]bool{}
	for i, err := range errs {
		switch keyserver.ErrorCode(err) {
		case "":
			reserved++
			if taken[slots[i]] {
				t.Fatalf("reservation number %d given twice", slots[i])
			}
			taken[slots[i]] = true
		case keyserver.EEXHAUSTED:
			exhausted++
		default:
			t.Fatalf("ReserveUse: %v", err)
		}
	}
	if reserved != 10 || exhausted != callers-10 {
		t.Fatalf("%d reserved and %d exhausted, want 10 and %d", reserved, exhausted, callers-10)
	}
	got, err := s.Operation(ctx, op.ID)
	if err != nil {
		t.Fatalf("Operation: %v", err)
	}
	if n := got.Keys[0].UsageCount; n != 10 {
		t.Fatalf("UsageCount = %d, want 10", n)
	}
}

func TestTablestoreReleaseThenReserveAgain(t *testing.T) {
	s, ctx := mustTablestore(t), context.Background()
	op := mustCreateOp(t, s, map[string]int{"k1": 2})
	ev := keyserver.AuditEvent{Actor: tsRequester, Action: keyserver.ActionSign, OperationID: op.ID, KeyID: "k1", Result: "ok"}
	first, err := s.ReserveUse(ctx, op.ID, "k1", 2)
	if err != nil {
		t.Fatalf("ReserveUse: %v", err)
	}
	second, err := s.ReserveUse(ctx, op.ID, "k1", 2)
	if err != nil {
		t.Fatalf("ReserveUse: %v", err)
	}
	if first.Seq == second.Seq {
		t.Fatalf("both reservations are number %d", first.Seq)
	}
	_, err = s.ReserveUse(ctx, op.ID, "k1", 2)
	mustCode(t, err, keyserver.EEXHAUSTED)

	if err := s.CompleteUse(ctx, second, ev); err != nil {
		t.Fatalf("CompleteUse: %v", err)
	}
	mustCode(t, s.ReleaseUse(ctx, second, ev), keyserver.ECONFLICT) // it is spent
	ev.Result = "released"
	if err := s.ReleaseUse(ctx, first, ev); err != nil {
		t.Fatalf("ReleaseUse: %v", err)
	}
	mustCode(t, s.CompleteUse(ctx, first, ev), keyserver.ECONFLICT)
	if got, err := s.Operation(ctx, op.ID); err != nil || got.Keys[0].UsageCount != 1 {
		t.Fatalf("after release: %+v, %v; want UsageCount 1", got, err)
	}
	if _, err := s.ReserveUse(ctx, op.ID, "k1", 2); err != nil {
		t.Fatalf("ReserveUse after release: %v", err)
	}
	_, err = s.ReserveUse(ctx, op.ID, "k1", 2)
	mustCode(t, err, keyserver.EEXHAUSTED)
	evs, err := s.OperationEvents(ctx, op.ID)
	if err != nil || len(evs) != 3 || evs[1].Result != "ok" || evs[2].Result != "released" {
		t.Fatalf("OperationEvents = %+v, %v; want create, completed, released", evs, err)
	}
}

func TestTablestoreConcurrentApprovalsAllLand(t *testing.T) {
	s, ctx := mustTablestore(t), context.Background()
	op := mustCreateOp(t, s, map[string]int{"k1": 1})
	const approvers = 20
	var wg sync.WaitGroup
	errs := make([]error, approvers)
	for i := range approvers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := keyserver.Approval{Approver: keyserver.Principal{Issuer: tsApprover.Issuer, Subject: fmt.Sprintf("approver-%02d", i)}, Time: tsT0.Add(time.Duration(i) * time.Second)}
			_, errs[i] = s.UpdateOperation(ctx, op.ID, func(o *keyserver.Operation) (*keyserver.Update, error) {
				g := o.Grant("k1")
				if g.ApprovedBy(a.Approver) {
					return nil, keyserver.Errorf(keyserver.ECONFLICT, "approved twice")
				}
				g.Approvals = append(g.Approvals, a)
				return &keyserver.Update{
					Approvals: []keyserver.NewApproval{{KeyID: "k1", Approval: a}},
					Audit:     keyserver.AuditEvent{Actor: a.Approver, Action: keyserver.ActionApprove, OperationID: o.ID, Result: "ok"},
				}, nil
			})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("approver %d: %v", i, err)
		}
	}
	got, err := s.Operation(ctx, op.ID)
	if err != nil {
		t.Fatalf("Operation: %v", err)
	}
	approvals := got.Keys[0].Approvals
	if len(approvals) != approvers {
		t.Fatalf("%d approvals stored, want %d", len(approvals), approvers)
	}
	for i, a := range approvals {
		if want := fmt.Sprintf("approver-%02d", i); a.Approver.Subject != want {
			t.Fatalf("approval %d is by %s, want %s (sorted by time)", i, a.Approver.Subject, want)
		}
	}
	if evs, err := s.OperationEvents(ctx, op.ID); err != nil || len(evs) != approvers+1 {
		t.Fatalf("%d events, %v; want %d", len(evs), err, approvers+1)
	}
}

func TestTablestoreDuplicateApprovalIsAConflict(t *testing.T) {
	s, ctx := mustTablestore(t), context.Background()
	op := mustCreateOp(t, s, map[string]int{"k1": 1})
	approve := func(o *keyserver.Operation) (*keyserver.Update, error) { // never checks ApprovedBy
		return &keyserver.Update{
			Approvals: []keyserver.NewApproval{{KeyID: "k1", Approval: keyserver.Approval{Approver: tsApprover, Time: tsT0}}},
			Audit:     keyserver.AuditEvent{Actor: tsApprover, Action: keyserver.ActionApprove, OperationID: o.ID, Result: "ok"},
		}, nil
	}
	if _, err := s.UpdateOperation(ctx, op.ID, approve); err != nil {
		t.Fatalf("first approval: %v", err)
	}
	_, err := s.UpdateOperation(ctx, op.ID, approve)
	mustCode(t, err, keyserver.ECONFLICT)
	got, err := s.Operation(ctx, op.ID)
	if err != nil {
		t.Fatalf("Operation: %v", err)
	}
	if n := len(got.Keys[0].Approvals); n != 1 {
		t.Fatalf("%d approvals stored, want 1", n)
	}
	if evs, err := s.OperationEvents(ctx, op.ID); err != nil || len(evs) != 2 {
		t.Fatalf("%d events, %v; want create and one approve", len(evs), err)
	}
}
