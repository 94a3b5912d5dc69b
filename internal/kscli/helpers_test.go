package kscli

import (
	"bytes"
	"context"
	"crypto/elliptic"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"keyserver/internal/ksfake"
)

// clock is the fake time of a test: sleeping advances it, and onSleep runs
// after each sleep (to approve an operation mid-wait, say).
type clock struct {
	mu      sync.Mutex
	t       time.Time
	sleeps  int
	onSleep func(n int)
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.sleeps++
	n, fn := c.sleeps, c.onSleep
	c.mu.Unlock()
	if fn != nil {
		fn(n)
	}
	if n > 100000 {
		return fmt.Errorf("test clock: too many sleeps")
	}
	return ctx.Err()
}

// harness runs ks against the in-process fake Keyserver.
type harness struct {
	tb     testing.TB
	fake   *ksfake.Fake
	server *httptest.Server
	clock  *clock
	env    map[string]string
	dir    string
}

const testToken = "test-token"

var (
	keysOnce sync.Once
	testKeys []*ksfake.Key
)

// sharedKeys makes the fake's keys once per test binary: key1 RSA-2048,
// key2 EC P-256, key3 EC P-384.
func sharedKeys(tb testing.TB) []*ksfake.Key {
	keysOnce.Do(func() {
		testKeys = []*ksfake.Key{ksfake.MustRSAKey(tb, "key1", 2048), ksfake.MustECKey(tb, "key2", elliptic.P256()), ksfake.MustECKey(tb, "key3", elliptic.P384())}
	})
	return testKeys
}

func newHarness(tb testing.TB) *harness {
	tb.Helper()
	h := &harness{tb: tb, clock: &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}, dir: tb.TempDir()}
	h.fake = ksfake.New(testToken, "legacy-operation", sharedKeys(tb)...)
	h.fake.Required = map[string]int{"key2": 1, "key3": 2}
	h.fake.Now = h.clock.Now
	h.server = httptest.NewServer(h.fake)
	tb.Cleanup(h.server.Close)
	h.env = map[string]string{"KSC_API_SERVER": h.server.URL, "KSC_ID_TOKEN": testToken}
	return h
}

type result struct {
	code           int
	stdout, stderr string
}

// run runs ks with the harness's environment in its directory.
func (h *harness) run(args ...string) result {
	h.tb.Helper()
	var stdout, stderr bytes.Buffer
	wd, _ := os.Getwd()
	if err := os.Chdir(h.dir); err != nil {
		h.tb.Fatal(err)
	}
	defer os.Chdir(wd)
	code := Run(context.Background(), Env{
		Args: args, Getenv: func(k string) string { return h.env[k] },
		Stdout: &stdout, Stderr: &stderr, Now: h.clock.Now, Sleep: h.clock.Sleep,
	})
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// mustRun fails unless ks exits with code.
func (h *harness) mustRun(code int, args ...string) result {
	h.tb.Helper()
	r := h.run(args...)
	if r.code != code {
		h.tb.Fatalf("ks %s exited %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, code, r.stdout, r.stderr)
	}
	return r
}

// mustFail fails unless ks exits with code and one stderr line containing want.
func (h *harness) mustFail(code int, want string, args ...string) string {
	h.tb.Helper()
	r := h.mustRun(code, args...)
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	last := lines[len(lines)-1]
	if !strings.Contains(last, want) || strings.Count(r.stderr, "ks "+args[0]+": ") == 0 {
		h.tb.Fatalf("ks %s: last stderr line %q does not say %q; stderr:\n%s", strings.Join(args, " "), last, want, r.stderr)
	}
	return last
}

// mustCreate opens an operation through ks and returns its id.
func (h *harness) mustCreate(args ...string) string {
	h.tb.Helper()
	r := h.mustRun(0, append([]string{"create", "--description", "Release 1.2.3 firmware"}, args...)...)
	id := strings.TrimSpace(r.stdout)
	if len(id) != 40 || strings.Contains(r.stdout, " ") {
		h.tb.Fatalf("ks create printed %q on stdout, want the operation id alone", r.stdout)
	}
	return id
}

// files writes n files and returns their names.
func (h *harness) files(n int) []string {
	h.tb.Helper()
	var names []string
	for i := range n {
		name := fmt.Sprintf("artifact-%02d.bin", i)
		if err := os.WriteFile(filepath.Join(h.dir, name), []byte(fmt.Sprintf("firmware image %d\n", i)), 0o644); err != nil {
			h.tb.Fatal(err)
		}
		names = append(names, name)
	}
	return names
}

// jwt returns an unsigned JWT with claims, enough for exp and aud checks.
func jwt(claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc([]byte(claims)) + ".c2ln"
}

// downFor answers 503 to the first n requests, then passes them to next.
func downFor(n int, next http.Handler) http.Handler {
	var mu sync.Mutex
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n--
		down := n >= 0
		mu.Unlock()
		if down {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"error":"unavailable","message":"Table Storage cannot be reached."}`))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// decodePart returns the decoded payload of a JWT.
func decodePart(tok string) []byte {
	parts := strings.Split(tok, ".")
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	return b
}
