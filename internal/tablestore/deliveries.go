package tablestore

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"time"

	"keyserver/internal/keyserver"
)

// deliveredPrefix starts the row keys that record which channel got which
// event: x~delivered~<event id>~<channel>. They live in the operation's
// partition and stay with its audit events.
const deliveredPrefix = "x~delivered~"

// safeChannel matches a channel as notify names it: <key id>~<channel id>.
var safeChannel = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}~[a-z0-9-]{1,32}$`)

// Delivered returns the channels event eventID of operation opID was
// delivered to, so that a message delivered twice posts once per channel.
func (s *Store) Delivered(ctx context.Context, opID, eventID string) (map[string]bool, error) {
	if !keyserver.ValidID(opID) || !safeKeyPart.MatchString(eventID) {
		return nil, keyserver.Errorf(keyserver.EINVALID, "Event %q of operation %q cannot be looked up.", eventID, opID)
	}
	prefix := deliveredPrefix + eventID + "~"
	rows, err := querySelect(ctx, s.ops, rangeFilter(opID, prefix), "RowKey", "reading the deliveries of event "+eventID)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, r := range rows {
		out[strings.TrimPrefix(r.RowKey, prefix)] = true
	}
	return out, nil
}

// MarkDelivered records that event eventID of operation opID reached
// channel. Recording it twice is not an error.
func (s *Store) MarkDelivered(ctx context.Context, opID, eventID, channel string, at time.Time) error {
	if !keyserver.ValidID(opID) || !safeKeyPart.MatchString(eventID) || !safeChannel.MatchString(channel) {
		return keyserver.Errorf(keyserver.EINVALID, "Delivery of event %q to %q cannot be recorded.", eventID, channel)
	}
	r := newRow(opID, deliveredPrefix+eventID+"~"+channel).setTime("Time", at)
	_, err := s.ops.AddEntity(ctx, r.marshal(), nil)
	if status, _ := statusOf(err); status == http.StatusConflict {
		return nil
	}
	return classify(err, "recording the delivery of event "+eventID)
}
