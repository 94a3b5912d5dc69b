package storetest

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"keyserver/internal/keyserver"
)

func mustKeys(tb testing.TB, s Stores, want ...*keyserver.Key) {
	tb.Helper()
	keys, err := s.Keys.Keys(context.Background())
	if err != nil {
		tb.Fatalf("Keys: %v", err)
	}
	got := make([]keyserver.Key, len(keys))
	for i, k := range keys {
		got[i] = *k
	}
	slices.SortFunc(got, func(a, b keyserver.Key) int { return strings.Compare(a.KeyID, b.KeyID) })
	w := make([]keyserver.Key, len(want))
	for i, k := range want {
		w[i] = *k
	}
	if !reflect.DeepEqual(got, w) {
		tb.Fatalf("Keys = %+v, want %+v", got, w)
	}
}

func mustKey(tb testing.TB, s Stores, want *keyserver.Key) {
	tb.Helper()
	got, err := s.Keys.Key(context.Background(), want.KeyID)
	if err != nil {
		tb.Fatalf("Key(%s): %v", want.KeyID, err)
	}
	if !reflect.DeepEqual(got, want) {
		tb.Fatalf("Key = %+v, want %+v", got, want)
	}
}

func testKeysRoundTrip(t *testing.T, s Stores) {
	ctx := context.Background()
	mustKeys(t, s)
	fw := &keyserver.Key{KeyID: "fw.key-1_a", HSMKey: "https://hsm.example/keys/k1/v1", RequiredApprovals: 2,
		KeyInfo: "firmware – ünïcode", Certificate: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n", Algorithm: "ES256", Enabled: true,
		Channels: []keyserver.Channel{
			{ID: "a1", Type: keyserver.ChannelWebhook, URL: "https://hooks.example/k?x=1&y=2", Secret: "s3cr3t-0123456789", Events: []string{keyserver.EventCreated}},
			{ID: "b2", Type: keyserver.ChannelSlack, URL: "https://hooks.slack.example/services/T/B/X"},
		}}
	first := &keyserver.Key{KeyID: "a-first", HSMKey: "h2"}
	for _, k := range []*keyserver.Key{fw, first} {
		if err := s.Keys.PutKey(ctx, k, keyserver.AuditEvent{}); err != nil {
			t.Fatalf("PutKey(%s): %v", k.KeyID, err)
		}
	}
	want := *fw
	want.Channels = slices.Clone(fw.Channels)
	want.Channels[0].Events = slices.Clone(fw.Channels[0].Events)
	fw.HSMKey = "changed by the caller after PutKey"
	fw.Channels[0].Events[0] = "changed by the caller after PutKey"
	mustKey(t, s, &want)
	got, _ := s.Keys.Key(ctx, want.KeyID)
	got.Enabled = false
	got.Channels[1].URL = "changed by the reader"
	mustKey(t, s, &want)
	mustKeys(t, s, first, &want)

	replaced := &keyserver.Key{KeyID: want.KeyID, HSMKey: "https://hsm.example/keys/k1/v2", RequiredApprovals: 1, Algorithm: "PS256"}
	if err := s.Keys.PutKey(ctx, replaced, keyserver.AuditEvent{}); err != nil {
		t.Fatalf("PutKey replacing: %v", err)
	}
	mustKey(t, s, replaced)
	mustKeys(t, s, first, replaced)
	if err := s.Keys.DeleteKey(ctx, replaced.KeyID, keyserver.AuditEvent{}); err != nil {
		t.Fatalf("DeleteKey: %v", err)
	}
	_, err := s.Keys.Key(ctx, replaced.KeyID)
	mustCode(t, err, keyserver.ENOTFOUND)
	mustCode(t, s.Keys.DeleteKey(ctx, replaced.KeyID, keyserver.AuditEvent{}), keyserver.ENOTFOUND)
	mustKeys(t, s, first)
}

func mustSubjects(tb testing.TB, s Stores, id string, want ...*keyserver.Subject) {
	tb.Helper()
	subs, err := s.Subjects.SubjectsByID(context.Background(), id)
	if err != nil {
		tb.Fatalf("SubjectsByID(%s): %v", id, err)
	}
	got := make([]keyserver.Subject, len(subs))
	for i, sub := range subs {
		got[i] = normSubject(sub)
	}
	slices.SortFunc(got, bySubjectRegistration)
	w := make([]keyserver.Subject, len(want))
	for i, sub := range want {
		w[i] = normSubject(sub)
	}
	if !reflect.DeepEqual(got, w) {
		tb.Fatalf("SubjectsByID(%s) = %+v, want %+v", id, got, w)
	}
}

// bySubjectRegistration orders registrations by issuer, then kind.
func bySubjectRegistration(a, b keyserver.Subject) int {
	if c := strings.Compare(a.Issuer, b.Issuer); c != 0 {
		return c
	}
	return int(a.Kind) - int(b.Kind)
}

func mustSubject(tb testing.TB, s Stores, want *keyserver.Subject) {
	tb.Helper()
	got, err := s.Subjects.Subject(context.Background(), want.Principal)
	if err != nil {
		tb.Fatalf("Subject(%s): %v", want.Principal, err)
	}
	if g, w := normSubject(got), normSubject(want); !reflect.DeepEqual(g, w) {
		tb.Fatalf("Subject = %+v, want %+v", g, w)
	}
}

