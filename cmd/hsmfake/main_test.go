package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
)

// started is a running hsmfake: its base URL and a client trusting its CA.
type started struct {
	url    string
	client *http.Client
	stop   func() error
}

func mustStart(tb testing.TB, args ...string) *started {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, outW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, args, outW, io.Discard)
		outW.CloseWithError(io.EOF)
		done <- err
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cancel()
		tb.Fatalf("hsmfake printed no start line: %v (run: %v)", err, <-done)
	}
	go io.Copy(io.Discard, out)
	m := regexp.MustCompile(`serving (https://localhost:\d+) \(clients trust (\S+)\)`).FindStringSubmatch(line)
	if m == nil {
		cancel()
		tb.Fatalf("start line %q names no URL and CA", line)
	}
	ca, err := os.ReadFile(m[2])
	if err != nil {
		cancel()
		tb.Fatalf("reading CA: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		cancel()
		tb.Fatalf("CA file holds no certificate")
	}
	s := &started{url: m[1], client: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}}
	stopped := false
	s.stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		s.client.CloseIdleConnections()
		cancel()
		return <-done
	}
	tb.Cleanup(func() { _ = s.stop() })
	return s
}

func (s *started) listKIDs(tb testing.TB) []string {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.url+"/keys?api-version=7.5", nil)
	req.Header.Set("Authorization", "Bearer anything")
	resp, err := s.client.Do(req)
	if err != nil {
		tb.Fatalf("GET /keys: %v", err)
	}
	defer resp.Body.Close()
	var list struct {
		Value []struct {
			KID string `json:"kid"`
		} `json:"value"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET /keys: status %d, decoding: %v", resp.StatusCode, err)
	}
	var kids []string
	for _, v := range list.Value {
		kids = append(kids, v.KID)
	}
	return kids
}

func (s *started) latestKID(tb testing.TB, name string) string {
	tb.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.url+"/keys/"+name, nil)
	req.Header.Set("Authorization", "Bearer anything")
	resp, err := s.client.Do(req)
	if err != nil {
		tb.Fatalf("GET /keys/%s: %v", name, err)
	}
	defer resp.Body.Close()
	var b struct {
		Key struct {
			KID string `json:"kid"`
		} `json:"key"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&b); err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("GET /keys/%s: status %d, decoding: %v", name, resp.StatusCode, err)
	}
	return b.Key.KID
}

func TestRunCreatesKeysOnlyWhenMissing(t *testing.T) {
	state := t.TempDir()
	args := []string{"-addr", "127.0.0.1:0", "-state", state, "-flavour", "managedhsm", "-create", "key1=RSA:2048,key2=EC:P-256"}
	s := mustStart(t, args...)
	if kids := s.listKIDs(t); len(kids) != 2 || !strings.HasPrefix(kids[0], s.url+"/keys/key1") || !strings.HasPrefix(kids[1], s.url+"/keys/key2") {
		t.Fatalf("listed %v, want key1 and key2 under %s", kids, s.url)
	}
	first := s.latestKID(t, "key1")
	if err := s.stop(); err != nil {
		t.Fatalf("run returned %v after cancel, want nil", err)
	}

	s = mustStart(t, append(args[:len(args)-1], "key1=RSA:2048,key2=EC:P-256,key3=EC-HSM:P-384")...)
	if kids := s.listKIDs(t); len(kids) != 3 {
		t.Fatalf("listed %v after restart, want 3 keys", kids)
	}
	if again := s.latestKID(t, "key1"); versionOf(again) != versionOf(first) {
		t.Fatalf("restart made a new key1 version: %s, was %s", again, first)
	}
}

func versionOf(kid string) string { return kid[strings.LastIndex(kid, "/")+1:] }

func TestRunRejectsBadFlags(t *testing.T) {
	cases := [][]string{
		{"-flavour", "keyvault", "-addr", "127.0.0.1:0", "-state", t.TempDir()},
		{"-create", "key1", "-addr", "127.0.0.1:0", "-state", t.TempDir()},
		{"-create", "key1=RSA:1024", "-addr", "127.0.0.1:0", "-state", t.TempDir()},
		{"-create", "key1=EC:P-192", "-addr", "127.0.0.1:0", "-state", t.TempDir()},
		{"-no-such-flag"},
	}
	for _, args := range cases {
		if err := run(context.Background(), args, io.Discard, io.Discard); err == nil {
			t.Fatalf("run(%q) succeeded", args)
		}
	}
}
