// Package notify delivers Keyserver events to people: to the channels of the
// keys an operation names (generic webhook, Microsoft Teams, Slack) and,
// locally, to the terminal. The notify function (a Service Bus trigger) and
// the local stand-in for the topic both run it.
//
// A delivery that fails returns an error, so that Service Bus retries the
// message and finally dead-letters it; channels that got the event are
// recorded, so that a retried or duplicate message posts once per channel.
package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"keyserver/internal/keyserver"
)

// DeliveryLog remembers which channel got which event (Table Storage).
type DeliveryLog interface {
	Delivered(ctx context.Context, opID, eventID string) (map[string]bool, error)
	MarkDelivered(ctx context.Context, opID, eventID, channel string, at time.Time) error
}

// Deliverer delivers events to channels.
type Deliverer struct {
	// Channels returns a key's channels; ENOTFOUND for a key since deleted.
	Channels func(ctx context.Context, keyID string) ([]keyserver.Channel, error)
	Log      DeliveryLog
	Client   *http.Client
	// Local are channels every event goes to, besides the keys' (the local
	// stand-in's webhook from the local settings).
	Local []keyserver.Channel
	// Console, when set, gets a line or two of text for every event.
	Console io.Writer
	Now     func() time.Time
	Logger  *slog.Logger
}

// ChannelConsole is the type of the terminal channel of the local stack.
const ChannelConsole = "console"

// target is a channel and the name its deliveries are recorded under:
// <key id>~<channel id>, or local~<channel id>.
type target struct {
	name string
	ch   keyserver.Channel
}

// NewClient returns the HTTP client deliveries use: bounded in time, and
// never following a redirect (a webhook that redirects has failed).
func NewClient() *http.Client {
	return &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Deliver posts ev to every channel that wants it and has not got it yet.
// It tries them all, and fails when one failed.
func (d *Deliverer) Deliver(ctx context.Context, ev *keyserver.Event) error {
	targets, err := d.targets(ctx, ev)
	if err != nil {
		return err
	}
	done := map[string]bool{}
	if d.Log != nil && len(targets) > 0 {
		if done, err = d.Log.Delivered(ctx, ev.Operation.ID, ev.ID); err != nil {
			return fmt.Errorf("reading the deliveries of event %s: %w", ev.ID, err)
		}
	}
	var errs []error
	for _, t := range targets {
		if done[t.name] {
			continue
		}
		if err := d.deliverTo(ctx, t, ev); err != nil {
			d.logger().WarnContext(ctx, "delivering an event failed", "event", ev.ID, "type", ev.Type,
				"operation", ev.Operation.ID, "channel", t.name, "channel_type", t.ch.Type, "err", err)
			errs = append(errs, fmt.Errorf("channel %s (%s): %w", t.name, t.ch.Type, err))
			continue
		}
		if d.Log != nil {
			if err := d.Log.MarkDelivered(ctx, ev.Operation.ID, ev.ID, t.name, d.now()); err != nil {
				errs = append(errs, fmt.Errorf("recording the delivery to %s: %w", t.name, err))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("event %s (%s of operation %s): %w", ev.ID, ev.Type, ev.Operation.ID, errors.Join(errs...))
	}
	return nil
}

// targets returns the channels ev goes to, each URL once.
func (d *Deliverer) targets(ctx context.Context, ev *keyserver.Event) ([]target, error) {
	var out []target
	urls := map[string]bool{}
	add := func(name string, ch keyserver.Channel) {
		if !ch.Wants(ev.Type) || (ch.URL != "" && urls[ch.URL]) {
			return
		}
		urls[ch.URL] = true
		out = append(out, target{name: name, ch: ch})
	}
	if d.Console != nil {
		add("local~"+ChannelConsole, keyserver.Channel{ID: ChannelConsole, Type: ChannelConsole})
	}
	for _, ch := range d.Local {
		add("local~"+ch.ID, ch)
	}
	for _, k := range ev.Operation.Keys {
		if d.Channels == nil {
			break
		}
		chs, err := d.Channels(ctx, k.KeyID)
		if keyserver.ErrorCode(err) == keyserver.ENOTFOUND {
			continue // the key was deleted since
		}
		if err != nil {
			return nil, fmt.Errorf("reading the channels of key %s: %w", k.KeyID, err)
		}
		for _, ch := range chs {
			add(k.KeyID+"~"+ch.ID, ch)
		}
	}
	return out, nil
}

func (d *Deliverer) deliverTo(ctx context.Context, t target, ev *keyserver.Event) error {
	now := d.now()
	switch t.ch.Type {
	case ChannelConsole:
		_, err := io.WriteString(d.Console, consoleText(ev, now))
		return err
	case keyserver.ChannelWebhook:
		body, headers, err := webhookRequest(ev, t.ch.Secret, now)
		if err != nil {
			return err
		}
		return d.post(ctx, t.ch.URL, body, headers)
	case keyserver.ChannelTeams:
		body, err := teamsMessage(ev, now)
		if err != nil {
			return err
		}
		return d.post(ctx, t.ch.URL, body, nil)
	case keyserver.ChannelSlack:
		body, err := slackMessage(ev, now)
		if err != nil {
			return err
		}
		return d.post(ctx, t.ch.URL, body, nil)
	}
	return fmt.Errorf("unknown channel type %q", t.ch.Type)
}

// post sends a JSON body. Errors never carry the URL, which may hold a secret.
func (d *Deliverer) post(ctx context.Context, u string, body []byte, headers map[string]string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return errors.New("the channel URL is not usable")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Keyserver")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	client := d.Client
	if client == nil {
		client = NewClient()
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("posting: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("the receiver answered %s", resp.Status)
	}
	return nil
}

func (d *Deliverer) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Deliverer) logger() *slog.Logger {
	if d.Logger != nil {
		return d.Logger
	}
	return slog.Default()
}
