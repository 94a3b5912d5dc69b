package ksc

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// expirySkew renews a file token this long before its exp claim.
const expirySkew = 30 * time.Second

// TokenSource hands out the bearer token. A token from KSC_ID_TOKEN_FILE is
// read again once its exp claim has passed.
type TokenSource struct {
	fixed string
	file  string
	now   func() time.Time

	mu     sync.Mutex
	cached string
	exp    time.Time // zero when the token has no exp claim
}

// NewTokenSource prefers file over fixed, as a file can be refreshed.
func NewTokenSource(fixed, file string, now func() time.Time) *TokenSource {
	if now == nil {
		now = time.Now
	}
	return &TokenSource{fixed: fixed, file: file, now: now}
}

// Token returns the current token, re-reading the file when needed.
func (s *TokenSource) Token() (string, error) {
	if s.file == "" {
		if s.fixed == "" {
			return "", fmt.Errorf("neither KSC_ID_TOKEN nor KSC_ID_TOKEN_FILE is set")
		}
		return s.fixed, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cached != "" && (s.exp.IsZero() || s.now().Add(expirySkew).Before(s.exp)) {
		return s.cached, nil
	}
	b, err := os.ReadFile(s.file)
	if err != nil {
		return "", fmt.Errorf("reading KSC_ID_TOKEN_FILE %s: %w", s.file, err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("KSC_ID_TOKEN_FILE %s is empty", s.file)
	}
	s.cached = tok
	s.exp = JWTExpiry(tok)
	return tok, nil
}

// JWTExpiry decodes the exp claim of a JWT without verifying it; zero when
// the token is not a JWT or has no exp.
func JWTExpiry(tok string) time.Time {
	var claims struct {
		Exp json.Number `json:"exp"`
	}
	if !jwtClaims(tok, &claims) {
		return time.Time{}
	}
	secs, err := claims.Exp.Float64()
	if err != nil || secs <= 0 {
		return time.Time{}
	}
	return time.Unix(int64(secs), 0)
}

// JWTAudiences decodes the aud claim of a JWT without verifying it.
func JWTAudiences(tok string) []string {
	var claims struct {
		Aud json.RawMessage `json:"aud"`
	}
	if !jwtClaims(tok, &claims) || len(claims.Aud) == 0 {
		return nil
	}
	var one string
	if json.Unmarshal(claims.Aud, &one) == nil {
		return []string{one}
	}
	var many []string
	_ = json.Unmarshal(claims.Aud, &many)
	return many
}

// jwtClaims decodes the payload of a JWT into v without verifying it.
func jwtClaims(tok string, v any) bool {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return false
	}
	return json.Unmarshal(payload, v) == nil
}
