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

type healthBody struct {
	Status       string            `json:"status"`
	Dependencies map[string]string `json:"dependencies"`
}

// health checks every dependency in parallel, each within HealthTimeout.
func (s *Server) health(w http.ResponseWriter, r *http.Request) error {
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
			ctx, cancel := context.WithTimeout(r.Context(), HealthTimeout)
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
	body := healthBody{Status: "ok", Dependencies: map[string]string{}}
	status := http.StatusOK
	for i, n := range names {
		body.Dependencies[n] = results[i]
		if results[i] != "ok" {
			body.Status, status = "degraded", http.StatusServiceUnavailable
		}
	}
	writeJSON(w, status, body)
	return nil
}
