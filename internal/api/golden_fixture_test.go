package api

import (
	"context"
	"testing"
	"time"

	"keyserver/internal/keyserver"
	"keyserver/internal/keyserver/memstore"
)

var goldenNow = time.Date(2026, 3, 4, 5, 6, 7, 890123456, time.UTC)

func p(sub string) keyserver.Principal {
	return keyserver.Principal{Issuer: "https://issuer.example/", Subject: sub}
}

func person(sub string) keyserver.Principal {
	pr := p(sub)
	pr.Kind = keyserver.KindPerson
	return pr
}

// goldenFixture returns operations that set every field of the wire at
// least once: a rejected one with named, commented approvals, a cancelled
// one without approvals, and an approved, open one; and the caller who views
// them, an approver. Key key1 and the requester are registered, for the
// key's description and the requester's name.
func goldenFixture(tb testing.TB) (*Server, keyserver.Caller, []*keyserver.Operation) {
	tb.Helper()
	ctx := context.Background()
	store := memstore.New()
	mustNil(tb, store.PutKey(ctx, goldenKey(), keyserver.AuditEvent{}))
	mustNil(tb, store.PutSubject(ctx, &keyserver.Subject{Principal: p("pipeline"), Name: "Build <pipeline>", Roles: []string{"orderer:*"}}, keyserver.AuditEvent{}))
	s := &Server{Service: &keyserver.Service{Keys: store, Subjects: store, Now: func() time.Time { return goldenNow }}}
	viewer := keyserver.Caller{Principal: person("alice"), Roles: []string{"approver:*"}}
	created := goldenNow.Add(-time.Minute)
	rejected := &keyserver.Operation{
		ID: "op-rejected", Requester: p("pipeline"), Description: "Building <firmware> & \"more\"",
		Created: created, Expires: created.Add(time.Hour),
		Keys: []*keyserver.KeyGrant{
			{KeyID: "key1", MaxUsageCount: 5, UsageCount: 2, RequiredApprovals: 0, HSMKey: "https://vault.example/keys/k1"},
			{KeyID: "key3", MaxUsageCount: 1, RequiredApprovals: 2, Approvals: []keyserver.Approval{
				{Approver: person("alice"), Name: "Alice", Time: created.Add(time.Second), Comment: "ok"},
				{Approver: p("bob"), Time: created.Add(2 * time.Second)},
			}},
		},
		Rejected: &keyserver.Closure{By: p("carol"), Time: created.Add(3 * time.Second), Reason: "wrong build"},
	}
	cancelled := &keyserver.Operation{
		ID: "op-cancelled", Requester: p("pipeline"), Description: "Nightly build",
		Created: created, Expires: created.Add(30 * time.Second),
		Keys:      []*keyserver.KeyGrant{{KeyID: "key2", MaxUsageCount: 3, RequiredApprovals: 1}},
		Cancelled: &keyserver.Closure{By: p("pipeline"), Time: created.Add(4 * time.Second)},
	}
	approved := &keyserver.Operation{
		ID: "op-approved", Requester: p("pipeline"), Description: "Release build",
		Created: created, Expires: created.Add(24 * time.Hour),
		BuildContext: &keyserver.BuildContext{Platform: "github", Repository: "org/firmware", RepositoryID: "42", Ref: "refs/heads/main",
			SHA: "0123abcd", Workflow: "org/firmware/.github/workflows/release.yml@refs/heads/main", RunID: "7", RunAttempt: "1",
			Actor: "octocat", Event: "push", RunURL: "https://github.com/org/firmware/actions/runs/7"},
		Keys: []*keyserver.KeyGrant{{KeyID: "key4", MaxUsageCount: 10, UsageCount: 1, RequiredApprovals: 1, Approvals: []keyserver.Approval{
			{Approver: p("dave"), Name: "Dave", Time: created.Add(time.Second)},
		}}},
	}
	return s, viewer, []*keyserver.Operation{rejected, cancelled, approved}
}

func goldenKey() *keyserver.Key {
	return &keyserver.Key{
		KeyID: "key1", HSMKey: "https://vault.example/keys/k1", RequiredApprovals: 2, KeyInfo: "RSA <2048>",
		Certificate: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", Algorithm: "RSA-2048", Enabled: true,
		Channels: []keyserver.Channel{{ID: "ch1", Type: "webhook", URL: "https://hooks.example/path/s3cret", Secret: "hmac-s3cret", Events: []string{"operation.created"}}},
	}
}

func goldenSubject() *keyserver.Subject {
	return &keyserver.Subject{Principal: person("alice"), Name: "Alice", Roles: []string{"approver:key3", "orderer:*"}}
}
