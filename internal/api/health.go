package api

import (
	"context"
	"net/http"
	"sort"
	"sync"
	"time"
)

// HealthTimeout bounds each dependency check.
const HealthTimeout = 3 * time.Second

// HealthCacheTTL is how long a healthy answer is reused, so that anonymous
// callers cannot turn /api/health into load on the HSM or the issuers; an
// unhealthy one is reused for a second only, so recovery shows quickly.
const HealthCacheTTL = 10 * time.Second

// healthCache keeps the last health answer.
type healthCache struct {
	mu     sync.Mutex
	at     time.Time
	status int
	body   Health
}

// health answers with the state of every dependency, checked at most once per HealthCacheTTL.
func (s *Server) health(w http.ResponseWriter, r *http.Request) error {
	c := &s.healthCache
	c.mu.Lock()
	defer c.mu.Unlock()
	ttl := HealthCacheTTL
	if c.status != http.StatusOK {
		ttl = time.Second
	}
	if c.at.IsZero() || time.Since(c.at) >= ttl {
		c.status, c.body = s.checkHealth(r.Context())
		c.at = time.Now()
	}
	writeJSON(w, c.status, c.body)
	return nil
}

// checkHealth checks every dependency in parallel, each within HealthTimeout.
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
			ctx, cancel := context.WithTimeout(ctx, HealthTimeout)
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
