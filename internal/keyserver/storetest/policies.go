package storetest

import (
	"context"
	"reflect"
	"testing"

	"keyserver/internal/keyserver"
)

func mustPolicies(tb testing.TB, s Stores, want ...*keyserver.Policy) {
	tb.Helper()
	got, err := s.Policies.Policies(context.Background())
	if err != nil {
		tb.Fatalf("Policies: %v", err)
	}
	if len(got) != len(want) {
		tb.Fatalf("Policies = %d policies, want %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			tb.Fatalf("Policies[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// testPoliciesRoundTrip: ids with / and : are kept, listed in id order,
// replaced and deleted; what a caller changes afterwards is not stored.
func testPoliciesRoundTrip(t *testing.T, s Stores) {
	ctx := context.Background()
	mustPolicies(t, s)
	gh := &keyserver.Policy{ID: "github:octo/firmware:main", Issuer: "https://token.actions.githubusercontent.com", Description: "Release builds – ünïcode",
		Conditions: []keyserver.Condition{{Claim: "repository_id", Value: "4711"}, {Claim: "ref", Value: "refs/heads/release/*", Glob: true}},
		Roles:      []string{"orderer:key1", "orderer:key4"}}
	gl := &keyserver.Policy{ID: "a/gitlab", Issuer: "https://gitlab.example.com", Conditions: []keyserver.Condition{{Claim: "project_id", Value: "7"}}, Roles: []string{"orderer:*"}}
	for _, p := range []*keyserver.Policy{gh, gl} {
		if err := s.Policies.PutPolicy(ctx, p, keyserver.AuditEvent{}); err != nil {
			t.Fatalf("PutPolicy(%s): %v", p.ID, err)
		}
	}
	want := *gh
	want.Conditions = append([]keyserver.Condition{}, gh.Conditions...)
	gh.Conditions[0].Value = "changed by the caller after PutPolicy"
	got, err := s.Policies.Policy(ctx, want.ID)
	if err != nil || !reflect.DeepEqual(got, &want) {
		t.Fatalf("Policy = %+v, %v; want %+v", got, err, &want)
	}
	got.Roles[0] = "changed by the reader"
	mustPolicies(t, s, gl, &want)

	replaced := &keyserver.Policy{ID: want.ID, Issuer: want.Issuer, Conditions: []keyserver.Condition{{Claim: "repository_id", Value: "4711"}}, Roles: []string{"orderer:key1"}}
	if err := s.Policies.PutPolicy(ctx, replaced, keyserver.AuditEvent{}); err != nil {
		t.Fatalf("PutPolicy replacing: %v", err)
	}
	mustPolicies(t, s, gl, replaced)
	if err := s.Policies.DeletePolicy(ctx, replaced.ID, keyserver.AuditEvent{}); err != nil {
		t.Fatalf("DeletePolicy: %v", err)
	}
	_, err = s.Policies.Policy(ctx, replaced.ID)
	mustCode(t, err, keyserver.ENOTFOUND)
	mustCode(t, s.Policies.DeletePolicy(ctx, replaced.ID, keyserver.AuditEvent{}), keyserver.ENOTFOUND)
	mustPolicies(t, s, gl)
	// Subjects live next to policies and never meet them.
	mustSubjects(t, s, "a/gitlab")
}
