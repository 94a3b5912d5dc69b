package servicebus_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"keyserver/internal/events"
	"keyserver/internal/keyserver"
	"keyserver/internal/servicebus"
)

// recordingSender records every message it is asked to send, and fails the
// first len(errs) attempts with those errors.
type recordingSender struct {
	attempts []*azservicebus.Message
	ctxs     []context.Context
	opts     []*azservicebus.SendMessageOptions
	errs     []error
	closed   int
}

func (s *recordingSender) SendMessage(ctx context.Context, m *azservicebus.Message, o *azservicebus.SendMessageOptions) error {
	s.attempts = append(s.attempts, m)
	s.ctxs = append(s.ctxs, ctx)
	s.opts = append(s.opts, o)
	if n := len(s.attempts); n <= len(s.errs) {
		return s.errs[n-1]
	}
	return nil
}

func (s *recordingSender) Close(ctx context.Context) error {
	s.closed++
	return nil
}

var opID = strings.Repeat("ab", 20)

func mustEvent(tb testing.TB, typ string, keys ...keyserver.KeySummary) *keyserver.Event {
	tb.Helper()
	return &keyserver.Event{
		ID: strings.Repeat("0e", 20), Type: typ, Time: time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC),
		Actor: keyserver.Principal{Issuer: "https://issuer.example", Subject: "alice"}, ActorName: "Alice",
		Comment: "looks right",
		Operation: keyserver.OperationSummary{
			ID: opID, Description: "release 1.2.3 firmware", Status: keyserver.StatusPending,
			Requester: keyserver.Principal{Issuer: "https://issuer.example", Subject: "pipeline-7"},
			Created:   time.Date(2025, 3, 4, 5, 0, 0, 0, time.UTC), Expires: time.Date(2025, 3, 4, 6, 0, 0, 0, time.UTC),
			Keys: keys,
		},
		Link:      "https://ks.example/operations/" + opID,
		Approvers: []keyserver.Approver{{Principal: keyserver.Principal{Issuer: "https://issuer.example", Subject: "bob"}, Name: "Bob", KeyIDs: []string{"key2"}}},
	}
}

func newPublisher(s servicebus.Sender) *servicebus.Publisher {
	p := servicebus.NewPublisher(s)
	p.Backoff = func(int) time.Duration { return 0 }
	return p
}

func TestPublishBuildsMessage(t *testing.T) {
	tests := []struct {
		typ        string
		keys       []keyserver.KeySummary
		wantKeyIDs string
	}{
		{keyserver.EventCreated, []keyserver.KeySummary{{KeyID: "key1", MaxUsageCount: 1}, {KeyID: "key2", MaxUsageCount: 2, RequiredApprovals: 1}}, "key1,key2"},
		{keyserver.EventApproved, []keyserver.KeySummary{{KeyID: "key2", RequiredApprovals: 1, Approvals: 1}}, "key2"},
		{keyserver.EventRejected, []keyserver.KeySummary{{KeyID: "fw-ec"}}, "fw-ec"},
		{keyserver.EventExpired, nil, ""},
		{keyserver.EventExhausted, []keyserver.KeySummary{{KeyID: "key1", MaxUsageCount: 3, Uses: 3}, {KeyID: "key2", MaxUsageCount: 1, Uses: 1}}, "key1,key2"},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			rec := &recordingSender{}
			ev := mustEvent(t, tt.typ, tt.keys...)
			if err := newPublisher(rec).Publish(context.Background(), ev); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			if len(rec.attempts) != 1 || rec.opts[0] != nil {
				t.Fatalf("sent %d messages with options %v, want 1 without", len(rec.attempts), rec.opts)
			}
			m := rec.attempts[0]
			checks := []struct{ name, got, want string }{
				{"MessageID", deref(m.MessageID), ev.ID},
				{"Subject", deref(m.Subject), tt.typ},
				{"ContentType", deref(m.ContentType), "application/json"},
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Fatalf("%s = %q, want %q", c.name, c.got, c.want)
				}
			}
			if m.TimeToLive == nil || *m.TimeToLive != servicebus.TimeToLive {
				t.Fatalf("TimeToLive = %v, want %v", m.TimeToLive, servicebus.TimeToLive)
			}
			wantProps := map[string]any{"operationid": opID, "keyids": tt.wantKeyIDs}
			if !reflect.DeepEqual(m.ApplicationProperties, wantProps) {
				t.Fatalf("ApplicationProperties = %#v, want %#v", m.ApplicationProperties, wantProps)
			}
			for k, v := range m.ApplicationProperties {
				if reflect.TypeOf(v) != reflect.TypeOf("") {
					t.Fatalf("property %s has type %T, want plain string", k, v)
				}
			}
			// Fields the message must not set: a session id would need a
			// session-enabled subscription, a scheduled time would delay it.
			if m.SessionID != nil || m.ScheduledEnqueueTime != nil || m.PartitionKey != nil || m.To != nil || m.ReplyTo != nil {
				t.Fatalf("message sets fields it should not: %+v", m)
			}
			got, err := events.Parse(m.Body)
			if err != nil {
				t.Fatalf("body does not parse: %v\n%s", err, m.Body)
			}
			want := ev
			if len(want.Operation.Keys) == 0 {
				want.Operation.Keys = nil
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("body = %+v\nwant   %+v", got, want)
			}
		})
	}
}

