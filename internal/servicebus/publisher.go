// Package servicebus publishes Keyserver events to an Azure Service Bus
// topic. It implements keyserver.Publisher on azservicebus, behind a small
// Sender seam so that the message it builds, and its retries, can be tested
// without a broker. The local stand-in for the topic (LocalTopic) is a
// Sender too, so that locally the same Publisher runs.
package servicebus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"keyserver/internal/events"
	"keyserver/internal/keyserver"
)

// TimeToLive is how long an event waits in the topic before Service Bus
// drops it. It is fixed at the largest validity an operation may have by
// default (KEYSERVER_MAX_VALIDITY, 24h): an event older than that is about an
// operation that has expired. The topic's own default TTL caps it.
const TimeToLive = 24 * time.Hour

// ContentType is the content type of every message body.
const ContentType = "application/json"

// Application property names set on every message, for subscription filters
// and for readers that do not parse the body.
const (
	PropOperationID = "operationid"
	PropKeyIDs      = "keyids" // comma-separated
)

// Attempts is how often Publish tries to send one event.
const Attempts = 3

// Sender is the part of *azservicebus.Sender the Publisher uses.
type Sender interface {
	SendMessage(ctx context.Context, m *azservicebus.Message, o *azservicebus.SendMessageOptions) error
	Close(ctx context.Context) error
}

var _ Sender = (*azservicebus.Sender)(nil)

// Publisher sends each event as one Service Bus message.
type Publisher struct {
	sender Sender
	// Backoff is the pause before attempt n+1; tests shorten it.
	Backoff func(n int) time.Duration
}

var _ keyserver.Publisher = (*Publisher)(nil)

// NewPublisher returns a Publisher sending through s.
func NewPublisher(s Sender) *Publisher {
	return &Publisher{sender: s, Backoff: func(n int) time.Duration { return time.Duration(n*n) * 100 * time.Millisecond }}
}

// Dial builds a Publisher for topic in namespace, the fully qualified
// <ns>.servicebus.windows.net, authenticating with cred. It does not connect:
// the first Publish does.
func Dial(namespace, topic string, cred azcore.TokenCredential) (*Publisher, error) {
	if namespace == "" || strings.ContainsAny(namespace, "/:") {
		return nil, fmt.Errorf("service bus namespace %q: want a host name like <ns>.servicebus.windows.net", namespace)
	}
	if topic == "" {
		return nil, errors.New("service bus topic name is empty")
	}
	// Publish retries itself, keeping the message id; the client does not.
	client, err := azservicebus.NewClient(namespace, cred, &azservicebus.ClientOptions{
		RetryOptions: azservicebus.RetryOptions{MaxRetries: -1}})
	if err != nil {
		return nil, fmt.Errorf("creating service bus client for %s: %w", namespace, err)
	}
	sender, err := client.NewSender(topic, nil)
	if err != nil {
		return nil, errors.Join(
			fmt.Errorf("creating service bus sender for %s/%s: %w", namespace, topic, err),
			client.Close(context.Background()))
	}
	return NewPublisher(&clientSender{Sender: sender, client: client}), nil
}

// clientSender owns the client its sender came from, so closing it closes both.
type clientSender struct {
	*azservicebus.Sender
	client *azservicebus.Client
}

// Close closes the client, which closes the sender with it.
func (s *clientSender) Close(ctx context.Context) error { return s.client.Close(ctx) }

// Publish sends ev to the topic, trying up to Attempts times with the same
// message. The message id is the event id, so the topic's duplicate
// detection drops an event sent twice (by a retry here, or by upkeep).
func (p *Publisher) Publish(ctx context.Context, ev *keyserver.Event) error {
	m, err := Message(ev)
	if err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		err = p.sender.SendMessage(ctx, m, nil)
		if err == nil {
			return nil
		}
		if attempt == Attempts || !transient(err) || ctx.Err() != nil {
			return keyserver.Wrap(keyserver.EUNAVAILABLE, err,
				"Publishing event %s (%s of operation %s) to Service Bus failed after %d attempts.",
				ev.ID, ev.Type, ev.Operation.ID, attempt)
		}
		select {
		case <-ctx.Done():
		case <-time.After(p.Backoff(attempt)):
		}
	}
}

// transient reports whether another attempt may succeed.
func transient(err error) bool {
	var sbErr *azservicebus.Error
	if errors.As(err, &sbErr) {
		return sbErr.Code == azservicebus.CodeConnectionLost || sbErr.Code == azservicebus.CodeTimeout
	}
	return !errors.Is(err, context.Canceled)
}

// Close closes the sender and, for a Publisher from Dial, its client.
func (p *Publisher) Close(ctx context.Context) error {
	if err := p.sender.Close(ctx); err != nil {
		return fmt.Errorf("closing service bus sender: %w", err)
	}
	return nil
}

// Message builds the Service Bus message of an event.
func Message(ev *keyserver.Event) (*azservicebus.Message, error) {
	body, err := events.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("publishing an event: %w", err)
	}
	ttl := TimeToLive
	return &azservicebus.Message{
		Body:        body,
		ContentType: ptr(ContentType),
		MessageID:   ptr(ev.ID),
		Subject:     ptr(ev.Type),
		TimeToLive:  &ttl,
		// AMQP application properties take plain strings only, not named
		// string types nor slices.
		ApplicationProperties: map[string]any{
			PropOperationID: ev.Operation.ID,
			PropKeyIDs:      strings.Join(ev.Operation.KeyIDs(), ","),
		},
	}, nil
}

func ptr[T any](v T) *T { return &v }
