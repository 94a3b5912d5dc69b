// Package storetest holds the contract tests of the keyserver store ports
// (OperationStore, KeyStore, SubjectStore, PolicyStore, AuditLog and the optional
// SigningLoader and UpkeepStore), so that the in-memory fake of the domain
// tests and the Table Storage adapter are held to the same promises.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"keyserver/internal/keyserver"
)

// Stores are the ports under test, usually one value implementing them all.
type Stores struct {
	Ops      keyserver.OperationStore
	Keys     keyserver.KeyStore
	Subjects keyserver.SubjectStore
	Audit    keyserver.AuditLog
	Policies keyserver.PolicyStore
}

// EventReader is implemented by stores whose operation audit events tests can read back.
type EventReader = keyserver.EventReader

// AuditReader is implemented by stores whose global audit events tests can
// read back, by the UTC day of their time.
type AuditReader interface {
	AuditEvents(ctx context.Context, day time.Time) ([]keyserver.AuditEvent, error)
}

// Precision is the finest time a store must keep: Table Storage keeps 100 ns.
const Precision = 100 * time.Nanosecond

// EventPrecision is the finest audit event time a store must keep: events
// are chained audit records, which keep microseconds (docs/AUDIT.md).
const EventPrecision = time.Microsecond

// Run runs the contract. open is called once per subtest and must return
// fresh, empty stores.
func Run(t *testing.T, open func(t *testing.T) Stores) {
	cases := []struct {
		name string
		run  func(t *testing.T, s Stores)
	}{
		{"OperationRoundTrip", testOperationRoundTrip},
		{"CreateTwiceConflicts", testCreateTwiceConflicts},
		{"UnknownIsNotFound", testUnknownIsNotFound},
		{"UpdateWritesApprovalsAndClosures", testUpdateWrites},
		{"UpdateFnErrorWritesNothing", testUpdateFnErrorWritesNothing},
		{"ConcurrentUpdatesLoseNothing", testConcurrentUpdates},
		{"ListOperations", testListOperations},
		{"SigningLoader", testSigningLoader},
		{"ReserveUpToMax", testReserveUpToMax},
		{"ReleaseGivesUseBack", testReleaseGivesUseBack},
		{"FinishedReservationConflicts", testFinishedReservationConflicts},
		{"StaleReservationConflicts", testStaleReservationConflicts},
		{"CloseRevokesReservations", testCloseRevokesReservations},
		{"CloseAfterCompleteKeepsTheUse", testCloseAfterComplete},
		{"ConcurrentReserveNeverPassesMax", testConcurrentReserve},
		{"RecordEvent", testRecordEvent},
		{"UnsentAndPublished", testUnsentAndPublished},
		{"UnsentOldestFirst", testUnsentOldestFirst},
		{"DueOperations", testDueOperations},
		{"FinishedAndDeleted", testFinishedAndDeleted},
		{"SpentAndExhausted", testSpentAndExhausted},
		{"CompleteNotesExhaustion", testCompleteNotesExhaustion},
		{"KeysRoundTrip", testKeysRoundTrip},
		{"SubjectsRoundTrip", testSubjectsRoundTrip},
		{"PeopleAndApps", testPeopleAndApps},
		{"RecordAudit", testRecordAudit},
		{"AdminChangesRecorded", testAdminChangesRecorded},
		{"IdempotencyClaims", testIdempotencyClaims},
		{"ConcurrentIdempotencyClaims", testConcurrentIdempotencyClaims},
		{"PoliciesRoundTrip", testPoliciesRoundTrip},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.run(t, open(t)) })
	}
}

var (
	requester = keyserver.Principal{Issuer: "https://issuer.example/tenant/v2.0", Subject: "pipeline/with/slashes#and?marks"}
	approver  = keyserver.Principal{Issuer: "https://other.example", Subject: "alice"}
	approver2 = keyserver.Principal{Issuer: "https://other.example", Subject: "bob"}
	// t0 has nanoseconds and a zone, so that the contract sees how a store keeps times.
	t0 = time.Date(2031, 3, 4, 5, 6, 7, 123456789, time.FixedZone("CET", 3600))
)

