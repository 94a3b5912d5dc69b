package ksc

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxAnswer bounds what the client reads of one Keyserver answer.
const maxAnswer = 4 << 20

// Tokens hands out bearer tokens; renew asks for a fresh one after the
// Keyserver refused the last.
type Tokens interface {
	Token(ctx context.Context, renew bool) (string, error)
}

// APIError is a refusal from the Keyserver: its status and JSON error body.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("the Keyserver answered HTTP %d %s", e.Status, e.Code)
	}
	return e.Message
}

// TransportError is a request that got no answer.
type TransportError struct {
	Err     error
	Timeout bool
}

func (e *TransportError) Error() string { return e.Err.Error() }
func (e *TransportError) Unwrap() error { return e.Err }

// TokenError is a token that could not be had.
type TokenError struct{ Err error }

func (e *TokenError) Error() string { return e.Err.Error() }
func (e *TokenError) Unwrap() error { return e.Err }

// Client calls the Keyserver API for the ks CLI.
type Client struct {
	Base      *url.URL
	Tokens    Tokens
	HTTP      *http.Client
	UserAgent string
}

// NewHTTPClient returns a client with a timeout per request that never
// follows redirects: a bearer token must go to the configured server only.
func NewHTTPClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

// CreateOperation opens an operation; with key set, the request carries it
// as Idempotency-Key and created is false when an earlier request with the
// same key opened the operation.
func (c *Client) CreateOperation(ctx context.Context, req *OperationRequest, key string) (op *Operation, created bool, err error) {
	hdr := http.Header{}
	if key != "" {
		hdr.Set("Idempotency-Key", key)
	}
	op = &Operation{}
	status, err := c.call(ctx, http.MethodPost, "/api/operations", hdr, req, op, http.StatusCreated, http.StatusOK)
	if err != nil {
		return nil, false, err
	}
	return op, status == http.StatusCreated, nil
}

// Operation reads an operation.
func (c *Client) Operation(ctx context.Context, id string) (*Operation, error) {
	op := &Operation{}
	if _, err := c.call(ctx, http.MethodGet, "/api/operations/"+url.PathEscape(id), nil, nil, op, http.StatusOK); err != nil {
		return nil, err
	}
	return op, nil
}

// Key reads a key and its certificate.
func (c *Client) Key(ctx context.Context, keyID string) (*Key, error) {
	k := &Key{}
	if _, err := c.call(ctx, http.MethodGet, "/api/keys/"+url.PathEscape(keyID), nil, nil, k, http.StatusOK); err != nil {
		return nil, err
	}
	return k, nil
}

// Sign posts one sign order and returns the decoded signature.
func (c *Client) Sign(ctx context.Context, order *SignOrder) ([]byte, error) {
	var res SignResult
	if _, err := c.call(ctx, http.MethodPost, "/api/signorders", nil, order, &res, http.StatusCreated, http.StatusOK); err != nil {
		return nil, err
	}
	sig, err := hex.DecodeString(strings.TrimSpace(res.Result))
	if err != nil || len(sig) == 0 {
		return nil, fmt.Errorf("the Keyserver's answer to a sign order carries no hex result")
	}
	return sig, nil
}

// call sends one request and decodes an answer with one of the ok statuses
// into out. A 401 is retried once with a renewed token.
func (c *Client) call(ctx context.Context, method, path string, hdr http.Header, in, out any, ok ...int) (int, error) {
	var payload []byte
	if in != nil {
		var err error
		if payload, err = json.Marshal(in); err != nil {
			return 0, fmt.Errorf("encoding the request: %w", err)
		}
	}
	var (
		body   []byte
		status int
		last   string
	)
	for renew := false; ; renew = true {
		tok, err := c.Tokens.Token(ctx, renew)
		if err != nil {
			return 0, &TokenError{Err: err}
		}
		if renew && tok == last {
			break // nothing fresher to try
		}
		last = tok
		if body, status, err = c.send(ctx, method, path, hdr, tok, payload); err != nil {
			return 0, err
		}
		if status != http.StatusUnauthorized || renew {
			break
		}
	}
	for _, s := range ok {
		if status == s {
			if err := json.Unmarshal(body, out); err != nil {
				return status, fmt.Errorf("the Keyserver's answer to %s %s is not the expected JSON: %v", method, path, err)
			}
			return status, nil
		}
	}
	var eb struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	_ = json.Unmarshal(body, &eb)
	return status, &APIError{Status: status, Code: eb.Error, Message: eb.Message}
}

func (c *Client) send(ctx context.Context, method, path string, hdr http.Header, tok string, payload []byte) ([]byte, int, error) {
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	u := *c.Base
	path, u.RawQuery, _ = strings.Cut(path, "?")
	u.Path = strings.TrimRight(u.Path, "/") + path
	u.RawPath = ""
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, 0, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	if c.UserAgent != "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, 0, transportError(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, 0, transportError(fmt.Errorf("reading the answer: %w", err))
	}
	return body, resp.StatusCode, nil
}

func transportError(err error) error {
	var ne net.Error
	timeout := errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
	return &TransportError{Err: err, Timeout: timeout}
}
