package ksc

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func jwtWithExp(exp int64) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none"}`)) + "." + enc([]byte(fmt.Sprintf(`{"sub":"x","exp":%d}`, exp))) + ".sig"
}

func TestJWTExpiry(t *testing.T) {
	if got := JWTExpiry(jwtWithExp(1700000000)); got.Unix() != 1700000000 {
		t.Fatalf("JWTExpiry = %v", got)
	}
	for _, tok := range []string{"opaque-token", "a.b.c", "a.e30.c"} {
		if got := JWTExpiry(tok); !got.IsZero() {
			t.Fatalf("JWTExpiry(%q) = %v, want zero", tok, got)
		}
	}
}

func mustWrite(tb testing.TB, path, content string) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		tb.Fatalf("writing %s: %v", path, err)
	}
}

func TestTokenFileIsReReadWhenExpired(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	path := filepath.Join(t.TempDir(), "token")
	first, second := jwtWithExp(now.Unix()+600), jwtWithExp(now.Unix()+3600)
	mustWrite(t, path, first+"\n")
	src := NewTokenSource("", path, func() time.Time { return now })

	got, err := src.Token()
	if err != nil || got != first {
		t.Fatalf("Token = %q, %v; want the first token", got, err)
	}
	mustWrite(t, path, second)
	if got, _ := src.Token(); got != first {
		t.Fatalf("Token before expiry re-read the file")
	}
	now = now.Add(11 * time.Minute)
	if got, _ := src.Token(); got != second {
		t.Fatalf("Token after expiry = %q, want the second token", got)
	}
}

func TestFixedTokenIsReturnedAsIs(t *testing.T) {
	src := NewTokenSource("abc", "", nil)
	if got, err := src.Token(); got != "abc" || err != nil {
		t.Fatalf("Token = %q, %v", got, err)
	}
	if _, err := NewTokenSource("", "", nil).Token(); err == nil {
		t.Fatalf("Token with no source succeeded")
	}
}

func TestJWTAudiences(t *testing.T) {
	enc := base64.RawURLEncoding.EncodeToString
	tok := func(payload string) string {
		return enc([]byte(`{"alg":"none"}`)) + "." + enc([]byte(payload)) + ".sig"
	}
	cases := map[string][]string{
		tok(`{"aud":"a"}`):       {"a"},
		tok(`{"aud":["a","b"]}`): {"a", "b"},
		tok(`{"sub":"x"}`):       nil,
		"opaque":                 nil,
	}
	for in, want := range cases {
		if got := JWTAudiences(in); !slices.Equal(got, want) {
			t.Errorf("JWTAudiences(%q) = %q, want %q", in, got, want)
		}
	}
}
