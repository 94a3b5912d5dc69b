package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"keyserver/internal/keyserver"
)

// gatedChecker blocks each check until release is closed, or its context ends.
type gatedChecker struct {
	calls   atomic.Int32
	entered chan struct{} // receives once per check
	release chan struct{}
}

func newGatedChecker() *gatedChecker {
	return &gatedChecker{entered: make(chan struct{}, 16), release: make(chan struct{})}
}

func (g *gatedChecker) Health(ctx context.Context) error {
	g.calls.Add(1)
	g.entered <- struct{}{}
	select {
	case <-g.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func healthRequest(ctx context.Context) *http.Request {
	return httptest.NewRequest(http.MethodGet, "/api/health", nil).WithContext(ctx)
}

func waitFor(tb testing.TB, ch <-chan struct{}, what string) {
	tb.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		tb.Fatalf("timed out waiting for %s", what)
	}
}

// TestHealthCallerHangingUpDoesNotPoisonTheCache is issue 8's defect 2: an
// anonymous caller who hangs up at once must not make the next caller see 503.
func TestHealthCallerHangingUpDoesNotPoisonTheCache(t *testing.T) {
	dep := newGatedChecker()
	h := (&Server{Health: map[string]keyserver.HealthChecker{"dep": dep}}).Handler()

	ctx, hangUp := context.WithCancel(context.Background())
	first := make(chan struct{})
	go func() {
		defer close(first)
		h.ServeHTTP(httptest.NewRecorder(), healthRequest(ctx))
	}()
	waitFor(t, dep.entered, "the first check")
	hangUp()
	waitFor(t, first, "the caller who hung up to be answered")
	close(dep.release)

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, healthRequest(context.Background()))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"dep":"ok"`) {
		t.Fatalf("after a caller hung up, the next one got %d %s", rec.Code, rec.Body.String())
	}
	if n := dep.calls.Load(); n != 1 {
		t.Errorf("the dependency was checked %d times, want once: the first check runs on, detached", n)
	}
}

// TestHealthCallersShareOneCheck: callers arriving while a check runs wait
// for it rather than starting their own, and one who gives up while waiting
// is let go at once.
func TestHealthCallersShareOneCheck(t *testing.T) {
	dep := newGatedChecker()
	h := (&Server{Health: map[string]keyserver.HealthChecker{"dep": dep}}).Handler()

	codes := make(chan int, 4)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, healthRequest(context.Background()))
			codes <- rec.Code
		}()
	}
	waitFor(t, dep.entered, "the check")

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	impatient := make(chan struct{})
	go func() {
		defer close(impatient)
		h.ServeHTTP(httptest.NewRecorder(), healthRequest(ctx))
	}()
	waitFor(t, impatient, "a caller who gave up to be let go while the check runs")

	close(dep.release)
	wg.Wait()
	close(codes)
	for code := range codes {
		if code != http.StatusOK {
			t.Errorf("a waiting caller got %d", code)
		}
	}
	if n := dep.calls.Load(); n != 1 {
		t.Errorf("five callers made %d checks, want 1", n)
	}
}

// TestHealthCheckHasItsOwnTimeout: a dependency that never answers is
// reported unavailable after HealthTimeout, whatever the caller's deadline.
func TestHealthCheckHasItsOwnTimeout(t *testing.T) {
	dep := newGatedChecker() // never released
	s := &Server{Health: map[string]keyserver.HealthChecker{"dep": dep}, HealthTimeout: 20 * time.Millisecond}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, healthRequest(context.Background()))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"dep":"unavailable"`) {
		t.Fatalf("a hung dependency gave %d %s", rec.Code, rec.Body.String())
	}
}
