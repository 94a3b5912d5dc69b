package tablestore_test

import (
	"context"
	"testing"
	"time"

	"keyserver/internal/auditlog"
	"keyserver/internal/keyserver"
)

// signOnce reads op for signing, reserves a use and completes it.
func signOnce(t *testing.T, ss *sealStore, opID string) {
	t.Helper()
	ctx := context.Background()
	if _, err := ss.OperationForSigning(ctx, opID); err != nil {
		t.Fatal(err)
	}
	r := mustReserve(t, ss.Store, opID, 1000)
	ev := keyserver.AuditEvent{Time: time.Now(), Actor: requester, Action: keyserver.ActionSign, OperationID: opID, KeyID: "k1", Result: "ok"}
	if err := ss.CompleteUse(ctx, r, ev); err != nil {
		t.Fatal(err)
	}
}

// Deciding whether an operation's chain is listed costs the sign path
// nothing: from one process, a signature is the reservation's transaction
// and the completion's (the op row it wrote is fresh), with no index write;
// the last use, after which the operation is exhausted, included. A refused
// signature on a finished operation adds one index write to its insert.
func TestSignPathWritesNoIndexRow(t *testing.T) {
	ss := newSealStore(t, "")
	ctx := context.Background()
	const n = 20
	op := mustOperation(t, ss.Store, n)
	approve(t, ss, op.ID)
	signOnce(t, ss, op.ID) // the op row is read once
	before := ss.f.requests.Load()
	for i := 1; i < n; i++ {
		signOnce(t, ss, op.ID)
	}
	if calls := ss.f.requests.Load() - before; calls > 2*(n-1) {
		t.Fatalf("%d table calls for %d signatures; want at most 2 a signature (reserve, complete)", calls, n-1)
	}
	ss.cancel(t, op)
	before = ss.f.requests.Load()
	if err := ss.RecordEvent(ctx, op.ID, refusal(op.ID)); err != nil {
		t.Fatal(err)
	}
	if calls := ss.f.requests.Load() - before; calls > 2 {
		t.Fatalf("%d table calls for a refusal; want at most 2 (the index row, the record)", calls)
	}
	// The chain was listed moments ago by this process: its s~ row stays at
	// least orphanGrace, so more refusals are one insert each.
	before = ss.f.requests.Load()
	for range 5 {
		if err := ss.RecordEvent(ctx, op.ID, refusal(op.ID)); err != nil {
			t.Fatal(err)
		}
	}
	if calls := ss.f.requests.Load() - before; calls != 5 {
		t.Fatalf("%d table calls for 5 more refusals; want 5 (the records only)", calls)
	}
	// Half the grace later, the chain is listed again before the record.
	ss.clock = ss.clock.Add(6 * time.Minute)
	before = ss.f.requests.Load()
	if err := ss.RecordEvent(ctx, op.ID, refusal(op.ID)); err != nil {
		t.Fatal(err)
	}
	if calls := ss.f.requests.Load() - before; calls != 2 {
		t.Fatalf("%d table calls for a refusal 6 minutes later; want 2 (the index row, the record)", calls)
	}
	if !ss.indexed(t)[auditlog.OperationChain(op.ID)] {
		t.Fatal("the finished operation's chain is not listed")
	}
}

func approve(t *testing.T, ss *sealStore, opID string) {
	t.Helper()
	_, err := ss.UpdateOperation(context.Background(), opID, func(o *keyserver.Operation) (*keyserver.Update, error) {
		o.Keys[0].Approvals = []keyserver.Approval{{Approver: keyserver.Principal{Issuer: "i", Subject: "bob"}, Time: time.Now()}}
		return &keyserver.Update{}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
