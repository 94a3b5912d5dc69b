package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"keyserver/internal/keyserver"
	"keyserver/internal/oidc"
)

// syncBuffer collects stderr written by the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	clientsFile := filepath.Join(dir, "clients.json")
	if err := os.WriteFile(clientsFile, []byte(`[{"name":"adminclient","secret":"changed"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "key.pem")
	headerFile := filepath.Join(dir, "identity-header")
	const issuer = "http://localhost:8300" // a port run does not listen on: the client below dials run
	stderr := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-issuer", issuer, "-audience", "api://ks-test",
			"-identity-header-file", headerFile, "-redirect-uris", "http://localhost:7071/, http://127.0.0.1:7071/", "-key-file", keyFile, "-clients-file", clientsFile}, stderr, func(a string) { addrc <- a })
	}()
	var base string
	select {
	case a := <-addrc:
		base = "http://" + a
	case err := <-done:
		t.Fatalf("run ended before listening: %v\n%s", err, stderr)
	}

	issuers := []oidc.Issuer{{Issuer: issuer, Audience: "api://ks-test", SubjectClaim: "sub", DiscoveryURL: base + "/.well-known/openid-configuration"}}
	// The JWKS URL names the issuer's host; send it to where run listens.
	dialer := &net.Dialer{}
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return dialer.DialContext(ctx, network, strings.TrimPrefix(base, "http://"))
	}}}
	v, err := oidc.NewVerifier(issuers, oidc.Options{AllowLoopbackHTTP: true, Client: client})
	if err != nil {
		t.Fatal(err)
	}
	status, token := mustToken(t, base, "adminclient:changed")
	if status != http.StatusOK {
		t.Fatalf("token with the clients file's secret: status %d", status)
	}
	p, err := v.Verify(context.Background(), token)
	if err != nil || p.Subject != "adminclient" || p.Issuer != issuer || p.Kind != keyserver.KindApp {
		t.Fatalf("Verify = %v, %v; want adminclient@%s", p, err, issuer)
	}
	if status, _ := mustToken(t, base, "adminclient:adminclient"); status != http.StatusUnauthorized {
		t.Fatalf("token with the overridden demo secret: status %d, want 401", status)
	}
	if _, err := os.Stat(keyFile); err != nil {
		t.Fatalf("key file: %v", err)
	}
	header := mustIdentityHeader(t, headerFile)
	if status := get(t, base+"/msi/token?api-version=2019-08-01&resource=https%3A%2F%2Fvault.azure.net", header); status != http.StatusOK {
		t.Fatalf("managed identity with the header file's value: status %d", status)
	}
	if status := get(t, base+"/authorize?response_type=code&client_id=keyserver-ui&redirect_uri=http%3A%2F%2F127.0.0.1%3A7071%2F&scope=openid&code_challenge_method=S256&code_challenge="+strings.Repeat("a", 43), ""); status != http.StatusOK {
		t.Fatalf("sign-in page for a -redirect-uris entry: status %d", status)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	out := stderr.String()
	if !strings.Contains(out, "WARNING") || !strings.Contains(out, "NEVER run it in production") {
		t.Fatalf("stderr lacks the local-use warning:\n%s", out)
	}
	if strings.Contains(out, token) || strings.Contains(out, "changed") || strings.Contains(out, header) {
		t.Fatalf("stderr reveals a token or secret:\n%s", out)
	}
	jsonLines := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "{") {
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("log line is not JSON: %q", line)
			}
			jsonLines++
		}
	}
	if jsonLines < 3 {
		t.Fatalf("got %d JSON log lines, want at least 3:\n%s", jsonLines, out)
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	cases := [][]string{
		{"-no-such-flag"},
		{"-issuer", "not a url", "-addr", "127.0.0.1:0"},
		{"-clients-file", filepath.Join(t.TempDir(), "missing.json"), "-addr", "127.0.0.1:0"},
		{"-person-token-lifetime", "0s", "-addr", "127.0.0.1:0"},
		{"-redirect-uris", "localhost:7071", "-addr", "127.0.0.1:0"},
	}
	for _, args := range cases {
		if err := run(context.Background(), args, &syncBuffer{}, nil); err == nil {
			t.Fatalf("run %v succeeded", args)
		}
	}
}

func mustToken(tb testing.TB, base, credentials string) (int, string) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/oauth2/token", strings.NewReader("grant_type=client_credentials"))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(credentials)))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, body.AccessToken
}

func mustIdentityHeader(tb testing.TB, path string) string {
	tb.Helper()
	info, err := os.Stat(path)
	if err != nil {
		tb.Fatalf("identity header file: %v", err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		tb.Fatalf("identity header file mode %v, want 0600", perm)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	header := strings.TrimSpace(string(b))
	if len(header) < 32 {
		tb.Fatalf("identity header %q is too short to be a secret", header)
	}
	return header
}

func get(tb testing.TB, url, identityHeader string) int {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if identityHeader != "" {
		req.Header.Set("X-IDENTITY-HEADER", identityHeader)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
