package module

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"keyserver/internal/ksc"
)

// maxAnswer bounds what the module reads of one Keyserver answer.
const maxAnswer = 4 << 20

// KeyInfo is one entry of GET /api/keys, as the ks CLI reads it too.
type KeyInfo = ksc.Key

// SignRequest is the body of POST /api/signorders, as the ks CLI sends it too.
type SignRequest = ksc.SignOrder

type signAnswer struct {
	KeyID           string `json:"keyid"`
	InputData       string `json:"inputdata"`
	SignatureFormat string `json:"signatureformat"`
	Result          string `json:"result"`
}

type errorAnswer struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// Client talks to the Keyserver.
type Client struct {
	cfg    *Config
	tokens *ksc.TokenSource
	http   *http.Client
}

// NewClient builds a client; hc nil means a fresh http.Client with cfg.Timeout.
func NewClient(cfg *Config, tokens *ksc.TokenSource, hc *http.Client) *Client {
	if hc == nil {
		// Redirects are not followed: the bearer token must never travel
		// anywhere but the configured server, and never over plain http.
		hc = &http.Client{Timeout: cfg.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		}}
	}
	return &Client{cfg: cfg, tokens: tokens, http: hc}
}

// Keys lists the keys the caller may see.
func (c *Client) Keys(ctx context.Context) ([]KeyInfo, error) {
	const what = "listing keys"
	body, status, err := c.do(ctx, http.MethodGet, "/api/keys", nil, what)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		var ea errorAnswer
		_ = json.Unmarshal(body, &ea)
		se := serverError(status, ea.Error, ea.Message, "", c.cfg.OperationID)
		return nil, errorf(se.RV, "%s: %s", what, se.Msg)
	}
	var keys []KeyInfo
	if err := json.Unmarshal(body, &keys); err != nil {
		return nil, errorf(CKR_GENERAL_ERROR, "%s: the Keyserver answer is not a JSON array of keys: %v", what, err)
	}
	return keys, nil
}

// Sign posts one sign order and returns the decoded result.
func (c *Client) Sign(ctx context.Context, req *SignRequest) ([]byte, error) {
	what := "signing with key " + req.KeyID
	payload, err := json.Marshal(req)
	if err != nil {
		return nil, errorf(CKR_GENERAL_ERROR, "%s: encoding the request: %v", what, err)
	}
	body, status, err := c.do(ctx, http.MethodPost, "/api/signorders", payload, what)
	if err != nil {
		return nil, err
	}
	if status != http.StatusCreated && status != http.StatusOK {
		var ea errorAnswer
		_ = json.Unmarshal(body, &ea)
		return nil, serverError(status, ea.Error, ea.Message, req.KeyID, req.OperationID)
	}
	var sa signAnswer
	if err := json.Unmarshal(body, &sa); err != nil {
		return nil, errorf(CKR_GENERAL_ERROR, "%s: the Keyserver answer is not JSON: %v", what, err)
	}
	sig, err := hex.DecodeString(strings.TrimSpace(sa.Result))
	if err != nil || len(sig) == 0 {
		return nil, errorf(CKR_GENERAL_ERROR, "%s: the Keyserver answer carries no hex result", what)
	}
	return sig, nil
}

func (c *Client) do(ctx context.Context, method, path string, payload []byte, what string) ([]byte, int, error) {
	tok, err := c.tokens.Token()
	if err != nil {
		return nil, 0, errorf(CKR_USER_NOT_LOGGED_IN, "%s: %v", what, err)
	}
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	u := *c.cfg.APIServer
	u.Path = strings.TrimRight(u.Path, "/") + path
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, 0, errorf(CKR_GENERAL_ERROR, "%s: %v", what, err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "libpkcs11ks")
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, 0, transportError(err, what)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, 0, transportError(fmt.Errorf("reading the answer: %w", err), what)
	}
	return body, resp.StatusCode, nil
}
