package triggers_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"keyserver/internal/triggers"
)

// The request bodies below are shaped as the Functions host sends them to a
// custom handler: Data holds the trigger's value under its binding name,
// Metadata the trigger's binding data and "sys". The host JSON-encodes
// metadata values that are not objects, so they may arrive encoded twice
// ("\"id\"", "1"); older hosts and the documentation show them plain.

const timerFirstRun = `{
  "Data": {
    "timer": {"Schedule": {"AdjustForDST": true}, "ScheduleStatus": null, "IsPastDue": false}
  },
  "Metadata": {
    "sys": {"MethodName": "upkeep", "UtcNow": "2025-03-04T10:01:00.0049331Z", "RandGuid": "0d1f3e2a-5b6c-4d7e-8f90-a1b2c3d4e5f6"}
  }
}`

const timerPastDue = `{
  "Data": {
    "timer": {"Schedule": {"AdjustForDST": true},
      "ScheduleStatus": {"Last": "2025-03-04T09:58:00.0012345+00:00", "Next": "2025-03-04T09:59:00+00:00", "LastUpdated": "2025-03-04T09:58:00.0012345+00:00"},
      "IsPastDue": true}
  },
  "Metadata": {
    "sys": {"MethodName": "upkeep", "UtcNow": "2025-03-04T10:01:00.0049331Z", "RandGuid": "5e6f7a8b-0000-4000-8000-000000000001"}
  }
}`

const eventBody = `{"version":1,"id":"e1e1","type":"operation.created"}`

// serviceBusRequest is a notify invocation with the body as data and the
// metadata encoded as the host encodes it.
func serviceBusRequest(data string, twice bool) string {
	meta := func(v string) string {
		if twice {
			b, _ := json.Marshal(v)
			return string(b)
		}
		return v
	}
	return `{
  "Data": {"event": ` + data + `},
  "Metadata": {
    "MessageId": ` + mustJSON(meta(`"e1e1"`)) + `,
    "DeliveryCount": ` + meta("2") + `,
    "EnqueuedTimeUtc": "2025-03-04T10:00:00.123",
    "ContentType": ` + mustJSON(meta(`"application/json"`)) + `,
    "Subject": ` + mustJSON(meta(`"operation.created"`)) + `,
    "ApplicationProperties": {"operationid": "3f3f", "keyids": "key2"},
    "UserProperties": {"operationid": "3f3f", "keyids": "key2"},
    "MessageActions": {},
    "sys": {"MethodName": "notify", "UtcNow": "2025-03-04T10:00:00.2Z", "RandGuid": "11111111-2222-4333-8444-555555555555"}
  }
}`
}

// mustJSON leaves a JSON literal as it is and quotes anything else.
func mustJSON(v string) string {
	if json.Valid([]byte(v)) {
		return v
	}
	b, _ := json.Marshal(v)
	return string(b)
}

type calls struct {
	upkeeps  int
	bodies   []string
	ids      []string
	counts   []int
	notifyOK error
}

func server(c *calls, logs io.Writer) http.Handler {
	s := &triggers.Server{
		Upkeep: func(ctx context.Context) (string, error) {
			c.upkeeps++
			return "republished 0, expired 1, reminded 0, deleted 0", c.notifyOK
		},
		Notify: func(ctx context.Context, body []byte, id string, n int) error {
			c.bodies, c.ids, c.counts = append(c.bodies, string(body)), append(c.ids, id), append(c.counts, n)
			return c.notifyOK
		},
		Log: slog.New(slog.NewTextHandler(logs, nil)),
	}
	mux := http.NewServeMux()
	s.Register(mux)
	return mux
}

func invoke(t *testing.T, h http.Handler, function, body string) (int, triggers.Response) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/"+function, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Azure-Functions-InvocationId", "9c1e0f4a-0000-4000-8000-00000000000a")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var resp triggers.Response
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatalf("the answer is not {Outputs,Logs,ReturnValue}: %v\n%s", err, rec.Body)
	}
	var raw map[string]json.RawMessage
	_ = json.Unmarshal(rec.Body.Bytes(), &raw)
	for _, k := range []string{"Outputs", "Logs", "ReturnValue"} {
		if _, ok := raw[k]; !ok {
			t.Fatalf("the answer has no %s: %s", k, rec.Body)
		}
	}
	return rec.Code, resp
}

