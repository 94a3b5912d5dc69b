package azuritetests

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"keyserver/internal/auditlog"
	"keyserver/internal/keyserver"
	"keyserver/internal/tablestore"
)

var (
	tsRequester = keyserver.Principal{Issuer: "https://issuer.example/tenant/v2.0", Subject: "pipeline/with/slashes#and?marks"}
	tsApprover  = keyserver.Principal{Issuer: "https://other.example", Subject: "alice"}
	tsT0        = time.Date(2031, 3, 4, 5, 6, 7, 123456700, time.UTC)
)

// mustTablestore returns a Store on the shared Azurite with tables of its own.
func mustTablestore(tb testing.TB) *tablestore.Store {
	tb.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		tb.Fatalf("random prefix: %v", err)
	}
	s, err := tablestore.NewFromConnectionString(azuriteConn, "t"+hex.EncodeToString(b))
	if err != nil {
		tb.Fatalf("NewFromConnectionString: %v", err)
	}
	if err := s.EnsureTables(context.Background()); err != nil {
		tb.Fatalf("EnsureTables: %v", err)
	}
	var mu sync.Mutex
	tick := tsT0.Add(time.Second)
	s.Now = func() time.Time { // a clock that moves on by 1 ms per reading
		mu.Lock()
		defer mu.Unlock()
		tick = tick.Add(time.Millisecond)
		return tick
	}
	return s
}

// mustCreateOp stores a new operation over keys (keyid -> maxusagecount), requiring one approval each.
func mustCreateOp(tb testing.TB, s *tablestore.Store, keys map[string]int) *keyserver.Operation {
	tb.Helper()
	op := &keyserver.Operation{
		ID:          keyserver.NewID(),
		Requester:   tsRequester,
		Description: "release build 1.2.3",
		Created:     tsT0,
		Expires:     tsT0.Add(time.Hour),
	}
	for id, max := range keys {
		op.Keys = append(op.Keys, &keyserver.KeyGrant{KeyID: id, MaxUsageCount: max, RequiredApprovals: 1, Approvals: []keyserver.Approval{}})
	}
	ev := keyserver.AuditEvent{Time: tsT0, Actor: tsRequester, Action: keyserver.ActionCreate, OperationID: op.ID, Result: "ok"}
	if err := s.CreateOperation(context.Background(), op, ev, nil); err != nil {
		tb.Fatalf("CreateOperation: %v", err)
	}
	return op
}

func mustCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := keyserver.ErrorCode(err); got != code {
		tb.Fatalf("error %v has code %q, want %q", err, got, code)
	}
}

