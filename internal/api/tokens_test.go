package api

import (
	"context"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"keyserver/internal/keyserver"
)

// countingVerifier accepts tokens whose payload names a subject, and counts its calls.
type countingVerifier struct{ calls int }

func (v *countingVerifier) Verify(_ context.Context, token string) (keyserver.Identity, error) {
	v.calls++
	if token == "bad.bad.bad" {
		return keyserver.Identity{}, keyserver.Errorf(keyserver.EUNAUTHENTICATED, "The bearer token is not valid.")
	}
	return keyserver.Identity{Principal: keyserver.Principal{Issuer: "iss", Subject: token[:8]}}, nil
}

func jwtWith(payload string) string {
	return "header00." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + ".sig"
}

func TestTokenCacheRemembersVerifiedTokensUntilTTLOrExpiry(t *testing.T) {
	t0 := time.Unix(1_900_000_000, 0)
	long := jwtWith(fmt.Sprintf(`{"sub":"a","exp":%d}`, t0.Add(time.Hour).Unix()))
	short := jwtWith(fmt.Sprintf(`{"sub":"b","exp":%d}`, t0.Add(5*time.Second).Unix()))
	noExp := jwtWith(`{"sub":"c"}`)
	tests := []struct {
		name   string
		token  string
		second time.Time // when the token is presented again
		calls  int       // verifications after both
	}{
		{"within the TTL", long, t0.Add(TokenTTL - time.Second), 1},
		{"after the TTL", long, t0.Add(TokenTTL), 2},
		{"after the token's expiry", short, t0.Add(5 * time.Second), 2},
		{"no exp claim", noExp, t0, 2},
		{"refused", "bad.bad.bad", t0, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c tokenCache
			v := &countingVerifier{}
			p1, err1 := c.verify(context.Background(), v, tt.token, t0)
			p2, err2 := c.verify(context.Background(), v, tt.token, tt.second)
			if p1.Principal != p2.Principal || keyserver.ErrorCode(err1) != keyserver.ErrorCode(err2) {
				t.Fatalf("answers differ: %v %v, %v %v", p1, err1, p2, err2)
			}
			if v.calls != tt.calls {
				t.Fatalf("%d verifications, want %d", v.calls, tt.calls)
			}
		})
	}
}

func TestTokenCacheStaysBounded(t *testing.T) {
	var c tokenCache
	v := &countingVerifier{}
	t0 := time.Unix(1_900_000_000, 0)
	for i := range maxTokens + 10 {
		tok := jwtWith(fmt.Sprintf(`{"sub":"%08d","exp":%d}`, i, t0.Add(time.Hour).Unix()))
		if _, err := c.verify(context.Background(), v, tok, t0); err != nil {
			t.Fatalf("verify: %v", err)
		}
	}
	if n := len(c.entries); n > maxTokens {
		t.Fatalf("%d tokens remembered, more than %d", n, maxTokens)
	}
}