func deref(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func TestPublishBodyUsesWireNames(t *testing.T) {
	rec := &recordingSender{}
	ev := mustEvent(t, keyserver.EventCreated, keyserver.KeySummary{KeyID: "key2", RequiredApprovals: 1, MaxUsageCount: 3, Uses: 2})
	if err := newPublisher(rec).Publish(context.Background(), ev); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	var fields struct {
		Version   *int
		ID        *string
		Type      *string
		Time      *string
		Actor     map[string]string
		Comment   *string
		Link      *string
		Operation map[string]json.RawMessage
		Approvers []map[string]any
	}
	if err := json.Unmarshal(rec.attempts[0].Body, &fields); err != nil {
		t.Fatalf("body is not a JSON object: %v", err)
	}
	if fields.Version == nil || *fields.Version != 1 || fields.ID == nil || fields.Type == nil || fields.Time == nil ||
		fields.Comment == nil || fields.Link == nil || fields.Actor["subject"] != "alice" || fields.Actor["name"] != "Alice" {
		t.Fatalf("body lacks a top-level field: %s", rec.attempts[0].Body)
	}
	for _, name := range []string{"id", "description", "requester", "status", "created", "expires", "keys"} {
		if _, ok := fields.Operation[name]; !ok {
			t.Fatalf("operation has no %q: %s", name, rec.attempts[0].Body)
		}
	}
	if !strings.Contains(string(fields.Operation["keys"]), `"approvalsgiven":0,"approvalsneeded":1,"maxusagecount":3,"usesspent":2`) {
		t.Fatalf("keys do not name approvals given and needed: %s", fields.Operation["keys"])
	}
	if len(fields.Approvers) != 1 || fields.Approvers[0]["subject"] != "bob" || fields.Approvers[0]["keyids"] == nil {
		t.Fatalf("approvers = %v", fields.Approvers)
	}
}

func TestPublishRetriesWithTheSameMessageID(t *testing.T) {
	lost := &azservicebus.Error{Code: azservicebus.CodeConnectionLost}
	rec := &recordingSender{errs: []error{lost, errors.New("read tcp: connection reset")}}
	ev := mustEvent(t, keyserver.EventCreated, keyserver.KeySummary{KeyID: "key1"})
	if err := newPublisher(rec).Publish(context.Background(), ev); err != nil {
		t.Fatalf("Publish after two transient failures: %v", err)
	}
	if len(rec.attempts) != 3 {
		t.Fatalf("%d attempts, want 3", len(rec.attempts))
	}
	for i, m := range rec.attempts {
		if deref(m.MessageID) != ev.ID || string(m.Body) != string(rec.attempts[0].Body) {
			t.Fatalf("attempt %d sent message id %s, want the event id %s and the same body", i+1, deref(m.MessageID), ev.ID)
		}
	}
	// A second Publish of the same event, as upkeep makes, keeps it too.
	if err := newPublisher(rec).Publish(context.Background(), ev); err != nil || deref(rec.attempts[3].MessageID) != ev.ID {
		t.Fatalf("republish: %v, message id %s", err, deref(rec.attempts[3].MessageID))
	}
}

func TestPublishGivesUp(t *testing.T) {
	lost := &azservicebus.Error{Code: azservicebus.CodeConnectionLost}
	denied := &azservicebus.Error{Code: azservicebus.CodeUnauthorizedAccess}
	tests := []struct {
		name     string
		errs     []error
		attempts int
	}{
		{"transient every time", []error{lost, lost, lost, lost}, servicebus.Attempts},
		{"unauthorized is not retried", []error{denied}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recordingSender{errs: tt.errs}
			ev := mustEvent(t, keyserver.EventApproved, keyserver.KeySummary{KeyID: "key1"})
			err := newPublisher(rec).Publish(context.Background(), ev)
			if !errors.Is(err, tt.errs[0]) || keyserver.ErrorCode(err) != keyserver.EUNAVAILABLE {
				t.Fatalf("Publish error = %v (%s), want EUNAVAILABLE wrapping %v", err, keyserver.ErrorCode(err), tt.errs[0])
			}
			if len(rec.attempts) != tt.attempts {
				t.Fatalf("%d attempts, want %d", len(rec.attempts), tt.attempts)
			}
			for _, want := range []string{ev.ID, ev.Operation.ID, ev.Type} {
				if !strings.Contains(err.Error(), want) {
					t.Fatalf("error %q does not name %q", err, want)
				}
			}
		})
	}
}

