// Package triggers serves the Keyserver's non-HTTP functions over the
// custom-handler invocation protocol: the Functions host POSTs
// {"Data","Metadata"} to /<function name> and expects
// {"Outputs","Logs","ReturnValue"}; any other status than 2xx fails the
// invocation, so that Service Bus retries a message and finally
// dead-letters it. Only the host reaches these paths: it proxies HTTP
// requests to HTTP functions under /api, and the handler listens on loopback.
package triggers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"
)

// Function names: the folders functions/upkeep and functions/notify.
const (
	FunctionUpkeep = "upkeep"
	FunctionNotify = "notify"
)

// Binding names in the function.json files.
const (
	timerBinding = "timer"
	eventBinding = "event"
)

// maxInvocationBytes bounds a request: Service Bus messages are at most
// 256 KiB (Standard) or 100 MiB (Premium, but events are small).
const maxInvocationBytes = 1 << 20

// Request is what the host sends.
type Request struct {
	Data     map[string]json.RawMessage `json:"Data"`
	Metadata map[string]json.RawMessage `json:"Metadata"`
}

// Response is what the host expects back.
type Response struct {
	Outputs     map[string]any `json:"Outputs"`
	Logs        []string       `json:"Logs"`
	ReturnValue any            `json:"ReturnValue"`
}

// Server serves the trigger functions.
type Server struct {
	// Upkeep runs the periodic work and says what it did.
	Upkeep func(ctx context.Context) (string, error)
	// Notify delivers one event body; an error makes Service Bus retry it.
	Notify func(ctx context.Context, body []byte, messageID string, deliveryCount int) error
	Log    *slog.Logger
}

// Routes lists the paths the server answers, for checking the function folders.
func Routes() []string { return []string{"/" + FunctionUpkeep, "/" + FunctionNotify} }

// Register adds the trigger routes to mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.Handle("POST /"+FunctionUpkeep, s.invocation(FunctionUpkeep, s.upkeep))
	mux.Handle("POST /"+FunctionNotify, s.invocation(FunctionNotify, s.notify))
}

type invoked func(ctx context.Context, req *Request) ([]string, error)

// proxyHeaders are set on requests that came through a proxy (App Service's
// front end, the Functions host's HTTP proxy), never on the host's own
// invocations.
var proxyHeaders = []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Original-URL", "X-ARR-LOG-ID"}

// invocation decodes the host's request, runs fn and answers as the host
// expects, with one log line per invocation. A request that came through a
// proxy is refused: it is not the host invoking a trigger.
func (s *Server) invocation(name string, fn invoked) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Azure-Functions-InvocationId")
		for _, h := range proxyHeaders {
			if r.Header.Get(h) != "" {
				s.Log.WarnContext(r.Context(), "refusing a proxied request to a trigger", "function", name, "header", h)
				writeJSON(w, http.StatusForbidden, Response{Outputs: map[string]any{}, Logs: []string{name + " is invoked by the Functions host only"}})
				return
			}
		}
		var req Request
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxInvocationBytes))
		if err == nil {
			err = json.Unmarshal(body, &req)
		}
		var logs []string
		if err != nil {
			err = fmt.Errorf("the invocation request is not {\"Data\",\"Metadata\"} JSON: %w", err)
		} else {
			logs, err = fn(r.Context(), &req)
		}
		attrs := []any{"function", name, "invocation_id", id, "duration_ms", float64(time.Since(start).Microseconds()) / 1000}
		if err != nil {
			s.Log.ErrorContext(r.Context(), "invocation failed", append(attrs, "err", err)...)
			writeJSON(w, http.StatusInternalServerError, Response{Outputs: map[string]any{}, Logs: []string{name + " failed: " + err.Error()}})
			return
		}
		s.Log.InfoContext(r.Context(), "invocation", append(attrs, "logs", logs)...)
		writeJSON(w, http.StatusOK, Response{Outputs: map[string]any{}, Logs: logs})
	})
}

// timerInfo is the timer binding's value.
type timerInfo struct {
	IsPastDue bool `json:"IsPastDue"`
}

func (s *Server) upkeep(ctx context.Context, req *Request) ([]string, error) {
	raw, ok := req.Data[timerBinding]
	if !ok {
		return nil, fmt.Errorf("the request has no Data.%s", timerBinding)
	}
	var t timerInfo
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, fmt.Errorf("Data.%s is not a timer: %w", timerBinding, err)
	}
	report, err := s.Upkeep(ctx)
	if err != nil {
		return nil, err
	}
	logs := []string{report}
	if t.IsPastDue {
		logs = append(logs, "the timer was past due")
	}
	return logs, nil
}

func (s *Server) notify(ctx context.Context, req *Request) ([]string, error) {
	raw, ok := req.Data[eventBinding]
	if !ok {
		return nil, fmt.Errorf("the request has no Data.%s", eventBinding)
	}
	body, err := messageBody(raw)
	if err != nil {
		return nil, err
	}
	id := metaString(req.Metadata["MessageId"])
	count := metaInt(req.Metadata["DeliveryCount"])
	if err := s.Notify(ctx, body, id, count); err != nil {
		return nil, err
	}
	return []string{fmt.Sprintf("delivered message %s (delivery %d)", id, count)}, nil
}
