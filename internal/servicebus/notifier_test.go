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

	"keyserver/internal/keyserver"
	"keyserver/internal/servicebus"
)

// recordingSender records what it is asked to send and fails when err is set.
type recordingSender struct {
	sent   []*azservicebus.Message
	ctxs   []context.Context
	opts   []*azservicebus.SendMessageOptions
	err    error
	closed int
}

func (s *recordingSender) SendMessage(ctx context.Context, m *azservicebus.Message, o *azservicebus.SendMessageOptions) error {
	s.ctxs = append(s.ctxs, ctx)
	s.opts = append(s.opts, o)
	if s.err != nil {
		return s.err
	}
	s.sent = append(s.sent, m)
	return nil
}

func (s *recordingSender) Close(ctx context.Context) error {
	s.closed++
	return nil
}

func mustNotification(tb testing.TB, event string, status keyserver.Status, keyIDs ...string) *keyserver.Notification {
	tb.Helper()
	return &keyserver.Notification{
		ID:          "n-" + strings.ReplaceAll(event, ".", "-"),
		Event:       event,
		OperationID: "op-1234",
		Requester:   keyserver.Principal{Issuer: "https://issuer.example", Subject: "pipeline-7"},
		Description: "release 1.2.3 firmware",
		KeyIDs:      keyIDs,
		Status:      status,
		Time:        time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC),
	}
}

func mustStr(tb testing.TB, name string, p *string) string {
	tb.Helper()
	if p == nil {
		tb.Fatalf("%s is nil", name)
	}
	return *p
}

func TestNotifyBuildsMessage(t *testing.T) {
	tests := []struct {
		event      string
		status     keyserver.Status
		keyIDs     []string
		wantKeyIDs string
	}{
		{keyserver.EventCreated, keyserver.StatusPending, []string{"key1", "key2"}, "key1,key2"},
		{keyserver.EventApproved, keyserver.StatusApproved, []string{"key1"}, "key1"},
		{keyserver.EventRejected, keyserver.StatusRejected, []string{"fw-ec"}, "fw-ec"},
		{keyserver.EventCancelled, keyserver.StatusCancelled, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.event, func(t *testing.T) {
			rec := &recordingSender{}
			n := mustNotification(t, tt.event, tt.status, tt.keyIDs...)
			if err := servicebus.NewNotifier(rec).Notify(context.Background(), n); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			if len(rec.sent) != 1 {
				t.Fatalf("sent %d messages, want 1", len(rec.sent))
			}
			m := rec.sent[0]

			if got := mustStr(t, "MessageID", m.MessageID); got != n.ID {
				t.Fatalf("MessageID = %q, want %q", got, n.ID)
			}
			if got := mustStr(t, "Subject", m.Subject); got != tt.event {
				t.Fatalf("Subject = %q, want %q", got, tt.event)
			}
			if got := mustStr(t, "ContentType", m.ContentType); got != "application/json" {
				t.Fatalf("ContentType = %q, want application/json", got)
			}
			if m.TimeToLive == nil || *m.TimeToLive != servicebus.TimeToLive {
				t.Fatalf("TimeToLive = %v, want %v", m.TimeToLive, servicebus.TimeToLive)
			}
			wantProps := map[string]any{
				"operationid": "op-1234",
				"event":       tt.event,
				"status":      string(tt.status),
				"keyids":      tt.wantKeyIDs,
			}
			if !reflect.DeepEqual(m.ApplicationProperties, wantProps) {
				t.Fatalf("ApplicationProperties = %#v, want %#v", m.ApplicationProperties, wantProps)
			}
			for k, v := range m.ApplicationProperties {
				if reflect.TypeOf(v) != reflect.TypeOf("") {
					t.Fatalf("property %s has type %T, want plain string", k, v)
				}
			}

			var got keyserver.Notification
			if err := json.Unmarshal(m.Body, &got); err != nil {
				t.Fatalf("body is not JSON: %v", err)
			}
			if !reflect.DeepEqual(&got, n) {
				t.Fatalf("body = %+v, want %+v", got, *n)
			}
		})
	}
}

func TestNotifyBodyUsesWireNames(t *testing.T) {
	rec := &recordingSender{}
	n := mustNotification(t, keyserver.EventCreated, keyserver.StatusPending, "key1")
	if err := servicebus.NewNotifier(rec).Notify(context.Background(), n); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	var fields map[string]any
	if err := json.Unmarshal(rec.sent[0].Body, &fields); err != nil {
		t.Fatalf("body is not a JSON object: %v", err)
	}
	for _, name := range []string{"id", "event", "operationid", "requester", "description", "keyids", "status", "time"} {
		if _, ok := fields[name]; !ok {
			t.Fatalf("body has no %q field: %s", name, rec.sent[0].Body)
		}
	}
}

func TestNotifyWrapsSendError(t *testing.T) {
	sendErr := errors.New("link detached")
	rec := &recordingSender{err: sendErr}
	n := mustNotification(t, keyserver.EventApproved, keyserver.StatusApproved, "key1")

	err := servicebus.NewNotifier(rec).Notify(context.Background(), n)
	if !errors.Is(err, sendErr) {
		t.Fatalf("Notify error = %v, want it to wrap %v", err, sendErr)
	}
	if got := keyserver.ErrorCode(err); got != keyserver.EUNAVAILABLE {
		t.Fatalf("error code = %q, want %q", got, keyserver.EUNAVAILABLE)
	}
	for _, want := range []string{n.ID, n.OperationID, n.Event} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not name %q", err, want)
		}
	}
}

type ctxKey struct{}

func TestNotifyPassesContext(t *testing.T) {
	rec := &recordingSender{}
	ctx := context.WithValue(context.Background(), ctxKey{}, "marker")
	n := mustNotification(t, keyserver.EventCreated, keyserver.StatusPending, "key1")
	if err := servicebus.NewNotifier(rec).Notify(ctx, n); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	if len(rec.ctxs) != 1 || rec.ctxs[0].Value(ctxKey{}) != "marker" {
		t.Fatalf("SendMessage did not get the caller's context")
	}
}

func TestNotifyRejectsBadNotification(t *testing.T) {
	tests := []struct {
		name string
		n    *keyserver.Notification
	}{
		{"nil", nil},
		{"no id", &keyserver.Notification{Event: keyserver.EventCreated, OperationID: "op"}},
		{"id too long", &keyserver.Notification{ID: strings.Repeat("x", 129), Event: keyserver.EventCreated}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recordingSender{}
			if err := servicebus.NewNotifier(rec).Notify(context.Background(), tt.n); err == nil {
				t.Fatalf("Notify succeeded, want an error")
			}
			if len(rec.ctxs) != 0 {
				t.Fatalf("SendMessage was called %d times, want 0", len(rec.ctxs))
			}
		})
	}
}

func TestCloseClosesSender(t *testing.T) {
	rec := &recordingSender{}
	if err := servicebus.NewNotifier(rec).Close(context.Background()); err != nil {
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
		namespace, queue string
		wantErr          bool
	}{
		{"ks.servicebus.windows.net", "approvals", false},
		{"", "approvals", true},
		{"sb://ks.servicebus.windows.net/", "approvals", true},
		{"ks.servicebus.windows.net", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.namespace+"|"+tt.queue, func(t *testing.T) {
			n, err := servicebus.Dial(tt.namespace, tt.queue, fakeCredential{})
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Dial succeeded, want an error")
				}
				return
			}
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			if err := n.Close(context.Background()); err != nil {
				t.Fatalf("Close: %v", err)
			}
		})
	}
}
