package azuritetests

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"keyserver/internal/app"
	"keyserver/internal/azurite"
	"keyserver/internal/keyserver"
	"keyserver/internal/localstack"
)

// mustClosedPort returns a loopback port nothing listens on.
func mustClosedPort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listening: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// TestAPITablesUnreachableIs503 runs a second handler whose Table Storage is
// a closed port.
func TestAPITablesUnreachableIs503(t *testing.T) {
	t.Parallel()
	st := mustStack(t)
	handlerPort := mustClosedPort(t)
	tablesPort := mustClosedPort(t)
	env := map[string]string{
		"FUNCTIONS_CUSTOMHANDLER_PORT": strconv.Itoa(handlerPort),
		"KEYSERVER_TABLES_CONNECTION_STRING": fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;TableEndpoint=http://127.0.0.1:%d/%s;",
			azurite.AccountName, azurite.AccountKey, tablesPort, azurite.AccountName),
		"KEYSERVER_TRUSTED_ISSUERS":     fmt.Sprintf(`[{"issuer":%q,"audience":%q,"subjectclaim":"sub"}]`, st.AuthURL, localstack.Audience),
		"KEYSERVER_BOOTSTRAP_ADMINS":    fmt.Sprintf(`[{"issuer":%q,"subject":"adminclient"}]`, st.AuthURL),
		"KEYSERVER_KEYVAULT_CREDENTIAL": "managedidentity",
		"KEYSERVER_KEYVAULT_CA_FILE":    st.CAFile,
		"KEYSERVER_SIGN_TIMEOUT":        "3s",
	}
	cfg, err := app.ConfigFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("ConfigFromEnv: %v", err)
	}
	m := &app.Main{Config: cfg, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := m.Open(ctx); err != nil {
		t.Fatalf("opening the second handler: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		m.Close(ctx)
	})

	req, err := http.NewRequestWithContext(ctx, "POST", "http://"+m.Addr()+"/api/operations",
		strings.NewReader(`{"validms":60000,"description":"Building of firmware","new-keyusagerestrictions":[{"keyid":"key1","maxusagecount":1}]}`))
	if err != nil {
		t.Fatalf("building request: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+mustToken(t, "adminclient"))
	req.Header.Set("Content-Type", "application/json")
	resp, err := apiClient.Do(req)
	if err != nil {
		t.Fatalf("POST /api/operations: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	a := apiAnswer{Status: resp.StatusCode, Header: resp.Header, Body: body}
	a.mustRefuse(t, http.StatusServiceUnavailable, keyserver.EUNAVAILABLE)
	if a.Header.Get("Retry-After") == "" {
		t.Fatalf("503 without Retry-After")
	}
}
