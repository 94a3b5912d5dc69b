package keyvault

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// sdkBody is a request body of the SDK's kind: seekable, but no type
// net/http knows to be in memory.
type sdkBody struct{ *bytes.Reader }

func (sdkBody) Close() error { return nil }

// TestSignRequestGoesOutInOneWrite: a request with an SDK body is written
// to the connection in one write with inMemoryBody, and in two without it.
func TestSignRequestGoesOutInOneWrite(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	}))
	defer srv.Close()
	for _, tt := range []struct {
		name   string
		wrap   bool
		writes int64
	}{{"in memory", true, 1}, {"as the SDK sends it", false, 2}} {
		t.Run(tt.name, func(t *testing.T) {
			var writes atomic.Int64
			base := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
				return countingConn{c, &writes}, err
			}}
			defer base.CloseIdleConnections()
			var rt http.RoundTripper = base
			if tt.wrap {
				rt = inMemoryBody{base}
			}
			body := []byte(`{"alg":"RS256","value":"AAEC"}`)
			req, _ := http.NewRequest("POST", srv.URL+"/keys/k/v/sign", nil)
			req.Body, req.ContentLength = sdkBody{bytes.NewReader(body)}, int64(len(body))
			resp, err := rt.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !bytes.Equal(got, body) {
				t.Fatalf("the server read %q, want %q", got, body)
			}
			if n := writes.Load(); n != tt.writes {
				t.Fatalf("the request took %d writes, want %d", n, tt.writes)
			}
		})
	}
}

type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}
