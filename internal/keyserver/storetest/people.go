package storetest

import (
	"context"
	"testing"
	"time"

	"keyserver/internal/keyserver"
)

// person is approver's id as a person: another principal altogether.
var person = keyserver.Principal{Issuer: approver.Issuer, Subject: approver.Subject, Kind: keyserver.KindPerson}

// testPeopleAndApps checks that a person and an app with the same issuer
// and id are kept apart everywhere a store keeps a principal.
func testPeopleAndApps(t *testing.T, s Stores) {
	ctx := context.Background()
	app := &keyserver.Subject{Principal: approver, Name: "Pipeline named alice", Roles: []string{"orderer:k1"}}
	human := &keyserver.Subject{Principal: person, Name: "Alice", Roles: []string{"approver:k1"}}
	for _, sub := range []*keyserver.Subject{app, human} {
		if err := s.Subjects.PutSubject(ctx, sub, keyserver.AuditEvent{}); err != nil {
			t.Fatalf("PutSubject(%s): %v", sub.Principal, err)
		}
	}
	mustSubject(t, s, app)
	mustSubject(t, s, human)
	mustSubjects(t, s, approver.Subject, app, human)
	if err := s.Subjects.DeleteSubject(ctx, person, keyserver.AuditEvent{}); err != nil {
		t.Fatalf("DeleteSubject(person): %v", err)
	}
	_, err := s.Subjects.Subject(ctx, person)
	mustCode(t, err, keyserver.ENOTFOUND)
	mustSubject(t, s, app)

	// An operation a person asked for, approved by that person's namesake app
	// and by the person: two approvals, each with its kind.
	op := newOp(map[string]int{"k1": 1})
	op.Requester = person
	if err := s.Ops.CreateOperation(ctx, op, createEvent(op), nil); err != nil {
		t.Fatalf("CreateOperation: %v", err)
	}
	if got := mustOperation(t, s, op.ID); got.Requester != person {
		t.Fatalf("requester = %v, want the person %v", got.Requester, person)
	}
	for i, by := range []keyserver.Principal{approver, person} {
		a := keyserver.Approval{Approver: by, Name: by.Kind.String(), Time: t0.Add(time.Duration(i+1) * time.Second)}
		ev := keyserver.AuditEvent{Time: a.Time, Actor: by, Action: keyserver.ActionApprove, OperationID: op.ID, Result: "ok"}
		if _, err := s.Ops.UpdateOperation(ctx, op.ID, approve("k1", a, &keyserver.Update{Audit: ev})); err != nil {
			t.Fatalf("UpdateOperation approving as %v: %v", by, err)
		}
	}
	g := mustOperation(t, s, op.ID).Grant("k1")
	if len(g.Approvals) != 2 || !g.ApprovedBy(approver) || !g.ApprovedBy(person) {
		t.Fatalf("approvals = %+v, want one by the app and one by the person", g.Approvals)
	}
	evs := mustEvents(t, s, op.ID)
	if evs != nil && (len(evs) != 3 || evs[0].Actor != person || evs[1].Actor != approver || evs[2].Actor != person) {
		t.Fatalf("events = %+v, want the person's create, then the app's and the person's approvals", evs)
	}
}