type ctxKey struct{}

func TestPublishPassesContext(t *testing.T) {
	rec := &recordingSender{}
	ctx := context.WithValue(context.Background(), ctxKey{}, "marker")
	if err := newPublisher(rec).Publish(ctx, mustEvent(t, keyserver.EventCreated)); err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if len(rec.ctxs) != 1 || rec.ctxs[0].Value(ctxKey{}) != "marker" {
		t.Fatalf("SendMessage did not get the caller's context")
	}
}

func TestPublishRefusesBadEvents(t *testing.T) {
	tests := []struct {
		name string
		ev   func(*keyserver.Event) *keyserver.Event
	}{
		{"nil", func(*keyserver.Event) *keyserver.Event { return nil }},
		{"no id", func(e *keyserver.Event) *keyserver.Event { e.ID = ""; return e }},
		{"id too long", func(e *keyserver.Event) *keyserver.Event { e.ID = strings.Repeat("x", 129); return e }},
		{"unknown type", func(e *keyserver.Event) *keyserver.Event { e.Type = "operation.renamed"; return e }},
		{"bad operation id", func(e *keyserver.Event) *keyserver.Event { e.Operation.ID = "op-1"; return e }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recordingSender{}
			if err := newPublisher(rec).Publish(context.Background(), tt.ev(mustEvent(t, keyserver.EventCreated))); err == nil {
				t.Fatalf("Publish succeeded, want an error")
			}
			if len(rec.attempts) != 0 {
				t.Fatalf("SendMessage was called %d times, want 0", len(rec.attempts))
			}
		})
	}
}

func TestCloseClosesSender(t *testing.T) {
	rec := &recordingSender{}
	if err := servicebus.NewPublisher(rec).Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if rec.closed != 1 {
		t.Fatalf("sender closed %d times, want 1", rec.closed)
	}
}

// fakeCredential is never asked for a token: Dial does not connect.
type fakeCredential struct{}

func (fakeCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{}, errors.New("fakeCredential has no token")
}

func TestDial(t *testing.T) {
	tests := []struct {
		namespace, topic string
		wantErr          bool
	}{
		{"ks.servicebus.windows.net", "keyserver-events", false},
		{"", "keyserver-events", true},
		{"sb://ks.servicebus.windows.net/", "keyserver-events", true},
		{"ks.servicebus.windows.net", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.namespace+"|"+tt.topic, func(t *testing.T) {
			p, err := servicebus.Dial(tt.namespace, tt.topic, fakeCredential{})
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Dial succeeded, want an error")
				}
				return
			}
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			if err := p.Close(context.Background()); err != nil {
				t.Fatalf("Close: %v", err)
			}
		})
	}
}