func TestTablestoreKeysRoundTrip(t *testing.T) {
	s, ctx := mustTablestore(t), context.Background()
	k := &keyserver.Key{KeyID: "fw.key-1_a", HSMKey: "https://hsm.example/keys/k1/v1", RequiredApprovals: 2,
		KeyInfo: "firmware", Certificate: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", Algorithm: "ES256", Enabled: true}
	if err := s.PutKey(ctx, k, keyserver.AuditEvent{}); err != nil {
		t.Fatalf("PutKey: %v", err)
	}
	got, err := s.Key(ctx, k.KeyID)
	if err != nil {
		t.Fatalf("Key: %v", err)
	}
	if !reflect.DeepEqual(got, k) {
		t.Fatalf("Key = %+v, want %+v", got, k)
	}
	k2 := &keyserver.Key{KeyID: "a-first", HSMKey: "h2", Enabled: false}
	if err := s.PutKey(ctx, k2, keyserver.AuditEvent{}); err != nil {
		t.Fatalf("PutKey: %v", err)
	}
	keys, err := s.Keys(ctx)
	if err != nil {
		t.Fatalf("Keys: %v", err)
	}
	if len(keys) != 2 || !reflect.DeepEqual(keys[0], k2) || !reflect.DeepEqual(keys[1], k) {
		t.Fatalf("Keys = %+v, want [%+v %+v]", keys, k2, k)
	}
	if err := s.DeleteKey(ctx, k.KeyID, keyserver.AuditEvent{}); err != nil {
		t.Fatalf("DeleteKey: %v", err)
	}
	_, err = s.Key(ctx, k.KeyID)
	mustCode(t, err, keyserver.ENOTFOUND)
	mustCode(t, s.DeleteKey(ctx, k.KeyID, keyserver.AuditEvent{}), keyserver.ENOTFOUND)
	_, err = s.Key(ctx, "bad/key")
	mustCode(t, err, keyserver.ENOTFOUND)
}

func TestTablestoreSubjectsRoundTrip(t *testing.T) {
	s, ctx := mustTablestore(t), context.Background()
	a := &keyserver.Subject{Principal: tsRequester, Name: "Build pipeline", Roles: []string{"orderer:fw", "approver:*"}}
	b := &keyserver.Subject{Principal: keyserver.Principal{Issuer: "https://a.example", Subject: tsRequester.Subject}, Name: "Same id, other issuer"}
	for _, sub := range []*keyserver.Subject{a, b} {
		if err := s.PutSubject(ctx, sub, keyserver.AuditEvent{}); err != nil {
			t.Fatalf("PutSubject: %v", err)
		}
	}
	got, err := s.Subject(ctx, a.Principal)
	if err != nil {
		t.Fatalf("Subject: %v", err)
	}
	if !reflect.DeepEqual(got, a) {
		t.Fatalf("Subject = %+v, want %+v", got, a)
	}
	all, err := s.SubjectsByID(ctx, tsRequester.Subject)
	if err != nil {
		t.Fatalf("SubjectsByID: %v", err)
	}
	wantB := *b
	wantB.Roles = []string{}
	if len(all) != 2 || !reflect.DeepEqual(all[0], &wantB) || !reflect.DeepEqual(all[1], a) {
		t.Fatalf("SubjectsByID = %+v, want [%+v %+v]", all, &wantB, a)
	}
	if err := s.DeleteSubject(ctx, a.Principal, keyserver.AuditEvent{}); err != nil {
		t.Fatalf("DeleteSubject: %v", err)
	}
	_, err = s.Subject(ctx, a.Principal)
	mustCode(t, err, keyserver.ENOTFOUND)
	mustCode(t, s.DeleteSubject(ctx, a.Principal, keyserver.AuditEvent{}), keyserver.ENOTFOUND)
}

func TestTablestoreOperationRoundTrip(t *testing.T) {
	s, ctx := mustTablestore(t), context.Background()
	op := mustCreateOp(t, s, map[string]int{"k1": 3})
	got, err := s.Operation(ctx, op.ID)
	if err != nil {
		t.Fatalf("Operation: %v", err)
	}
	if !reflect.DeepEqual(got, op) {
		t.Fatalf("Operation = %+v, want %+v", got, op)
	}
	err = s.CreateOperation(ctx, op, keyserver.AuditEvent{}, nil)
	mustCode(t, err, keyserver.ECONFLICT)
	_, err = s.Operation(ctx, keyserver.NewID())
	mustCode(t, err, keyserver.ENOTFOUND)
	_, err = s.Operation(ctx, "not-an-id")
	mustCode(t, err, keyserver.ENOTFOUND)
}

func TestTablestoreUpdateOperationApprovesAndRejects(t *testing.T) {
	s, ctx := mustTablestore(t), context.Background()
	op := mustCreateOp(t, s, map[string]int{"k1": 3})
	approval := keyserver.Approval{Approver: tsApprover, Name: "Alice", Time: tsT0.Add(time.Minute), Comment: "ok"}
	n := &keyserver.Event{ID: "n1", Type: keyserver.EventApproved, Time: tsT0, Operation: keyserver.Summarize(op, tsT0)}
	got, err := s.UpdateOperation(ctx, op.ID, func(o *keyserver.Operation) (*keyserver.Update, error) {
		return &keyserver.Update{
			Approvals: []keyserver.NewApproval{{KeyID: "k1", Approval: approval}},
			Audit:     keyserver.AuditEvent{Time: tsT0.Add(time.Millisecond), Actor: tsApprover, Action: keyserver.ActionApprove, OperationID: o.ID, Result: "ok"},
			Events:    []*keyserver.Event{n},
		}, nil
	})
	if err != nil {
		t.Fatalf("UpdateOperation: %v", err)
	}
	if !reflect.DeepEqual(got.Keys[0].Approvals, []keyserver.Approval{approval}) {
		t.Fatalf("returned approvals = %+v, want [%+v]", got.Keys[0].Approvals, approval)
	}
	loaded, err := s.Operation(ctx, op.ID)
	if err != nil {
		t.Fatalf("Operation: %v", err)
	}
	if !reflect.DeepEqual(loaded, got) {
		t.Fatalf("reloaded %+v, want %+v", loaded, got)
	}
	if st := loaded.Status(tsT0); st != keyserver.StatusApproved {
		t.Fatalf("status = %s, want approved", st)
	}

	closure := &keyserver.Closure{By: tsApprover, Time: tsT0.Add(2 * time.Minute), Reason: "wrong build"}
	if _, err := s.UpdateOperation(ctx, op.ID, func(o *keyserver.Operation) (*keyserver.Update, error) {
		o.Rejected = closure
		return &keyserver.Update{Audit: keyserver.AuditEvent{Actor: tsApprover, Action: keyserver.ActionReject, OperationID: o.ID, Result: "ok"}}, nil
	}); err != nil {
		t.Fatalf("UpdateOperation reject: %v", err)
	}
	loaded, err = s.Operation(ctx, op.ID)
	if err != nil {
		t.Fatalf("Operation: %v", err)
	}
	if loaded.Rejected == nil || *loaded.Rejected != *closure || loaded.Cancelled != nil {
		t.Fatalf("Rejected = %+v, Cancelled = %+v; want %+v, nil", loaded.Rejected, loaded.Cancelled, closure)
	}

	evs, err := s.OperationEvents(ctx, op.ID)
	if err != nil {
		t.Fatalf("OperationEvents: %v", err)
	}
	if len(evs) != 3 || evs[0].Action != keyserver.ActionCreate || evs[1].Action != keyserver.ActionApprove || evs[2].Action != keyserver.ActionReject {
		t.Fatalf("events = %+v, want create, approve, reject", evs)
	}
	unsent, err := s.UnsentEvents(ctx, tsT0.Add(time.Hour), 100)
	if err != nil || len(unsent) != 1 || unsent[0].ID != n.ID || unsent[0].Type != n.Type || unsent[0].Operation.ID != op.ID {
		t.Fatalf("UnsentEvents = %+v, %v; want [%+v] (this test's tables hold one operation)", unsent, err, n)
	}
	for range 2 { // the second mark finds nothing and still succeeds
		if err := s.MarkPublished(ctx, op.ID, []string{n.ID}); err != nil {
			t.Fatalf("MarkPublished: %v", err)
		}
	}
	if unsent, err := s.UnsentEvents(ctx, tsT0.Add(time.Hour), 100); err != nil || len(unsent) != 0 {
		t.Fatalf("UnsentEvents after publishing = %+v, %v; want none", unsent, err)
	}
	_, err = s.UpdateOperation(ctx, keyserver.NewID(), func(*keyserver.Operation) (*keyserver.Update, error) { return nil, nil })
	mustCode(t, err, keyserver.ENOTFOUND)
}

func TestTablestoreUpdateFnErrorWritesNothing(t *testing.T) {
	s, ctx := mustTablestore(t), context.Background()
	op := mustCreateOp(t, s, map[string]int{"k1": 3})
	fnErr := errors.New("refused by the domain")
	_, err := s.UpdateOperation(ctx, op.ID, func(o *keyserver.Operation) (*keyserver.Update, error) {
		o.Cancelled = &keyserver.Closure{By: tsRequester, Time: tsT0}
		o.Keys[0].Approvals = append(o.Keys[0].Approvals, keyserver.Approval{Approver: tsApprover, Time: tsT0})
		return &keyserver.Update{
			Approvals: []keyserver.NewApproval{{KeyID: "k1", Approval: keyserver.Approval{Approver: tsApprover, Time: tsT0}}},
			Audit:     keyserver.AuditEvent{Action: keyserver.ActionCancel},
			Events:    []*keyserver.Event{{ID: "n1", Type: keyserver.EventCancelled, Operation: keyserver.OperationSummary{ID: o.ID}}},
		}, fnErr
	})
	if err != fnErr {
		t.Fatalf("UpdateOperation error = %v, want fn's error as is", err)
	}
	got, err := s.Operation(ctx, op.ID)
	if err != nil {
		t.Fatalf("Operation: %v", err)
	}
	if !reflect.DeepEqual(got, op) {
		t.Fatalf("after a failed fn the operation is %+v, want unchanged %+v", got, op)
	}
	evs, err := s.OperationEvents(ctx, op.ID)
	if err != nil || len(evs) != 1 {
		t.Fatalf("OperationEvents = %+v, %v; want only the create event", evs, err)
	}
	if unsent, err := s.UnsentEvents(ctx, tsT0.Add(time.Hour), 100); err != nil || len(unsent) != 0 {
		t.Fatalf("UnsentEvents = %+v, %v; want none", unsent, err)
	}
}

func TestTablestoreListOperations(t *testing.T) {
	s, ctx := mustTablestore(t), context.Background()
	open := mustCreateOp(t, s, map[string]int{"k1": 1})
	closed := mustCreateOp(t, s, map[string]int{"k1": 1})
	if _, err := s.UpdateOperation(ctx, closed.ID, func(o *keyserver.Operation) (*keyserver.Update, error) {
		o.Cancelled = &keyserver.Closure{By: tsRequester, Time: tsT0}
		return nil, nil
	}); err != nil {
		t.Fatalf("cancelling: %v", err)
	}
	if _, err := s.ReserveUse(ctx, open.ID, "k1", 1); err != nil {
		t.Fatalf("ReserveUse: %v", err)
	}
	tests := []struct {
		name   string
		openAt time.Time
		want   int
	}{
		{"every open one", time.Time{}, 1},
		{"open now", tsT0.Add(time.Minute), 1},
		{"after expiry", tsT0.Add(2 * time.Hour), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ops, err := s.ListOperations(ctx, keyserver.OperationFilter{OpenAt: tc.openAt})
			if err != nil {
				t.Fatalf("ListOperations: %v", err)
			}
			if len(ops) != tc.want {
				t.Fatalf("ListOperations returned %d operations, want %d", len(ops), tc.want)
			}
			if tc.want == 1 && (ops[0].ID != open.ID || ops[0].Keys[0].UsageCount != 1) {
				t.Fatalf("ListOperations = %+v, want %s with one use", ops[0], open.ID)
			}
		})
	}
}