// newOp returns an unstored operation over keys (key id -> max uses), each
// needing one approval.
func newOp(keys map[string]int) *keyserver.Operation {
	op := &keyserver.Operation{
		ID:          keyserver.NewID(),
		Requester:   requester,
		Description: "release build 1.2.3 – ünïcode",
		Created:     t0,
		Expires:     t0.Add(time.Hour),
	}
	ids := make([]string, 0, len(keys))
	for id := range keys {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		op.Keys = append(op.Keys, &keyserver.KeyGrant{KeyID: id, MaxUsageCount: keys[id], RequiredApprovals: 1,
			Approvals: []keyserver.Approval{}, HSMKey: "https://hsm.example/keys/" + id + "/v1"})
	}
	return op
}

func createEvent(op *keyserver.Operation) keyserver.AuditEvent {
	return keyserver.AuditEvent{Time: op.Created, Actor: op.Requester, Action: keyserver.ActionCreate, OperationID: op.ID, Result: "ok", Detail: op.Description}
}

// event returns an event of op of type typ at at, as the service makes them.
func event(op *keyserver.Operation, typ string, at time.Time) *keyserver.Event {
	return &keyserver.Event{ID: keyserver.NewID(), Type: typ, Time: at, Actor: approver, ActorName: "Alice",
		Comment: "looks right – ünïcode", Operation: keyserver.Summarize(op, at), Link: "https://ks.example/operations/" + op.ID,
		Approvers: []keyserver.Approver{{Principal: approver2, Name: "Bob", KeyIDs: []string{op.Keys[0].KeyID}}}}
}

// mustCreate stores a new operation over keys with its create event and no events.
func mustCreate(tb testing.TB, s Stores, keys map[string]int) *keyserver.Operation {
	tb.Helper()
	op := newOp(keys)
	if err := s.Ops.CreateOperation(context.Background(), op, createEvent(op), nil); err != nil {
		tb.Fatalf("CreateOperation: %v", err)
	}
	return op
}

func mustOperation(tb testing.TB, s Stores, id string) *keyserver.Operation {
	tb.Helper()
	op, err := s.Ops.Operation(context.Background(), id)
	if err != nil {
		tb.Fatalf("Operation(%s): %v", id, err)
	}
	return op
}

func mustCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := keyserver.ErrorCode(err); got != code {
		tb.Fatalf("error %v has code %q, want %q", err, got, code)
	}
}

// mustEvents returns the operation's audit events, or nil with a log line
// when the store cannot show them.
func mustEvents(tb testing.TB, s Stores, opID string) []keyserver.AuditEvent {
	tb.Helper()
	r, ok := s.Ops.(EventReader)
	if !ok {
		tb.Logf("%T is no storetest.EventReader: its audit events go unchecked", s.Ops)
		return nil
	}
	evs, err := r.OperationEvents(context.Background(), opID)
	if err != nil {
		tb.Fatalf("OperationEvents: %v", err)
	}
	for i := range evs {
		evs[i] = normEvent(evs[i])
	}
	return evs
}

// mustSameEvents compares the audit events of opID with want, when the store can show them.
func mustSameEvents(tb testing.TB, s Stores, opID string, want ...keyserver.AuditEvent) {
	tb.Helper()
	if _, ok := s.Ops.(EventReader); !ok {
		mustEvents(tb, s, opID)
		return
	}
	got := mustEvents(tb, s, opID)
	for i := range want {
		want[i] = normEvent(want[i])
	}
	if len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
		tb.Fatalf("events of %s = %+v, want %+v", opID, got, want)
	}
}

// upkeepStore returns the store's UpkeepStore, which the contract requires.
func upkeepStore(tb testing.TB, s Stores) keyserver.UpkeepStore {
	tb.Helper()
	up, ok := s.Ops.(keyserver.UpkeepStore)
	if !ok {
		tb.Fatalf("%T is no keyserver.UpkeepStore", s.Ops)
	}
	return up
}

