package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"keyserver/internal/keyserver"
)

// testAdminChangesRecorded: an admin change and its record are written
// together; a change that fails (here: deleting what is not there) writes
// no record; records never show up as keys, subjects or policies.
func testAdminChangesRecorded(t *testing.T, s Stores) {
	ctx := context.Background()
	r, ok := s.Audit.(AuditReader)
	if !ok {
		t.Fatalf("%T is no storetest.AuditReader: the contract reads the records back", s.Audit)
	}
	admin := keyserver.Principal{Issuer: "https://issuer.example", Subject: "admin"}
	ev := func(i int, action, target, detail string) keyserver.AuditEvent {
		return keyserver.AuditEvent{Time: t0.Add(time.Duration(i) * time.Second), Actor: admin, Action: action, Target: target, Result: "ok", Detail: detail}
	}
	key := &keyserver.Key{KeyID: "k1", HSMKey: "https://hsm.example/keys/k1/v1", Enabled: true, Channels: []keyserver.Channel{}}
	sub := &keyserver.Subject{Principal: requester, Roles: []string{"orderer:k1"}}
	pol := &keyserver.Policy{ID: "github:octo/fw", Issuer: "https://token.actions.githubusercontent.com",
		Conditions: []keyserver.Condition{{Claim: "repository_id", Value: "4711"}}, Roles: []string{"orderer:k1"}}
	want := []keyserver.AuditEvent{
		ev(0, keyserver.ActionAdminKey, "k1", "put key k1"),
		ev(2, keyserver.ActionAdminSubject, requester.String(), "put subject"),
		ev(4, keyserver.ActionAdminPolicy, pol.ID, "put policy"),
	}
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	must("PutKey", s.Keys.PutKey(ctx, key, want[0]))
	mustCode(t, s.Keys.DeleteKey(ctx, "k2", ev(1, keyserver.ActionAdminKey, "k2", "delete key k2")), keyserver.ENOTFOUND)
	must("PutSubject", s.Subjects.PutSubject(ctx, sub, want[1]))
	other := requester
	other.Issuer = "https://not-registered.example"
	mustCode(t, s.Subjects.DeleteSubject(ctx, other, ev(3, keyserver.ActionAdminSubject, other.String(), "delete subject")), keyserver.ENOTFOUND)
	must("PutPolicy", s.Policies.PutPolicy(ctx, pol, want[2]))
	mustCode(t, s.Policies.DeletePolicy(ctx, "nopolicy", ev(5, keyserver.ActionAdminPolicy, "nopolicy", "delete policy")), keyserver.ENOTFOUND)

	evs, err := r.AuditEvents(ctx, t0)
	must("AuditEvents", err)
	for i := range evs {
		evs[i] = normEvent(evs[i])
	}
	for i := range want {
		want[i] = normEvent(want[i])
	}
	if !reflect.DeepEqual(evs, want) {
		t.Fatalf("records = %+v\nwant the three changes made, and none of the three that failed: %+v", evs, want)
	}
	keys, err := s.Keys.Keys(ctx)
	if err != nil || len(keys) != 1 || keys[0].KeyID != "k1" {
		t.Fatalf("Keys = %+v, %v; want k1 alone", keys, err)
	}
	mustSubjects(t, s, requester.Subject, sub)
	mustListed(t, s, sub)
	mustPolicies(t, s, pol)
}
