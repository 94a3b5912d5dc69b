package module

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"keyserver/internal/ksc"
)

func TestClientDoesNotFollowRedirects(t *testing.T) {
	var leaked atomic.Bool
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			leaked.Store(true)
		}
		w.Write([]byte("[]"))
	}))
	defer elsewhere.Close()
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+r.URL.Path, http.StatusFound)
	}))
	defer server.Close()
	u, err := ksc.ParseAPIServer(server.URL)
	if err != nil {
		t.Fatal(err)
	}
	c := NewClient(&Config{APIServer: u, Timeout: 5 * time.Second}, ksc.NewTokenSource("tok", "", time.Now), nil)
	if _, err := c.Keys(context.Background()); err == nil {
		t.Fatal("Keys followed a redirect and succeeded; want an error")
	}
	if leaked.Load() {
		t.Fatal("the bearer token was sent to the redirect target")
	}
}