func TestTablestoreRecordAuditAndHealth(t *testing.T) {
	s, ctx := mustTablestore(t), context.Background()
	ev := keyserver.AuditEvent{Time: tsT0, Actor: tsApprover, Action: keyserver.ActionSign, KeyID: "k1", Digest: "ab12", Result: "refused: forbidden", Detail: "key k1 is not the caller's"}
	if err := s.RecordAudit(ctx, ev); err != nil {
		t.Fatalf("RecordAudit: %v", err)
	}
	evs, err := s.AuditEvents(ctx, tsT0)
	if err != nil {
		t.Fatalf("AuditEvents: %v", err)
	}
	ev.Time = auditlog.Normalize(ev.Time) // records keep microseconds
	if len(evs) != 1 || evs[0] != ev {
		t.Fatalf("AuditEvents = %+v, want [%+v]", evs, ev)
	}
	op := mustCreateOp(t, s, map[string]int{"k1": 1})
	sign := keyserver.AuditEvent{Time: tsT0.Add(time.Second), Actor: tsRequester, Action: keyserver.ActionSign, OperationID: op.ID, KeyID: "k1", Result: "denied"}
	if err := s.RecordEvent(ctx, op.ID, sign); err != nil {
		t.Fatalf("RecordEvent: %v", err)
	}
	sign.Time = auditlog.Normalize(sign.Time)
	if evs, err := s.OperationEvents(ctx, op.ID); err != nil || len(evs) != 2 || evs[1] != sign {
		t.Fatalf("OperationEvents = %+v, %v; want create then %+v", evs, err, sign)
	}
	if err := s.Health(ctx); err != nil {
		t.Fatalf("Health: %v", err)
	}
	if err := s.EnsureTables(ctx); err != nil {
		t.Fatalf("EnsureTables a second time: %v", err)
	}
}

func TestTablestoreUnreachableIsUnavailable(t *testing.T) {
	s, err := tablestore.NewFromConnectionString(mustUnreachableTables(t), "ks")
	if err != nil {
		t.Fatalf("NewFromConnectionString: %v", err)
	}
	ctx := context.Background()
	mustCode(t, s.Health(ctx), keyserver.EUNAVAILABLE)
	_, err = s.Operation(ctx, keyserver.NewID())
	mustCode(t, err, keyserver.EUNAVAILABLE)
	_, err = s.ReserveUse(ctx, keyserver.NewID(), "k1", 3)
	mustCode(t, err, keyserver.EUNAVAILABLE)
	mustCode(t, s.PutKey(ctx, &keyserver.Key{KeyID: "k1"}, keyserver.AuditEvent{}), keyserver.EUNAVAILABLE)
}
