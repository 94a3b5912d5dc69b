package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
)

// tableCounter is a reverse proxy in front of Azurite that counts the
// handler's table calls and the rows their answers carry.
type tableCounter struct {
	calls, reads, rows atomic.Int64
	proxy              *httputil.ReverseProxy
}

// tableTraffic is a snapshot of a tableCounter.
type tableTraffic struct{ calls, reads, rows int64 }

func (a tableTraffic) minus(b tableTraffic) tableTraffic {
	return tableTraffic{a.calls - b.calls, a.reads - b.reads, a.rows - b.rows}
}

// startTableCounter listens on a free loopback port and forwards to target
// (http://127.0.0.1:port). It returns the proxy's base URL.
func startTableCounter(target string) (*tableCounter, string, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, "", err
	}
	c := &tableCounter{}
	c.proxy = httputil.NewSingleHostReverseProxy(u)
	c.proxy.Transport = &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true}
	c.proxy.ModifyResponse = c.count
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	go func() { _ = http.Serve(ln, c.proxy) }()
	return c, "http://" + ln.Addr().String(), nil
}

func (c *tableCounter) snapshot() tableTraffic {
	return tableTraffic{c.calls.Load(), c.reads.Load(), c.rows.Load()}
}

// count records one call; a successful GET is a read, whose rows are the
// entries of its "value" array (a query) or the one entity it returns.
func (c *tableCounter) count(resp *http.Response) error {
	c.calls.Add(1)
	if resp.Request.Method != http.MethodGet || resp.StatusCode != http.StatusOK {
		return nil
	}
	c.reads.Add(1)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if strings.HasSuffix(strings.TrimRight(resp.Request.URL.Path, "/"), "Tables") {
		return nil // the table list, not rows
	}
	var page struct {
		Value []json.RawMessage `json:"value"`
	}
	if json.Unmarshal(body, &page) == nil && page.Value != nil {
		c.rows.Add(int64(len(page.Value)))
	} else {
		c.rows.Add(1)
	}
	return nil
}
