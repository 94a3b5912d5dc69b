package ksc

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"keyserver/internal/auditwire"
)

// AuditKey reads the audit key's certificate.
func (c *Client) AuditKey(ctx context.Context) (*auditwire.Key, error) {
	k := &auditwire.Key{}
	if _, err := c.call(ctx, http.MethodGet, "/api/audit/key", nil, nil, k, http.StatusOK); err != nil {
		return nil, err
	}
	return k, nil
}

// AuditCheckpoint reads checkpoint n (0: the latest); nil when the
// Keyserver has no such checkpoint.
func (c *Client) AuditCheckpoint(ctx context.Context, n uint64) (*auditwire.Checkpoint, error) {
	name := "latest"
	if n > 0 {
		name = strconv.FormatUint(n, 10)
	}
	cp := &auditwire.Checkpoint{}
	_, err := c.call(ctx, http.MethodGet, "/api/audit/checkpoints/"+name, nil, nil, cp, http.StatusOK)
	if notFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return cp, nil
}

// AuditConsistency reads the consistency proof between two checkpoints;
// nil when the Keyserver has not both.
func (c *Client) AuditConsistency(ctx context.Context, from, to uint64) (*auditwire.Consistency, error) {
	p := &auditwire.Consistency{}
	q := url.Values{"from": {strconv.FormatUint(from, 10)}, "to": {strconv.FormatUint(to, 10)}}
	_, err := c.call(ctx, http.MethodGet, "/api/audit/consistency?"+q.Encode(), nil, nil, p, http.StatusOK)
	if notFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// AuditRecords reads one page of audit records dated since or later, of
// event type event (any when empty).
func (c *Client) AuditRecords(ctx context.Context, since time.Time, event, page string) (*auditwire.Page, error) {
	q := url.Values{"limit": {"500"}}
	if !since.IsZero() {
		q.Set("from", since.UTC().Format(time.RFC3339Nano))
	}
	if event != "" {
		q.Set("event", event)
	}
	if page != "" {
		q.Set("page", page)
	}
	p := &auditwire.Page{}
	if _, err := c.call(ctx, http.MethodGet, "/api/audit?"+q.Encode(), nil, nil, p, http.StatusOK); err != nil {
		return nil, err
	}
	return p, nil
}

func notFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}
