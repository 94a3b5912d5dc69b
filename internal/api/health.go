package api

import (
	"context"
	"net/http"
	"sort"
	"sync"
	"time"

	"keyserver/internal/keyserver"
)

// DefaultHealthTimeout bounds each dependency check unless Server.HealthTimeout is set.
const DefaultHealthTimeout = 3 * time.Second

// HealthCacheTTL is how long a healthy answer is reused, so that anonymous
// callers cannot turn /api/health into load on the HSM or the issuers; an
// unhealthy one is reused for a second only, so recovery shows quickly.
const HealthCacheTTL = 10 * time.Second

// healthCache keeps the last health answer and the check in flight, if any.
type healthCache struct {
	mu       sync.Mutex
	at       time.Time
	status   int
	body     Health
	inflight chan struct{} // closed when the running check has stored its answer
}

// health answers with the state of every dependency, checked at most once per
// HealthCacheTTL. The check runs detached from the request, so a caller who
// hangs up neither cancels it nor leaves a false answer behind; callers who
// arrive meanwhile wait for the same check.
func (s *Server) health(w http.ResponseWriter, r *http.Request) error {
	c := &s.healthCache
	c.mu.Lock()
	ttl := HealthCacheTTL
	if c.status != http.StatusOK {
		ttl = time.Second
	}
	if c.at.IsZero() || time.Since(c.at) >= ttl {
		if c.inflight == nil {
			c.inflight = make(chan struct{})
			go s.refreshHealth(context.WithoutCancel(r.Context()), c.inflight)
		}
		done := c.inflight
		c.mu.Unlock()
		select {
		case <-done:
		case <-r.Context().Done():
			return keyserver.Wrap(keyserver.EUNAVAILABLE, r.Context().Err(), "The caller went away before the health check ended.")
		}
		c.mu.Lock()
	}
	status, body := c.status, c.body
	c.mu.Unlock()
	writeJSON(w, status, body)
	return nil
}

// refreshHealth runs the checks on ctx, which no caller can cancel, stores the
// answer and closes done.
func (s *Server) refreshHealth(ctx context.Context, done chan struct{}) {
	status, body := s.checkHealth(ctx)
	c := &s.healthCache
	c.mu.Lock()
	defer c.mu.Unlock()
	if ctx.Err() == nil { // never keep an answer from a cancelled context
		c.status, c.body, c.at = status, body, time.Now()
	}
	c.inflight = nil
	close(done)
}

// checkHealth checks every dependency in parallel, each within its own timeout.
func (s *Server) checkHealth(ctx context.Context) (int, Health) {
	names := make([]string, 0, len(s.Health))
	for n := range s.Health {
		names = append(names, n)
	}
	sort.Strings(names)
	results := make([]string, len(names))
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, s.healthTimeout())
			defer cancel()
			if err := s.Health[n].Health(ctx); err != nil {
				s.log().WarnContext(ctx, "health check failed", "dependency", n, "err", err)
				results[i] = "unavailable"
				return
			}
			results[i] = "ok"
		}()
	}
	wg.Wait()
	body := Health{Status: "ok", Dependencies: map[string]string{}}
	status := http.StatusOK
	for i, n := range names {
		body.Dependencies[n] = results[i]
		if results[i] != "ok" {
			body.Status, status = "degraded", http.StatusServiceUnavailable
		}
	}
	return status, body
}

func (s *Server) healthTimeout() time.Duration {
	if s.HealthTimeout > 0 {
		return s.HealthTimeout
	}
	return DefaultHealthTimeout
}
