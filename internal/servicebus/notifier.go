// Package servicebus delivers keyserver notifications to an Azure Service Bus
// queue. It implements keyserver.Notifier on azservicebus, behind a small
// Sender seam so that the message it builds can be tested without a broker.
package servicebus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"

	"keyserver/internal/keyserver"
)

// TimeToLive is how long a notification waits in the queue before Service
// Bus drops it. It is fixed at the largest validity an operation may have by
// default (KEYSERVER_MAX_VALIDITY, 24h): a notification older than that is
// about an operation that has expired. The queue's own default TTL caps it.
const TimeToLive = 24 * time.Hour

// ContentType is the content type of every message body.
const ContentType = "application/json"

// Application property names set on every message, for subscription filters
// and for readers that do not parse the body.
const (
	PropOperationID = "operationid"
	PropEvent       = "event"
	PropStatus      = "status"
	PropKeyIDs      = "keyids" // comma-separated
)

// maxMessageIDLen is the longest MessageId Service Bus accepts.
const maxMessageIDLen = 128

// Sender is the part of *azservicebus.Sender the Notifier uses.
type Sender interface {
	SendMessage(ctx context.Context, m *azservicebus.Message, o *azservicebus.SendMessageOptions) error
	Close(ctx context.Context) error
}

var _ Sender = (*azservicebus.Sender)(nil)

// Notifier sends each notification as one Service Bus message.
type Notifier struct {
	sender Sender
}

var _ keyserver.Notifier = (*Notifier)(nil)

// NewNotifier returns a Notifier sending through s.
func NewNotifier(s Sender) *Notifier { return &Notifier{sender: s} }

// Dial builds a Notifier for queue in namespace, the fully qualified
// <ns>.servicebus.windows.net, authenticating with cred. It does not connect:
// the first Notify does.
func Dial(namespace, queue string, cred azcore.TokenCredential) (*Notifier, error) {
	if namespace == "" || strings.Contains(namespace, "/") {
		return nil, fmt.Errorf("service bus namespace %q: want a host name like <ns>.servicebus.windows.net", namespace)
	}
	if queue == "" {
		return nil, errors.New("service bus queue name is empty")
	}
	client, err := azservicebus.NewClient(namespace, cred, nil)
	if err != nil {
		return nil, fmt.Errorf("creating service bus client for %s: %w", namespace, err)
	}
	sender, err := client.NewSender(queue, nil)
	if err != nil {
		return nil, errors.Join(
			fmt.Errorf("creating service bus sender for %s/%s: %w", namespace, queue, err),
			client.Close(context.Background()))
	}
	return NewNotifier(&clientSender{Sender: sender, client: client}), nil
}

// clientSender owns the client its sender came from, so closing it closes both.
type clientSender struct {
	*azservicebus.Sender
	client *azservicebus.Client
}

// Close closes the client, which closes the sender with it.
func (s *clientSender) Close(ctx context.Context) error { return s.client.Close(ctx) }

// Notify sends n to the queue. The message id is the notification id, so
// that the queue's duplicate detection drops a notification the outbox sends
// twice.
func (n *Notifier) Notify(ctx context.Context, note *keyserver.Notification) error {
	if note == nil {
		return errors.New("sending notification: notification is nil")
	}
	m, err := Message(note)
	if err != nil {
		return err
	}
	if err := n.sender.SendMessage(ctx, m, nil); err != nil {
		return keyserver.Wrap(keyserver.EUNAVAILABLE, err,
			"Sending notification %s (%s of operation %s) to Service Bus failed.",
			note.ID, note.Event, note.OperationID)
	}
	return nil
}

// Close closes the sender and, for a Notifier from Dial, its client.
func (n *Notifier) Close(ctx context.Context) error {
	if err := n.sender.Close(ctx); err != nil {
		return fmt.Errorf("closing service bus sender: %w", err)
	}
	return nil
}

// Message builds the Service Bus message for a notification.
func Message(n *keyserver.Notification) (*azservicebus.Message, error) {
	if n.ID == "" || len(n.ID) > maxMessageIDLen {
		return nil, fmt.Errorf("sending notification %s of operation %s: id %q is empty or longer than %d",
			n.Event, n.OperationID, n.ID, maxMessageIDLen)
	}
	body, err := json.Marshal(n)
	if err != nil {
		return nil, fmt.Errorf("encoding notification %s: %w", n.ID, err)
	}
	ttl := TimeToLive
	return &azservicebus.Message{
		Body:        body,
		ContentType: ptr(ContentType),
		MessageID:   ptr(n.ID),
		Subject:     ptr(n.Event),
		TimeToLive:  &ttl,
		// AMQP application properties take plain strings only, not named
		// string types nor slices.
		ApplicationProperties: map[string]any{
			PropOperationID: n.OperationID,
			PropEvent:       n.Event,
			PropStatus:      string(n.Status),
			PropKeyIDs:      strings.Join(n.KeyIDs, ","),
		},
	}, nil
}

func ptr[T any](v T) *T { return &v }
