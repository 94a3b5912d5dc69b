package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"keyserver/internal/keyserver"
)

func TestStatusOfEveryCode(t *testing.T) {
	tests := []struct {
		code string
		want int
	}{
		{keyserver.EINVALID, 400}, {keyserver.EUNAUTHENTICATED, 401}, {keyserver.EFORBIDDEN, 403},
		{keyserver.ENOTFOUND, 404}, {keyserver.ECONFLICT, 409}, {keyserver.ENOTAPPROVED, 409},
		{keyserver.EEXHAUSTED, 409}, {keyserver.ECLOSED, 409}, {keyserver.EEXPIRED, 410},
		{keyserver.ETOOLARGE, 413}, {keyserver.ERATELIMITED, 429}, {keyserver.EUNAVAILABLE, 503},
		{keyserver.EINTERNAL, 500}, {"something_new", 500},
	}
	for _, tc := range tests {
		if got := StatusOf(tc.code); got != tc.want {
			t.Errorf("StatusOf(%q) = %d, want %d", tc.code, got, tc.want)
		}
	}
}

func TestWriteErrorHidesInternalDetails(t *testing.T) {
	rec := httptest.NewRecorder()
	status := writeError(rec, errors.New("table password=hunter2 leaked"), "rid")
	var body Error
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if status != 500 || body.Error != keyserver.EINTERNAL || strings.Contains(rec.Body.String(), "hunter2") || body.RequestID != "rid" {
		t.Fatalf("status %d body %s", status, rec.Body.String())
	}
}

func TestDecode(t *testing.T) {
	type target struct {
		A     int    `json:"a"`
		KeyID string `json:"keyid"`
	}
	tests := []struct {
		name     string
		body     string
		optional bool
		want     string
	}{
		{"ok", `{"a":1}`, false, ""},
		{"empty optional", ``, true, ""},
		{"empty required", ``, false, keyserver.EINVALID},
		{"malformed", `{"a":`, false, keyserver.EINVALID},
		{"unknown field", `{"a":1,"b":2}`, false, keyserver.EINVALID},
		{"wrong type", `{"a":"x"}`, false, keyserver.EINVALID},
		{"trailing data", `{"a":1}{"a":2}`, false, keyserver.EINVALID},
		{"trailing brace", `{"keyid":"a"}}`, false, keyserver.EINVALID},
		{"trailing bracket", `{"keyid":"a"}]`, false, keyserver.EINVALID},
		{"duplicate", `{"keyid":"a","keyid":"b"}`, false, keyserver.EINVALID},
		{"case-variant duplicate", `{"keyid":"a","KEYID":"b"}`, false, keyserver.EINVALID},
		{"case variant", `{"KeyId":"b"}`, false, keyserver.EINVALID},
		{"too large", `{"a":1,"pad":"` + strings.Repeat("x", MaxBodyBytes) + `"}`, false, keyserver.ETOOLARGE},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tc.body))
			var v target
			err := decode(httptest.NewRecorder(), r, &v, tc.optional)
			if got := keyserver.ErrorCode(err); got != tc.want {
				t.Fatalf("decode(%.40q) code %q (%v), want %q", tc.body, got, err, tc.want)
			}
		})
	}
}

// stubVerifier accepts one token.
type stubVerifier struct{}

func (stubVerifier) Verify(_ context.Context, token string) (keyserver.Identity, error) {
	if token != "good" {
		return keyserver.Identity{}, keyserver.Errorf(keyserver.EUNAUTHENTICATED, "The bearer token is not valid.")
	}
	return keyserver.Identity{Principal: keyserver.Principal{Issuer: "iss", Subject: "someone"}}, nil
}

func TestAuthentication(t *testing.T) {
	h := (&Server{Verifier: stubVerifier{}, Service: &keyserver.Service{}}).Handler()
	tests := []struct {
		name, header string
		want         int
	}{
		{"missing", "", 401},
		{"not bearer", "Basic Zm9vOmJhcg==", 401},
		{"empty bearer", "Bearer ", 401},
		{"bad token", "Bearer bad", 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/api/operations/abc", nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != tc.want || rec.Header().Get("WWW-Authenticate") == "" || !strings.Contains(rec.Body.String(), `"unauthenticated"`) {
				t.Fatalf("status %d, headers %v, body %s", rec.Code, rec.Header(), rec.Body.String())
			}
		})
	}
}

func TestUnknownRouteIsJSON404(t *testing.T) {
	rec := httptest.NewRecorder()
	(&Server{}).Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/nothing", nil))
	if rec.Code != 404 || rec.Header().Get("Content-Type") != "application/json" || !strings.Contains(rec.Body.String(), `"not_found"`) {
		t.Fatalf("status %d, body %s", rec.Code, rec.Body.String())
	}
}

// countingChecker counts its health checks and fails when told to.
type countingChecker struct {
	calls int
	err   error
}

func (c *countingChecker) Health(context.Context) error {
	c.calls++
	return c.err
}

func TestHealthIsCheckedAtMostOncePerTTL(t *testing.T) {
	dep := &countingChecker{}
	h := (&Server{Health: map[string]keyserver.HealthChecker{"dep": dep}}).Handler()
	for range 3 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/health", nil))
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"dep":"ok"`) {
			t.Fatalf("status %d, body %s", rec.Code, rec.Body.String())
		}
	}
	if dep.calls != 1 {
		t.Fatalf("three health requests made %d checks, want 1", dep.calls)
	}
}

func TestHealthReportsAFailingDependency(t *testing.T) {
	dep := &countingChecker{err: errors.New("down")}
	rec := httptest.NewRecorder()
	(&Server{Health: map[string]keyserver.HealthChecker{"dep": dep}}).Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/health", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"dep":"unavailable"`) {
		t.Fatalf("status %d, body %s", rec.Code, rec.Body.String())
	}
}
