package api

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"time"
	"unsafe"

	"keyserver/internal/keyserver"
)

// TokenTTL is how long a verified bearer token is remembered, never past
// its own expiry: a pipeline signing many files with one token pays for
// its verification (a signature check and a JSON decoding) once.
const TokenTTL = 30 * time.Second

// maxTokens bounds the tokens remembered; when full, the oldest half goes.
const maxTokens = 8192

// tokenCache remembers verified tokens by their SHA-256.
type tokenCache struct {
	mu      sync.Mutex
	entries map[[32]byte]tokenEntry
}

type tokenEntry struct {
	id    keyserver.Identity
	until time.Time
}

// verify returns the identity of a token verified less than TokenTTL ago
// and not expired, or verifies it with v. The identity is shared: callers
// must not change its claims.
func (c *tokenCache) verify(ctx context.Context, v keyserver.TokenVerifier, token string, now time.Time) (keyserver.Identity, error) {
	sum := sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token))) // read only: no copy of the token
	c.mu.Lock()
	e, ok := c.entries[sum]
	c.mu.Unlock()
	if ok && now.Before(e.until) {
		return e.id, nil
	}
	id, err := v.Verify(ctx, token)
	if err != nil {
		return id, err
	}
	until := now.Add(TokenTTL)
	if exp, ok := expiry(token); !ok {
		return id, nil // not remembered: its expiry is unknown
	} else if exp.Before(until) {
		until = exp
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[[32]byte]tokenEntry{}
	}
	if len(c.entries) >= maxTokens {
		c.evict(now)
	}
	c.entries[sum] = tokenEntry{id: id, until: until}
	return id, nil
}

// evict drops expired entries and, if that is not enough, half of the rest.
func (c *tokenCache) evict(now time.Time) {
	for k, e := range c.entries {
		if !now.Before(e.until) {
			delete(c.entries, k)
		}
	}
	for k := range c.entries {
		if len(c.entries) < maxTokens/2 {
			return
		}
		delete(c.entries, k)
	}
}

// expiry reads the exp claim of a JWT the verifier accepted.
func expiry(token string) (time.Time, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp *json.Number `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Exp == nil {
		return time.Time{}, false
	}
	secs, err := claims.Exp.Float64()
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(int64(secs), 0), true
}