func testSubjectsRoundTrip(t *testing.T, s Stores) {
	ctx := context.Background()
	a := &keyserver.Subject{Principal: requester, Name: "Build pipeline", Roles: []string{"orderer:fw", "approver:*"}}
	b := &keyserver.Subject{Principal: keyserver.Principal{Issuer: "https://a.example", Subject: requester.Subject}, Name: "Same id, other issuer"}
	c := &keyserver.Subject{Principal: approver, Name: "Alice", Roles: []string{keyserver.RoleAdmin}}
	for _, sub := range []*keyserver.Subject{a, b, c} {
		if err := s.Subjects.PutSubject(ctx, sub, keyserver.AuditEvent{}); err != nil {
			t.Fatalf("PutSubject(%s): %v", sub.Principal, err)
		}
	}
	want := normSubject(a)
	a.Roles[0] = "changed by the caller after PutSubject"
	mustSubject(t, s, &want)
	got, _ := s.Subjects.Subject(ctx, want.Principal)
	got.Roles[0] = "changed by the reader"
	mustSubject(t, s, &want)
	mustSubject(t, s, b)
	mustSubjects(t, s, requester.Subject, b, &want)
	mustSubjects(t, s, "nobody")

	replaced := &keyserver.Subject{Principal: requester, Name: "Renamed", Roles: []string{keyserver.RoleAuditor}}
	if err := s.Subjects.PutSubject(ctx, replaced, keyserver.AuditEvent{}); err != nil {
		t.Fatalf("PutSubject replacing: %v", err)
	}
	mustSubject(t, s, replaced)
	if err := s.Subjects.DeleteSubject(ctx, requester, keyserver.AuditEvent{}); err != nil {
		t.Fatalf("DeleteSubject: %v", err)
	}
	_, err := s.Subjects.Subject(ctx, requester)
	mustCode(t, err, keyserver.ENOTFOUND)
	mustCode(t, s.Subjects.DeleteSubject(ctx, requester, keyserver.AuditEvent{}), keyserver.ENOTFOUND)
	mustSubjects(t, s, requester.Subject, b)
	mustSubject(t, s, c)
	mustListed(t, s, b, c)
}

// mustListed checks that a SubjectLister lists exactly want, ordered by
// subject id and issuer.
func mustListed(tb testing.TB, s Stores, want ...*keyserver.Subject) {
	tb.Helper()
	l, ok := s.Subjects.(keyserver.SubjectLister)
	if !ok {
		tb.Logf("%T is no keyserver.SubjectLister: listing goes unchecked", s.Subjects)
		return
	}
	subs, err := l.Subjects(context.Background())
	if err != nil {
		tb.Fatalf("Subjects: %v", err)
	}
	got := make([]keyserver.Subject, len(subs))
	for i, sub := range subs {
		got[i] = normSubject(sub)
	}
	w := make([]keyserver.Subject, len(want))
	for i, sub := range want {
		w[i] = normSubject(sub)
	}
	slices.SortFunc(w, func(a, b keyserver.Subject) int {
		if c := strings.Compare(a.Subject, b.Subject); c != 0 {
			return c
		}
		return strings.Compare(a.Issuer, b.Issuer)
	})
	if !reflect.DeepEqual(got, w) {
		tb.Fatalf("Subjects = %+v, want %+v", got, w)
	}
}

func testRecordAudit(t *testing.T, s Stores) {
	ctx := context.Background()
	ev := keyserver.AuditEvent{Time: t0, Actor: approver, Action: keyserver.ActionSign, KeyID: "k1", Digest: "ab12", Result: "refused: forbidden", Detail: "key k1 is not the caller's"}
	later := keyserver.AuditEvent{Time: t0.Add(time.Second), Actor: requester, Action: keyserver.ActionSign, OperationID: keyserver.NewID(), KeyID: "k1", Result: "refused: not_found"}
	nextDay := keyserver.AuditEvent{Time: t0.Add(24 * time.Hour), Actor: approver, Action: keyserver.ActionSign, Result: "refused: not_found"}
	for _, e := range []keyserver.AuditEvent{ev, later, nextDay} {
		if err := s.Audit.RecordAudit(ctx, e); err != nil {
			t.Fatalf("RecordAudit: %v", err)
		}
	}
	r, ok := s.Audit.(AuditReader)
	if !ok {
		t.Fatalf("%T is no storetest.AuditReader: the contract reads the recorded events back", s.Audit)
	}
	evs, err := r.AuditEvents(ctx, t0)
	if err != nil {
		t.Fatalf("AuditEvents: %v", err)
	}
	for i := range evs {
		evs[i] = normEvent(evs[i])
	}
	if want := []keyserver.AuditEvent{normEvent(ev), normEvent(later)}; !reflect.DeepEqual(evs, want) {
		t.Fatalf("AuditEvents(%s) = %+v, want %+v", t0.UTC().Format(time.DateOnly), evs, want)
	}
}