func TestUpkeepInvocation(t *testing.T) {
	for _, body := range []string{timerFirstRun, timerPastDue} {
		c := &calls{}
		var logs bytes.Buffer
		code, resp := invoke(t, server(c, &logs), "upkeep", body)
		if code != http.StatusOK || c.upkeeps != 1 || len(resp.Logs) == 0 || resp.Logs[0] != "republished 0, expired 1, reminded 0, deleted 0" {
			t.Fatalf("upkeep answered %d %+v after %d runs", code, resp, c.upkeeps)
		}
		if pastDue := strings.Contains(body, `"IsPastDue": true`); pastDue != (len(resp.Logs) == 2) {
			t.Fatalf("logs %q do not say whether the timer was past due", resp.Logs)
		}
	}
}

func TestUpkeepFailureFailsTheInvocation(t *testing.T) {
	c := &calls{notifyOK: errors.New("Table Storage cannot be reached")}
	var logs bytes.Buffer
	code, resp := invoke(t, server(c, &logs), "upkeep", timerFirstRun)
	if code != http.StatusInternalServerError || !strings.Contains(strings.Join(resp.Logs, " "), "cannot be reached") {
		t.Fatalf("upkeep answered %d %+v, want 500 saying why", code, resp)
	}
}

func TestNotifyInvocation(t *testing.T) {
	b64, _ := json.Marshal(base64.StdEncoding.EncodeToString([]byte(eventBody)))
	str, _ := json.Marshal(eventBody)
	tests := []struct {
		name, data string
		twice      bool
	}{
		{"string body, metadata encoded twice", string(str), true},
		{"string body, plain metadata", string(str), false},
		{"object body", eventBody, true},
		{"base64 body", string(b64), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &calls{}
			var logs bytes.Buffer
			code, resp := invoke(t, server(c, &logs), "notify", serviceBusRequest(tt.data, tt.twice))
			if code != http.StatusOK || !reflect.DeepEqual(resp.Outputs, map[string]any{}) || resp.ReturnValue != nil {
				t.Fatalf("notify answered %d %+v", code, resp)
			}
			if !reflect.DeepEqual(c.bodies, []string{eventBody}) || c.ids[0] != "e1e1" || c.counts[0] != 2 {
				t.Fatalf("Notify got bodies %q, ids %q, counts %v", c.bodies, c.ids, c.counts)
			}
		})
	}
}

func TestNotifyFailureFailsTheInvocation(t *testing.T) {
	str, _ := json.Marshal(eventBody)
	tests := []struct {
		name, body string
		err        error
	}{
		{"delivery failed", serviceBusRequest(string(str), true), errors.New("channel key2~aa01 (teams): the receiver answered 503")},
		{"no event binding", `{"Data":{"message":"x"},"Metadata":{}}`, nil},
		{"not JSON", `{"Data":`, nil},
		{"body neither JSON nor base64", serviceBusRequest(`"hello"`, true), nil},
		{"null body", serviceBusRequest(`null`, true), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &calls{notifyOK: tt.err}
			var logs bytes.Buffer
			code, resp := invoke(t, server(c, &logs), "notify", tt.body)
			if code < 300 || len(resp.Logs) == 0 || !strings.Contains(logs.String(), "invocation failed") {
				t.Fatalf("notify answered %d %+v, want non-2xx saying why; log:\n%s", code, resp, logs.String())
			}
		})
	}
}

// TestRefusesProxiedRequests: a request that came through App Service's
// front end or the host's HTTP proxy is not the host invoking a trigger.
func TestRefusesProxiedRequests(t *testing.T) {
	for _, h := range []string{"X-Forwarded-For", "X-Original-URL"} {
		c := &calls{}
		var logs bytes.Buffer
		str, _ := json.Marshal(eventBody)
		req := httptest.NewRequest(http.MethodPost, "/notify", strings.NewReader(serviceBusRequest(string(str), true)))
		req.Header.Set(h, "203.0.113.7")
		rec := httptest.NewRecorder()
		server(c, &logs).ServeHTTP(rec, req)
		if rec.Code != http.StatusForbidden || len(c.bodies) != 0 {
			t.Fatalf("a request with %s got %d and delivered %d events; want 403 and none", h, rec.Code, len(c.bodies))
		}
	}
}

func TestOnlyPost(t *testing.T) {
	var logs bytes.Buffer
	h := server(&calls{}, &logs)
	for _, p := range triggers.Routes() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p, nil))
		if rec.Code != http.StatusMethodNotAllowed {
			t.Fatalf("GET %s = %d, want 405", p, rec.Code)
		}
	}
}