// mustUnsent returns the unsent events of operation opID, oldest first.
func mustUnsent(tb testing.TB, s Stores, opID string) []*keyserver.Event {
	tb.Helper()
	all, err := upkeepStore(tb, s).UnsentEvents(context.Background(), farFuture, 10000)
	if err != nil {
		tb.Fatalf("UnsentEvents: %v", err)
	}
	var out []*keyserver.Event
	for _, ev := range all {
		if ev.Operation.ID == opID {
			out = append(out, ev)
		}
	}
	return out
}

// farFuture is after every time the contract writes.
var farFuture = t0.Add(100 * 365 * 24 * time.Hour)

// mustSameOp compares operations after the store's time precision.
func mustSameOp(tb testing.TB, what string, got, want *keyserver.Operation) {
	tb.Helper()
	if g, w := normOp(got), normOp(want); !reflect.DeepEqual(g, w) {
		tb.Fatalf("%s = %s, want %s", what, dumpOp(g), dumpOp(w))
	}
}

func mustSameEventList(tb testing.TB, what string, got, want []*keyserver.Event) {
	tb.Helper()
	g, w := make([]keyserver.Event, len(got)), make([]keyserver.Event, len(want))
	for i, ev := range got {
		g[i] = normDomainEvent(ev)
	}
	for i, ev := range want {
		w[i] = normDomainEvent(ev)
	}
	if !reflect.DeepEqual(g, w) {
		tb.Fatalf("%s = %+v, want %+v", what, g, w)
	}
}

func isNotFound(err error) bool { return keyserver.ErrorCode(err) == keyserver.ENOTFOUND }

var errFn = errors.New("storetest: refused by fn")

// Normalising copies: times in UTC at Precision, nil slices empty.

func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(Precision)
}

func normOp(op *keyserver.Operation) *keyserver.Operation {
	if op == nil {
		return nil
	}
	c := *op
	c.Created, c.Expires = normTime(op.Created), normTime(op.Expires)
	c.Keys = make([]*keyserver.KeyGrant, len(op.Keys))
	for i, g := range op.Keys {
		cg := *g
		cg.Approvals = make([]keyserver.Approval, len(g.Approvals))
		for j, a := range g.Approvals {
			a.Time = normTime(a.Time)
			cg.Approvals[j] = a
		}
		c.Keys[i] = &cg
	}
	c.Rejected, c.Cancelled = normClosure(op.Rejected), normClosure(op.Cancelled)
	return &c
}

func normClosure(cl *keyserver.Closure) *keyserver.Closure {
	if cl == nil {
		return nil
	}
	c := *cl
	c.Time = normTime(c.Time)
	return &c
}

func normEvent(ev keyserver.AuditEvent) keyserver.AuditEvent {
	ev.Time = normTime(ev.Time).Truncate(EventPrecision)
	return ev
}

func normDomainEvent(ev *keyserver.Event) keyserver.Event {
	c := *ev
	c.Time = normTime(ev.Time)
	c.Operation.Created, c.Operation.Expires = normTime(ev.Operation.Created), normTime(ev.Operation.Expires)
	c.Operation.Keys = append([]keyserver.KeySummary{}, ev.Operation.Keys...)
	c.Approvers = append([]keyserver.Approver{}, ev.Approvers...)
	return c
}

func normSubject(s *keyserver.Subject) keyserver.Subject {
	c := *s
	c.Roles = append([]string{}, s.Roles...)
	return c
}

// dumpOp prints an operation with its grants, which %+v shows as pointers.
func dumpOp(op *keyserver.Operation) string {
	c := *op
	c.Keys, c.Rejected, c.Cancelled = nil, nil, nil
	s := fmt.Sprintf("%+v keys:", c)
	for _, g := range op.Keys {
		s += fmt.Sprintf(" %+v", *g)
	}
	if op.Rejected != nil {
		s += fmt.Sprintf(" rejected: %+v", *op.Rejected)
	}
	if op.Cancelled != nil {
		s += fmt.Sprintf(" cancelled: %+v", *op.Cancelled)
	}
	return s
}
