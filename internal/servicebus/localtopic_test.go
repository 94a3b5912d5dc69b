package servicebus_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"keyserver/internal/keyserver"
	"keyserver/internal/servicebus"
)

// handled records what a LocalTopic delivers; the first fail deliveries of
// each message fail.
type handled struct {
	mu    sync.Mutex
	calls []string // message id and delivery count
	fail  int
	done  chan struct{}
}

func (h *handled) handle(_ context.Context, body []byte, id string, n int) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, id+"#"+string(rune('0'+n)))
	if n <= h.fail {
		return errors.New("webhook answered 503")
	}
	if h.done != nil {
		h.done <- struct{}{}
	}
	return nil
}

func (h *handled) seen() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.calls...)
}

func newLocalTopic(h *handled, log *bytes.Buffer) *servicebus.LocalTopic {
	t := servicebus.NewLocalTopic(h.handle, slog.New(slog.NewTextHandler(log, nil)))
	t.RetryDelay = time.Millisecond
	return t
}

func TestLocalTopicDeliversOnceAndDropsDuplicates(t *testing.T) {
	h := &handled{done: make(chan struct{}, 4)}
	var log bytes.Buffer
	topic := newLocalTopic(h, &log)
	p := newPublisher(topic)
	ev := mustEvent(t, keyserver.EventCreated, keyserver.KeySummary{KeyID: "key2"})
	for range 3 { // a retry and two republishes by upkeep
		if err := p.Publish(context.Background(), ev); err != nil {
			t.Fatalf("Publish: %v", err)
		}
	}
	<-h.done
	if err := topic.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := h.seen(); len(got) != 1 || got[0] != ev.ID+"#1" {
		t.Fatalf("deliveries = %v, want one of %s", got, ev.ID)
	}
}

func TestLocalTopicRedeliversThenDeadLetters(t *testing.T) {
	t.Run("redelivers until it succeeds", func(t *testing.T) {
		h := &handled{fail: 2, done: make(chan struct{}, 1)}
		var log bytes.Buffer
		topic := newLocalTopic(h, &log)
		ev := mustEvent(t, keyserver.EventApproved)
		if err := newPublisher(topic).Publish(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
		<-h.done
		topic.Close(context.Background())
		if got := strings.Join(h.seen(), " "); got != ev.ID+"#1 "+ev.ID+"#2 "+ev.ID+"#3" {
			t.Fatalf("deliveries = %s, want three", got)
		}
	})
	t.Run("dead-letters after the last delivery", func(t *testing.T) {
		h := &handled{fail: 100}
		var log bytes.Buffer
		topic := newLocalTopic(h, &log)
		topic.MaxDeliveryCount = 4
		ev := mustEvent(t, keyserver.EventRejected)
		if err := newPublisher(topic).Publish(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
		if err := topic.Close(context.Background()); err != nil { // waits for the deliveries
			t.Fatal(err)
		}
		if got := len(h.seen()); got != 4 {
			t.Fatalf("%d deliveries, want 4", got)
		}
		if !strings.Contains(log.String(), "dead-lettering") || !strings.Contains(log.String(), ev.ID) {
			t.Fatalf("nothing says the message was dead-lettered:\n%s", log.String())
		}
	})
}

func TestLocalTopicRefusesAfterClose(t *testing.T) {
	var log bytes.Buffer
	topic := newLocalTopic(&handled{}, &log)
	topic.Close(context.Background())
	err := newPublisher(topic).Publish(context.Background(), mustEvent(t, keyserver.EventCreated))
	if keyserver.ErrorCode(err) != keyserver.EUNAVAILABLE {
		t.Fatalf("Publish after Close = %v, want EUNAVAILABLE", err)
	}
}
