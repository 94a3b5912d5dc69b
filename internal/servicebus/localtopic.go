package servicebus

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
)

// Handler receives one message as the notify function would: its body, its
// message id and how often it was delivered (1 the first time).
type Handler func(ctx context.Context, body []byte, messageID string, deliveryCount int) error

// LocalTopic stands in for the topic and its subscription when no Service
// Bus namespace is configured. It is a Sender: the Publisher sends to it as to
// Service Bus. It hands each message to Handle in the background, in this
// process, retrying a failed delivery up to MaxDeliveryCount times and then
// dead-lettering it (an error in the log), and drops a message id it saw
// within TimeToLive, as the topic's duplicate detection does.
type LocalTopic struct {
	Handle           Handler
	Log              *slog.Logger
	MaxDeliveryCount int
	// RetryDelay is the pause before a redelivery (Service Bus waits for the
	// lock to expire; locally a second is enough).
	RetryDelay time.Duration

	mu      sync.Mutex
	seen    map[string]time.Time
	closed  bool
	running sync.WaitGroup
	stop    context.CancelFunc
	ctx     context.Context
}

var _ Sender = (*LocalTopic)(nil)

// NewLocalTopic returns a stand-in that delivers to handle.
func NewLocalTopic(handle Handler, log *slog.Logger) *LocalTopic {
	ctx, stop := context.WithCancel(context.Background())
	return &LocalTopic{Handle: handle, Log: log, MaxDeliveryCount: 10, RetryDelay: time.Second,
		seen: map[string]time.Time{}, ctx: ctx, stop: stop}
}

// errTopicClosed is what SendMessage answers after Close.
var errTopicClosed = errors.New("the local topic is closed")

// SendMessage accepts m for delivery, unless its id was seen.
func (t *LocalTopic) SendMessage(_ context.Context, m *azservicebus.Message, _ *azservicebus.SendMessageOptions) error {
	if m.MessageID == nil || *m.MessageID == "" {
		return errors.New("local topic: a message needs an id")
	}
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return errTopicClosed
	}
	for id, at := range t.seen {
		if now.Sub(at) > TimeToLive {
			delete(t.seen, id)
		}
	}
	if _, dup := t.seen[*m.MessageID]; dup {
		return nil
	}
	t.seen[*m.MessageID] = now
	body := append([]byte(nil), m.Body...)
	t.running.Add(1)
	go t.deliver(body, *m.MessageID)
	return nil
}

func (t *LocalTopic) deliver(body []byte, id string) {
	defer t.running.Done()
	for n := 1; ; n++ {
		err := t.Handle(t.ctx, body, id, n)
		if err == nil {
			return
		}
		if n >= t.MaxDeliveryCount || t.ctx.Err() != nil {
			t.Log.Error("local topic: dead-lettering a message that could not be delivered",
				"message_id", id, "deliveries", n, "err", err)
			return
		}
		t.Log.Warn("local topic: delivery failed; redelivering", "message_id", id, "delivery", n, "err", err)
		select {
		case <-t.ctx.Done():
		case <-time.After(t.RetryDelay):
		}
	}
}

// Close stops accepting messages and waits for those in delivery until ctx
// ends, when it cancels them.
func (t *LocalTopic) Close(ctx context.Context) error {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	done := make(chan struct{})
	go func() { t.running.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		t.stop()
		<-done
	}
	t.stop()
	return nil
}
