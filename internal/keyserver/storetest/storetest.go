// Package storetest holds the contract tests of the keyserver store ports
// (OperationStore, KeyStore, SubjectStore, AuditLog and the optional
// SigningLoader and OutboxScanner), so that the in-memory fake of the domain
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
		{"PendingAndAck", testPendingAndAck},
		{"OutboxScanner", testOutboxScanner},
		{"KeysRoundTrip", testKeysRoundTrip},
		{"SubjectsRoundTrip", testSubjectsRoundTrip},
		{"PeopleAndApps", testPeopleAndApps},
		{"RecordAudit", testRecordAudit},
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

func notification(op *keyserver.Operation, event string, at time.Time) *keyserver.Notification {
	ids := make([]string, len(op.Keys))
	for i, g := range op.Keys {
		ids[i] = g.KeyID
	}
	return &keyserver.Notification{ID: keyserver.NewID(), Event: event, OperationID: op.ID, Requester: op.Requester,
		Description: op.Description, KeyIDs: ids, Status: keyserver.StatusPending, Time: at}
}

// mustCreate stores a new operation over keys with its create event and no notification.
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

func mustPending(tb testing.TB, s Stores, opID string) []*keyserver.Notification {
	tb.Helper()
	ns, err := s.Ops.PendingNotifications(context.Background(), opID)
	if err != nil {
		tb.Fatalf("PendingNotifications(%s): %v", opID, err)
	}
	return ns
}

// mustSameOp compares operations after the store's time precision.
func mustSameOp(tb testing.TB, what string, got, want *keyserver.Operation) {
	tb.Helper()
	if g, w := normOp(got), normOp(want); !reflect.DeepEqual(g, w) {
		tb.Fatalf("%s = %s, want %s", what, dumpOp(g), dumpOp(w))
	}
}

func mustSameNotifications(tb testing.TB, what string, got, want []*keyserver.Notification) {
	tb.Helper()
	g, w := make([]keyserver.Notification, len(got)), make([]keyserver.Notification, len(want))
	for i, n := range got {
		g[i] = normNotification(n)
	}
	for i, n := range want {
		w[i] = normNotification(n)
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

func normNotification(n *keyserver.Notification) keyserver.Notification {
	c := *n
	c.Time = normTime(n.Time)
	c.KeyIDs = append([]string{}, n.KeyIDs...)
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
