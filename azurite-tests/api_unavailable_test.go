package azuritetests

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"keyserver/internal/app"
	"keyserver/internal/azurite"
	"keyserver/internal/keyserver"
	"keyserver/internal/localstack"
)

// mustUnreachableTables returns a Table Storage connection string for a
// loopback port nothing listens on.
func mustUnreachableTables(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listening: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		tb.Fatalf("closing the listener: %v", err)
	}
	return fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;TableEndpoint=http://127.0.0.1:%d/%s;",
		azurite.AccountName, azurite.AccountKey, port, azurite.AccountName)
}

// TestAPITablesUnreachableIs503 runs a second handler whose Table Storage is
// a closed port.
func TestAPITablesUnreachableIs503(t *testing.T) {
	t.Parallel()
	st := mustStack(t)
	env := map[string]string{
		"FUNCTIONS_CUSTOMHANDLER_PORT":          "0", // any free port; m.Addr() says which
		"KEYSERVER_TABLES_CONNECTION_STRING":    mustUnreachableTables(t),
		"KEYSERVER_TRUSTED_ISSUERS":             fmt.Sprintf(`[{"issuer":%q,"audience":%q,"subjectclaim":"sub"}]`, st.AuthURL, localstack.Audience),
		"KEYSERVER_ALLOW_LOOPBACK_HTTP_ISSUERS": "true",
		"KEYSERVER_BOOTSTRAP_ADMINS":            fmt.Sprintf(`[{"issuer":%q,"subject":"adminclient"}]`, st.AuthURL),
		"KEYSERVER_KEYVAULT_CREDENTIAL":         "managedidentity",
		"KEYSERVER_KEYVAULT_CA_FILE":            st.CAFile,
		"KEYSERVER_SIGN_TIMEOUT":                "3s",
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
		if err := m.Close(ctx); err != nil {
			t.Errorf("closing the second handler: %v", err)
		}
	})

	a, err := do("http://"+m.Addr(), "POST", "/api/operations", mustToken(t, "adminclient"), opRequest(60000, map[string]int{"key1": 1}))
	if err != nil {
		t.Fatalf("%v", err)
	}
	a.mustRefuse(t, http.StatusServiceUnavailable, keyserver.EUNAVAILABLE)
	if a.Header.Get("Retry-After") == "" {
		t.Fatalf("503 without Retry-After")
	}
}
