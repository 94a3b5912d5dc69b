package keyserver

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Channel types.
const (
	ChannelWebhook = "webhook" // generic JSON, signed with HMAC-SHA256
	ChannelTeams   = "teams"   // Microsoft Teams Workflows webhook, Adaptive Card
	ChannelSlack   = "slack"   // Slack incoming webhook, Block Kit
)

// Channel limits.
const (
	MaxChannelsPerKey = 8
	MinWebhookSecret  = 16
	maxChannelURL     = 2048
	maxWebhookSecret  = 256
)

// Channel is where the events of operations on a key are delivered. URL
// (Teams and Slack URLs carry their own secret) and Secret are never logged
// nor returned by the API once set.
type Channel struct {
	// ID is stable; the Keyserver assigns it when the channel is added.
	ID   string
	Type string
	URL  string
	// Secret is the HMAC key of a generic webhook.
	Secret string
	// Events are the event types delivered; empty means every type.
	Events []string
}

// Wants reports whether the channel delivers events of type typ.
func (c Channel) Wants(typ string) bool { return len(c.Events) == 0 || slices.Contains(c.Events, typ) }

var channelIDPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// newChannelID returns a fresh channel id of 48 random bits.
func newChannelID() string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		panic("keyserver: reading random bytes: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// mergeChannels validates the channels an admin gives for a key and returns
// them with ids assigned. A channel given with the id of a stored channel of
// the same type and without a URL or secret keeps the stored ones, so that
// an admin can change a key without knowing its channels' secrets.
func mergeChannels(keyID string, given, stored []Channel) ([]Channel, error) {
	if len(given) > MaxChannelsPerKey {
		return nil, Errorf(EINVALID, "Key %q may have at most %d channels.", keyID, MaxChannelsPerKey).On("channels")
	}
	out := make([]Channel, 0, len(given))
	seen := map[string]bool{}
	for i, c := range given {
		c.Events = slices.Clone(c.Events)
		if c.ID != "" {
			j := slices.IndexFunc(stored, func(s Channel) bool { return s.ID == c.ID })
			if j < 0 {
				return nil, Errorf(EINVALID, "Channel %q is not a channel of key %q; leave out the id to add a channel.", c.ID, keyID).On("channels")
			}
			if stored[j].Type != c.Type {
				return nil, Errorf(EINVALID, "Channel %q of key %q is a %s channel; add a new channel to change its type.", c.ID, keyID, stored[j].Type).On("channels")
			}
			if c.URL == "" {
				c.URL = stored[j].URL
			}
			if c.Secret == "" {
				c.Secret = stored[j].Secret
			}
		} else {
			c.ID = newChannelID()
		}
		if seen[c.ID] {
			return nil, Errorf(EINVALID, "Channel %q of key %q is given twice.", c.ID, keyID).On("channels")
		}
		seen[c.ID] = true
		if err := validateChannel(c, i); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func validateChannel(c Channel, i int) error {
	if !channelIDPattern.MatchString(c.ID) {
		return Errorf(EINVALID, "channels[%d].id must be 1 to 32 lowercase letters, digits or dashes.", i).On("channels")
	}
	switch c.Type {
	case ChannelWebhook:
		if n := len(c.Secret); n < MinWebhookSecret || n > maxWebhookSecret {
			return Errorf(EINVALID, "channels[%d] is a webhook: its secret must be %d to %d characters long.", i, MinWebhookSecret, maxWebhookSecret).On("channels")
		}
	case ChannelTeams, ChannelSlack:
		if c.Secret != "" {
			return Errorf(EINVALID, "channels[%d] is a %s channel, which takes no secret: its URL is one.", i, c.Type).On("channels")
		}
	default:
		return Errorf(EINVALID, "channels[%d].type must be %s, %s or %s.", i, ChannelWebhook, ChannelTeams, ChannelSlack).On("channels")
	}
	if err := validateChannelURL(c.URL, i); err != nil {
		return err
	}
	for _, e := range c.Events {
		if !slices.Contains(EventTypes, e) {
			return Errorf(EINVALID, "channels[%d].events: %q is not an event type; use %s.", i, e, strings.Join(EventTypes, ", ")).On("channels")
		}
	}
	return nil
}

// validateChannelURL accepts https URLs, and http ones to loopback only.
// The message never repeats the URL, which may carry a secret.
func validateChannelURL(raw string, i int) error {
	u, err := url.Parse(raw)
	if err != nil || raw == "" || len(raw) > maxChannelURL || u.Host == "" || u.User != nil {
		return Errorf(EINVALID, "channels[%d].url must be an https URL of at most %d characters, without user information.", i, maxChannelURL).On("channels")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if host := u.Hostname(); host == "localhost" || net.ParseIP(host).IsLoopback() {
			return nil
		}
	}
	return Errorf(EINVALID, "channels[%d].url must use https (http only to loopback).", i).On("channels")
}
