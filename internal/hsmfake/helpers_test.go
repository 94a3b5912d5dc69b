package hsmfake

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// syncBuffer collects log output written from many goroutines.
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

// fixture is a Server behind a TLS test server and a client trusting its CA.
type fixture struct {
	srv    *Server
	ts     *httptest.Server
	client *http.Client
	logs   *syncBuffer
	once   sync.Once
}

func mustServer(tb testing.TB, dir, flavour string) *fixture {
	tb.Helper()
	logs := &syncBuffer{}
	srv, err := New(context.Background(), Config{StateDir: dir, Flavour: flavour, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.TLS = srv.TLSConfig()
	ts.StartTLS()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(srv.CAPEM()) {
		tb.Fatalf("CAPEM holds no certificate")
	}
	f := &fixture{srv: srv, ts: ts, logs: logs, client: &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}}
	tb.Cleanup(f.close)
	return f
}

// close stops the fake first, which releases hanging requests, then the test server.
func (f *fixture) close() {
	f.once.Do(func() {
		_ = f.srv.Close()
		f.ts.Close()
		f.client.CloseIdleConnections()
	})
}

// do sends a request with a bearer token (none if token is "") and returns
// the status, headers and body.
func (f *fixture) do(tb testing.TB, method, path string, body any, token string) (int, http.Header, []byte) {
	tb.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			tb.Fatalf("encoding body: %v", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, f.ts.URL+path, rd)
	if err != nil {
		tb.Fatalf("building request: %v", err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := f.client.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("reading response: %v", err)
	}
	return resp.StatusCode, resp.Header, out
}

// call is do with a token, requiring wantStatus.
func (f *fixture) call(tb testing.TB, method, path string, body any, wantStatus int) []byte {
	tb.Helper()
	status, _, out := f.do(tb, method, path, body, "test-token")
	if status != wantStatus {
		tb.Fatalf("%s %s: status %d, want %d; body %s", method, path, status, wantStatus, out)
	}
	return out
}

func mustDecode[T any](tb testing.TB, b []byte) T {
	tb.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		tb.Fatalf("decoding %s: %v", b, err)
	}
	return v
}

func mustCreate(tb testing.TB, f *fixture, name string, body map[string]any) keyBundle {
	tb.Helper()
	return mustDecode[keyBundle](tb, f.call(tb, http.MethodPost, "/keys/"+name+"/create?api-version=7.5", body, http.StatusOK))
}

// errorCode returns the code of a Key Vault error body.
func errorCode(tb testing.TB, b []byte) string {
	tb.Helper()
	return mustDecode[errorBody](tb, b).Error.Code
}

// versionOf is the last path segment of a kid.
func versionOf(kid string) string { return kid[strings.LastIndex(kid, "/")+1:] }

// mustPublicKey builds a Go public key from a JSON web key.
func mustPublicKey(tb testing.TB, j jsonWebKey) crypto.PublicKey {
	tb.Helper()
	dec := func(s string) []byte {
		b, err := decodeB64URL(s)
		if err != nil {
			tb.Fatalf("decoding %q: %v", s, err)
		}
		return b
	}
	switch j.Kty {
	case "RSA", "RSA-HSM":
		return &rsa.PublicKey{N: new(big.Int).SetBytes(dec(j.N)), E: int(new(big.Int).SetBytes(dec(j.E)).Int64())}
	case "EC", "EC-HSM":
		curve := curves[j.Crv]
		if curve == nil {
			tb.Fatalf("unknown crv %q", j.Crv)
		}
		point := append([]byte{4}, append(dec(j.X), dec(j.Y)...)...)
		pk, err := ecdsa.ParseUncompressedPublicKey(curve, point)
		if err != nil {
			tb.Fatalf("parsing EC key: %v", err)
		}
		return pk
	}
	tb.Fatalf("unknown kty %q", j.Kty)
	return nil
}

// verifySig checks sig independently of the fake's own verify.
func verifySig(pub crypto.PublicKey, alg string, h crypto.Hash, digest, sig []byte) bool {
	switch alg[:2] {
	case "RS":
		return rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), h, digest, sig) == nil
	case "PS":
		return rsa.VerifyPSS(pub.(*rsa.PublicKey), h, digest, sig, &rsa.PSSOptions{SaltLength: h.Size()}) == nil
	}
	ec := pub.(*ecdsa.PublicKey)
	n := (ec.Curve.Params().BitSize + 7) / 8
	if len(sig) != 2*n {
		return false
	}
	return ecdsa.Verify(ec, digest, new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:]))
}
