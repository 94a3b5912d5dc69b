package hsmfake

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestFaults(t *testing.T) {
	f := mustServer(t, t.TempDir(), FlavourVault)
	mustCreate(t, f, "k", map[string]any{"kty": "EC"})
	sign := map[string]string{"alg": "ES256", "value": b64.EncodeToString(make([]byte, 32))}

	t.Run("429 with Retry-After on sign, once", func(t *testing.T) {
		f.call(t, http.MethodPost, "/_fault", map[string]any{"op": "sign", "status": 429, "retryafter": "1"}, http.StatusNoContent)
		f.call(t, http.MethodGet, "/keys/k", nil, http.StatusOK) // another operation is not affected
		status, h, body := f.do(t, http.MethodPost, "/keys/k//sign", sign, "tok")
		if status != 429 || h.Get("Retry-After") != "1" || errorCode(t, body) != "Throttled" {
			t.Fatalf("status %d Retry-After %q body %s, want 429, 1, Throttled", status, h.Get("Retry-After"), body)
		}
		f.call(t, http.MethodPost, "/keys/k//sign", sign, http.StatusOK)
	})
	t.Run("500 on get, twice", func(t *testing.T) {
		if err := f.srv.InjectFault(Fault{Op: "get", Status: 500, Count: 2}); err != nil {
			t.Fatalf("InjectFault: %v", err)
		}
		// A request without a token gets the challenge and leaves the fault queued.
		if status, _, _ := f.do(t, http.MethodGet, "/keys/k", nil, ""); status != 401 {
			t.Fatalf("unauthenticated status %d, want 401", status)
		}
		for i := 0; i < 2; i++ {
			if body := f.call(t, http.MethodGet, "/keys/k", nil, 500); errorCode(t, body) != "InternalServerError" {
				t.Fatalf("body %s", body)
			}
		}
		f.call(t, http.MethodGet, "/keys/k", nil, http.StatusOK)
	})
	t.Run("503 on any, then cleared", func(t *testing.T) {
		f.call(t, http.MethodPost, "/_fault", map[string]any{"op": "any", "status": 503, "count": 5}, http.StatusNoContent)
		f.call(t, http.MethodGet, "/keys", nil, 503)
		f.call(t, http.MethodPost, "/keys/k//sign", sign, 503)
		f.call(t, http.MethodDelete, "/_fault", nil, http.StatusNoContent)
		f.call(t, http.MethodGet, "/keys", nil, http.StatusOK)
	})
	t.Run("delay answers normally afterwards", func(t *testing.T) {
		f.call(t, http.MethodPost, "/_fault", map[string]any{"op": "create", "delay": "20ms"}, http.StatusNoContent)
		mustCreate(t, f, "k", map[string]any{"kty": "EC"})
	})
	t.Run("hold until released, then answer", func(t *testing.T) {
		hold := make(chan struct{})
		if err := f.srv.InjectFault(Fault{Op: "sign", Hold: hold}); err != nil {
			t.Fatalf("InjectFault: %v", err)
		}
		answered := make(chan []byte)
		go func() { _, _, body := f.do(t, http.MethodPost, "/keys/k//sign", sign, "tok"); answered <- body }()
		f.call(t, http.MethodGet, "/keys/k", nil, http.StatusOK) // other operations pass meanwhile
		close(hold)
		if body := <-answered; !bytes.Contains(body, []byte(`"value"`)) {
			t.Fatalf("held signature answered %s", body)
		}
	})
	t.Run("hang until the client gives up", func(t *testing.T) {
		if err := f.srv.InjectFault(Fault{Op: "sign", Hang: true}); err != nil {
			t.Fatalf("InjectFault: %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.ts.URL+"/keys/k//sign", strings.NewReader(`{"alg":"ES256","value":"`+sign["value"]+`"}`))
		if err != nil {
			t.Fatalf("building request: %v", err)
		}
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := f.client.Do(req)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("hanging request answered %d", resp.StatusCode)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("hanging request failed with %v, want a deadline error", err)
		}
		f.call(t, http.MethodPost, "/keys/k//sign", sign, http.StatusOK)
	})
}

func TestHangReleasedByClose(t *testing.T) {
	f := mustServer(t, t.TempDir(), FlavourVault)
	if err := f.srv.InjectFault(Fault{Op: "list", Hang: true}); err != nil {
		t.Fatalf("InjectFault: %v", err)
	}
	done := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, f.ts.URL+"/keys", nil)
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := f.client.Do(req)
		if err != nil {
			done <- err.Error()
			return
		}
		resp.Body.Close()
		done <- resp.Status
	}()
	giveUp := time.After(30 * time.Second) // bounds a hang only
	for !strings.Contains(f.logs.String(), "injecting fault") {
		select {
		case got := <-done:
			t.Fatalf("request ended before hanging: %s", got)
		case <-giveUp:
			t.Fatalf("the request never reached the hang fault; logs:\n%s", f.logs.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
	f.close()
	if got := <-done; got != "503 Service Unavailable" {
		t.Fatalf("released request ended with %q, want 503", got)
	}
}

func TestFaultEndpointRefusals(t *testing.T) {
	f := mustServer(t, t.TempDir(), FlavourVault)
	cases := []struct {
		name string
		body string
	}{
		{"unknown op", `{"op":"decrypt","status":500}`},
		{"unknown status", `{"op":"sign","status":404}`},
		{"nothing to do", `{"op":"sign"}`},
		{"hang with status", `{"op":"sign","hang":true,"status":500}`},
		{"bad delay", `{"op":"sign","delay":"soon"}`},
		{"unknown field", `{"op":"sign","status":500,"probability":0.5}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/_fault", strings.NewReader(c.body))
			req.RemoteAddr = "127.0.0.1:5555"
			w := httptest.NewRecorder()
			f.srv.Handler().ServeHTTP(w, req)
			if w.Code != http.StatusBadRequest {
				t.Fatalf("status %d, want 400; body %s", w.Code, w.Body)
			}
		})
	}
	req := httptest.NewRequest(http.MethodPost, "/_fault", strings.NewReader(`{"op":"sign","status":500}`))
	req.RemoteAddr = "192.0.2.7:5555"
	w := httptest.NewRecorder()
	f.srv.Handler().ServeHTTP(w, req)
	if w.Code != http.StatusForbidden || !bytes.Contains(w.Body.Bytes(), []byte("loopback")) {
		t.Fatalf("non-loopback /_fault: status %d body %s, want 403", w.Code, w.Body)
	}
	f.call(t, http.MethodGet, "/keys", nil, http.StatusOK) // nothing was queued
}
