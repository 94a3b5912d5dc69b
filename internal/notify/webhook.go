package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	"keyserver/internal/events"
	"keyserver/internal/keyserver"
)

// Headers of a generic webhook delivery. The receiver checks the signature
// and drops an event id it has seen (docs/NOTIFICATIONS.md).
const (
	HeaderEventID   = "X-Keyserver-Event-Id"
	HeaderEventType = "X-Keyserver-Event-Type"
	HeaderTimestamp = "X-Keyserver-Timestamp"
	HeaderSignature = "X-Keyserver-Signature"
)

// SignaturePrefix starts the signature header's value.
const SignaturePrefix = "sha256="

// Sign returns the signature header's value for a body sent at timestamp
// (Unix seconds): HMAC-SHA256 with the channel's secret over
// "<timestamp>.<body>", in hex.
func Sign(secret string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(timestamp, 10) + "."))
	mac.Write(body)
	return SignaturePrefix + hex.EncodeToString(mac.Sum(nil))
}

// webhookRequest returns the body and headers of a generic webhook
// delivery: the event's JSON, as Service Bus carries it.
func webhookRequest(ev *keyserver.Event, secret string, now time.Time) ([]byte, map[string]string, error) {
	body, err := events.Marshal(ev)
	if err != nil {
		return nil, nil, err
	}
	ts := now.Unix()
	return body, map[string]string{
		HeaderEventID:   ev.ID,
		HeaderEventType: ev.Type,
		HeaderTimestamp: strconv.FormatInt(ts, 10),
		HeaderSignature: Sign(secret, ts, body),
	}, nil
}
