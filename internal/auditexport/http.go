package auditexport

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"keyserver/internal/api"
)

// HTTPSource reads the audit routes of a Keyserver.
type HTTPSource struct {
	Base   *url.URL // the API server, e.g. https://keyserver.example
	Token  func(ctx context.Context) (string, error)
	Client *http.Client
}

// APIError is an answer other than success from the Keyserver.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string {
	if e.Message != "" {
		return fmt.Sprintf("the Keyserver answered %d %s: %s", e.Status, e.Code, e.Message)
	}
	return fmt.Sprintf("the Keyserver answered %d", e.Status)
}

func (h *HTTPSource) get(ctx context.Context, path string, q url.Values, out any) error {
	u := h.Base.JoinPath(path)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	tok, err := h.Token(ctx)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	resp, err := h.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		e := &APIError{Status: resp.StatusCode}
		var eb struct{ Error, Message string }
		if json.Unmarshal(body, &eb) == nil {
			e.Code, e.Message = eb.Error, eb.Message
		}
		return e
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}

func (h *HTTPSource) AuditKey(ctx context.Context) (*api.AuditKey, error) {
	var k api.AuditKey
	return &k, h.get(ctx, "/api/audit/key", nil, &k)
}

func (h *HTTPSource) AuditCheckpoint(ctx context.Context, n uint64) (*api.AuditCheckpoint, error) {
	name := "latest"
	if n > 0 {
		name = strconv.FormatUint(n, 10)
	}
	var c api.AuditCheckpoint
	err := h.get(ctx, "/api/audit/checkpoints/"+name, nil, &c)
	var ae *APIError
	if n == 0 && errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return nil, nil
	}
	return &c, err
}

func (h *HTTPSource) AuditConsistency(ctx context.Context, from, to uint64) (*api.AuditConsistency, error) {
	var c api.AuditConsistency
	q := url.Values{"from": {strconv.FormatUint(from, 10)}, "to": {strconv.FormatUint(to, 10)}}
	return &c, h.get(ctx, "/api/audit/consistency", q, &c)
}

func (h *HTTPSource) AuditRecords(ctx context.Context, since time.Time, page string) (*api.AuditPage, error) {
	q := url.Values{"limit": {"500"}}
	if !since.IsZero() {
		q.Set("from", since.UTC().Format(time.RFC3339Nano))
	}
	if page != "" {
		q.Set("page", page)
	}
	var p api.AuditPage
	return &p, h.get(ctx, "/api/audit", q, &p)
}

// IsNotFound reports a 404 from the Keyserver.
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

var _ Source = (*HTTPSource)(nil)
