package notify_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"keyserver/internal/keyserver"
	"keyserver/internal/notify"
)

// recorded is one request the recording server got.
type recorded struct {
	path   string
	header http.Header
	body   []byte
}

// receiver is a recording HTTP server standing in for webhook receivers:
// every path is a channel; status[path] is what that channel answers.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []recorded
	status map[string]int
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{status: map[string]int{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, recorded{req.URL.Path, req.Header.Clone(), body})
		status := r.status[req.URL.Path]
		r.mu.Unlock()
		if status == http.StatusFound {
			w.Header().Set("Location", "/elsewhere")
		}
		if status != 0 {
			w.WriteHeader(status)
		}
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) answer(path string, status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status[path] = status
}

// posts returns what path got.
func (r *receiver) posts(path string) []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []recorded
	for _, g := range r.got {
		if g.path == path {
			out = append(out, g)
		}
	}
	return out
}

// memLog is an in-memory notify.DeliveryLog.
type memLog struct {
	mu   sync.Mutex
	done map[string]bool
	fail error
}

func (l *memLog) Delivered(ctx context.Context, opID, eventID string) (map[string]bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return nil, l.fail
	}
	out := map[string]bool{}
	for k := range l.done {
		if ev, ch, ok := strings.Cut(k, " "); ok && ev == opID+"/"+eventID {
			out[ch] = true
		}
	}
	return out, nil
}

func (l *memLog) MarkDelivered(ctx context.Context, opID, eventID, channel string, at time.Time) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done == nil {
		l.done = map[string]bool{}
	}
	l.done[opID+"/"+eventID+" "+channel] = true
	return nil
}

var (
	t0       = time.Date(2025, 3, 4, 10, 0, 0, 0, time.UTC)
	opID     = strings.Repeat("3f", 20)
	orderer  = keyserver.Principal{Issuer: "https://issuer.example", Subject: "orderer-client"}
	approver = keyserver.Principal{Issuer: "https://issuer.example", Subject: "approver-key2"}
	secret   = "webhook-secret-0123456789"
)

// pendingEvent is an operation.created for key2 (one approval needed),
// created at t0 and valid for an hour.
func pendingEvent(description string) *keyserver.Event {
	return &keyserver.Event{
		ID: strings.Repeat("e1", 20), Type: keyserver.EventCreated, Time: t0, Actor: orderer,
		Operation: keyserver.OperationSummary{ID: opID, Description: description, Requester: orderer,
			Status: keyserver.StatusPending, Created: t0, Expires: t0.Add(time.Hour),
			Keys: []keyserver.KeySummary{{KeyID: "key2", MaxUsageCount: 1, RequiredApprovals: 1}}},
		Link:      "http://localhost:7071/operations/" + opID,
		Approvers: []keyserver.Approver{{Principal: approver, Name: "Approver of key2", KeyIDs: []string{"key2"}}},
	}
}

// fixture is a Deliverer whose key2 has a generic webhook, a Teams and a
// Slack channel on the recording server, one minute after t0.
type fixture struct {
	recv     *receiver
	log      *memLog
	d        *notify.Deliverer
	logs     *bytes.Buffer
	channels map[string][]keyserver.Channel
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{recv: newReceiver(t), log: &memLog{}, logs: &bytes.Buffer{}}
	f.channels = map[string][]keyserver.Channel{"key2": {
		{ID: "aa01", Type: keyserver.ChannelWebhook, URL: f.recv.URL + "/webhook?token=url-secret-1", Secret: secret},
		{ID: "bb02", Type: keyserver.ChannelTeams, URL: f.recv.URL + "/teams?sig=url-secret-2"},
		{ID: "cc03", Type: keyserver.ChannelSlack, URL: f.recv.URL + "/slack/T0/B0/url-secret-3"},
	}}
	f.d = &notify.Deliverer{
		Channels: func(ctx context.Context, keyID string) ([]keyserver.Channel, error) {
			chs, ok := f.channels[keyID]
			if !ok {
				return nil, keyserver.Errorf(keyserver.ENOTFOUND, "no key %s", keyID)
			}
			return chs, nil
		},
		Log: f.log, Client: notify.NewClient(),
		Now:    func() time.Time { return t0.Add(time.Minute) },
		Logger: slog.New(slog.NewTextHandler(f.logs, nil)),
	}
	return f
}
