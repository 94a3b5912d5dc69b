package keyserver_test

import (
	"context"
	"testing"

	"keyserver/internal/keyserver"
)

// TestPeopleAndAppsAreTwoSubjects registers a person and an app under one
// issuer and id: each gets its own roles, and neither approves the other's
// operation as if it were its own, nor counts as the other's approval.
func TestPeopleAndAppsAreTwoSubjects(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	app := principal("dana")
	person := keyserver.Principal{Issuer: app.Issuer, Subject: app.Subject, Kind: keyserver.KindPerson}
	mustDo(t, f.store.PutSubject(ctx, &keyserver.Subject{Principal: app, Roles: []string{"orderer:key3", "approver:key3"}}, keyserver.AuditEvent{}))
	mustDo(t, f.store.PutSubject(ctx, &keyserver.Subject{Principal: person, Name: "Dana", Roles: []string{"approver:key3"}}, keyserver.AuditEvent{}))

	asApp, err := f.svc.Caller(ctx, keyserver.Identity{Principal: app})
	mustDo(t, err)
	asPerson, err := f.svc.Caller(ctx, keyserver.Identity{Principal: person, Name: "token name"})
	mustDo(t, err)
	if asPerson.CanOrder("key3") || asPerson.Name != "Dana" || !asApp.CanOrder("key3") {
		t.Fatalf("person %+v and app %+v share roles", asPerson, asApp)
	}
	op, err := f.svc.CreateOperation(ctx, asApp, request(kr("key3", 1)))
	mustDo(t, err)
	if _, err := f.svc.Approve(ctx, asApp, op.ID, ""); keyserver.ErrorCode(err) != keyserver.EFORBIDDEN {
		t.Fatalf("the requester approving: %v", err)
	}
	got, err := f.svc.Approve(ctx, asPerson, op.ID, "")
	mustDo(t, err)
	if g := got.Grant("key3"); len(g.Approvals) != 1 || g.Approvals[0].Approver != person || g.Approvals[0].Name != "Dana" {
		t.Fatalf("approvals = %+v, want the person's", g.Approvals)
	}
	if _, err := f.svc.Approve(ctx, asPerson, op.ID, ""); keyserver.ErrorCode(err) != keyserver.ECONFLICT {
		t.Fatalf("the person approving twice: %v", err)
	}

	// An unregistered person named like a registered app gets nothing.
	stranger := keyserver.Principal{Issuer: testIssuer, Subject: "orderer", Kind: keyserver.KindPerson}
	if _, err := f.svc.Caller(ctx, keyserver.Identity{Principal: stranger}); keyserver.ErrorCode(err) != keyserver.EFORBIDDEN {
		t.Fatalf("a person named like the app orderer: %v", err)
	}
}
