package app

import (
	"context"
	"fmt"
	"os"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"keyserver/internal/events"
	"keyserver/internal/keyserver"
	"keyserver/internal/notify"
	"keyserver/internal/servicebus"
	"keyserver/internal/tablestore"
	"keyserver/internal/triggers"
)

// events builds the event path: the publisher (the Service Bus topic, or
// without a namespace the in-process stand-in for it) and the notify
// function's delivery, and the trigger server that runs upkeep and notify.
func (m *Main) events(cred azcore.TokenCredential, store *tablestore.Store) (keyserver.Publisher, error) {
	c := m.Config
	d := &notify.Deliverer{
		Channels: func(ctx context.Context, keyID string) ([]keyserver.Channel, error) {
			k, err := store.Key(ctx, keyID)
			if err != nil {
				return nil, err
			}
			return k.Channels, nil
		},
		Log: store, Client: notify.NewClient(), Now: m.Now, Logger: m.Log,
	}
	handle := func(ctx context.Context, body []byte, messageID string, deliveryCount int) error {
		ev, err := events.Parse(body)
		if err != nil {
			return fmt.Errorf("message %s: %w", messageID, err)
		}
		return d.Deliver(ctx, ev)
	}
	m.triggers = &triggers.Server{Notify: handle, Log: m.Log}
	if c.ServiceBusNamespace != "" {
		p, err := servicebus.Dial(c.ServiceBusNamespace, c.ServiceBusTopic, cred)
		if err != nil {
			return nil, fmt.Errorf("connecting to Service Bus: %w", err)
		}
		m.closers = append(m.closers, p.Close)
		return p, nil
	}
	// No namespace: deliver in this process, print every event on the
	// terminal, and post to the local webhook when one is configured.
	d.Console = m.Console
	if d.Console == nil {
		d.Console = os.Stdout
	}
	if c.LocalWebhookURL != "" {
		d.Local = []keyserver.Channel{{ID: "webhook", Type: keyserver.ChannelWebhook, URL: c.LocalWebhookURL, Secret: c.LocalWebhookSecret}}
	}
	topic := servicebus.NewLocalTopic(handle, m.Log)
	m.closers = append(m.closers, topic.Close)
	m.Log.Info("no Service Bus namespace: events are delivered in this process")
	return servicebus.NewPublisher(topic), nil
}
