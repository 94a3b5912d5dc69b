package hsmfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Fault is a one-shot failure for the next Count requests of operation Op
// ("sign", "get", "create", "list", "verify" or "any"). Delay postpones the
// answer; Hang blocks until the client goes away; Status (429, 500 or 503,
// with an optional Retry-After) replaces the answer. A Fault with only a
// Delay answers normally afterwards.
type Fault struct {
	Op         string        `json:"op"`
	Status     int           `json:"status,omitempty"`
	RetryAfter string        `json:"retryafter,omitempty"`
	Delay      time.Duration `json:"-"`
	Hang       bool          `json:"hang,omitempty"`
	Count      int           `json:"count,omitempty"` // default 1
}

// UnmarshalJSON reads delay as a Go duration ("2s").
func (f *Fault) UnmarshalJSON(b []byte) error {
	type plain Fault
	aux := struct {
		*plain
		Delay string `json:"delay"`
	}{plain: (*plain)(f)}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&aux); err != nil {
		return err
	}
	if aux.Delay != "" {
		d, err := time.ParseDuration(aux.Delay)
		if err != nil {
			return fmt.Errorf("delay %q: %w", aux.Delay, err)
		}
		f.Delay = d
	}
	return nil
}

func (f *Fault) validate() error {
	switch f.Op {
	case opSign, opGet, opCreate, opList, opVerify, opRotate, "any":
	default:
		return fmt.Errorf("fault op %q: use sign, get, create, rotate, list, verify or any", f.Op)
	}
	switch f.Status {
	case 0, http.StatusTooManyRequests, http.StatusInternalServerError, http.StatusServiceUnavailable:
	default:
		return fmt.Errorf("fault status %d: use 429, 500 or 503", f.Status)
	}
	if f.Hang && f.Status != 0 {
		return fmt.Errorf("a hanging fault never answers, so it takes no status")
	}
	if !f.Hang && f.Status == 0 && f.Delay <= 0 {
		return fmt.Errorf("a fault needs a status, a delay or hang")
	}
	if f.Count == 0 {
		f.Count = 1
	}
	if f.Count < 0 || f.Count > 10000 {
		return fmt.Errorf("fault count %d: use 1 to 10000", f.Count)
	}
	return nil
}

// faultQueue holds faults in the order they were injected.
type faultQueue struct {
	mu sync.Mutex
	q  []*Fault
}

// take consumes one use of the first fault matching op.
func (q *faultQueue) take(op string) (Fault, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, f := range q.q {
		if f.Op == op || f.Op == "any" {
			f.Count--
			if f.Count == 0 {
				q.q = append(q.q[:i], q.q[i+1:]...)
			}
			return *f, true
		}
	}
	return Fault{}, false
}

// InjectFault queues f.
func (s *Server) InjectFault(f Fault) error {
	if err := f.validate(); err != nil {
		return fmt.Errorf("hsmfake: %w", err)
	}
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.q = append(s.faults.q, &f)
	return nil
}

// ClearFaults drops every queued fault.
func (s *Server) ClearFaults() {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.q = nil
}

// serveFault is POST /_fault (queue one) and DELETE /_fault (clear), from
// loopback only and without authentication.
func (s *Server) serveFault(w http.ResponseWriter, r *http.Request) {
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		s.fail(w, r, unsupported(http.StatusForbidden, "/_fault is served to loopback clients only."))
		return
	}
	switch r.Method {
	case http.MethodPost:
		var f Fault
		if err := decodeBody(r, &f); err != nil {
			s.fail(w, r, err)
			return
		}
		if err := s.InjectFault(f); err != nil {
			s.fail(w, r, badParameter("%v", err))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	case http.MethodDelete:
		s.ClearFaults()
		w.WriteHeader(http.StatusNoContent)
	default:
		s.fail(w, r, unsupported(http.StatusMethodNotAllowed, "%s /_fault is not implemented; use POST or DELETE.", r.Method))
	}
}

// applyFault carries out f and reports whether it answered the request.
func (s *Server) applyFault(w http.ResponseWriter, r *http.Request, op string, f Fault) bool {
	s.log.Info("hsmfake: injecting fault", "op", op, "path", r.URL.Path, "status", f.Status, "delay", f.Delay.String(), "hang", f.Hang)
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return true
		case <-s.done:
			writeError(w, http.StatusServiceUnavailable, "ServiceUnavailable", "hsmfake: shutting down")
			return true
		}
	}
	if f.Hang {
		select {
		case <-r.Context().Done():
		case <-s.done:
			writeError(w, http.StatusServiceUnavailable, "ServiceUnavailable", "hsmfake: shutting down")
		}
		return true
	}
	if f.Status == 0 {
		return false
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	code := map[int]string{
		http.StatusTooManyRequests:     "Throttled",
		http.StatusInternalServerError: "InternalServerError",
		http.StatusServiceUnavailable:  "ServiceUnavailable",
	}[f.Status]
	writeError(w, f.Status, code, "hsmfake: injected fault")
	return true
}
