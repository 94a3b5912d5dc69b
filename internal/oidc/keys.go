package oidc

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

const (
	fetchTimeout    = 10 * time.Second
	maxResponseSize = 1 << 20
	// refreshInterval is the least time between two key fetches of one
	// issuer after a successful fetch; retryInterval after a failed one.
	refreshInterval = 30 * time.Second
	retryInterval   = 5 * time.Second
	// refreshAge is the age at which cached keys are fetched again, so that
	// keys an issuer withdrew disappear.
	refreshAge = time.Hour
)

// DefaultMaxKeyAge is how long an issuer's keys stay trusted while they
// cannot be refreshed, unless configured.
const DefaultMaxKeyAge = 24 * time.Hour

// keyCache holds the signing keys of one issuer. Lookups of cached keys take
// a read lock only; fetches are shared by concurrent callers and rate limited.
type keyCache struct {
	issuer Issuer
	client *http.Client
	now    func() time.Time
	// maxAge is the age past which keys that could not be refreshed are
	// no longer used: a withdrawn key must not stay trusted for ever while
	// the issuer is unreachable.
	maxAge            time.Duration
	allowLoopbackHTTP bool

	mu        sync.RWMutex
	keys      map[string]publicKey
	fetchedAt time.Time // of the keys in the cache
	lastTry   time.Time // of the last fetch, successful or not
	lastErr   error     // of the last fetch
	inflight  *fetchCall
}

type fetchCall struct {
	done chan struct{}
	err  error
}

// errKeyNotFound means the issuer does not publish the kid.
var errKeyNotFound = fmt.Errorf("key not published by the issuer")

// key returns the key with kid, refreshing the cache once when kid is
// unknown (or the cache is old) and no fetch happened recently. Keys older
// than maxAge are never returned: when they cannot be refreshed, the fetch
// error is.
func (c *keyCache) key(ctx context.Context, kid string) (publicKey, error) {
	c.mu.RLock()
	k, ok := c.keys[kid]
	age := c.now().Sub(c.fetchedAt)
	c.mu.RUnlock()
	if ok && age < min(refreshAge, c.maxAge) {
		return k, nil
	}
	err := c.refresh(ctx)
	c.mu.RLock()
	k, ok = c.keys[kid]
	usable := c.now().Sub(c.fetchedAt) < c.maxAge
	c.mu.RUnlock()
	switch {
	case ok && usable:
		return k, nil
	case err != nil:
		return publicKey{}, err
	case ok:
		return publicKey{}, fmt.Errorf("the issuer's keys are older than %v", c.maxAge)
	}
	return publicKey{}, errKeyNotFound
}

// refresh fetches the issuer's keys unless a fetch happened within the rate
// limit, in which case it returns that fetch's error. Concurrent callers share
// one fetch.
func (c *keyCache) refresh(ctx context.Context) error {
	c.mu.Lock()
	if call := c.inflight; call != nil {
		c.mu.Unlock()
		return wait(ctx, call)
	}
	if !c.lastTry.IsZero() {
		interval := refreshInterval
		if c.lastErr != nil {
			interval = retryInterval
		}
		if c.now().Sub(c.lastTry) < interval {
			err := c.lastErr
			c.mu.Unlock()
			return err
		}
	}
	call := &fetchCall{done: make(chan struct{})}
	c.inflight = call
	c.lastTry = c.now()
	c.mu.Unlock()

	// The fetch outlives a caller that gives up, so that the others still get keys.
	fetchCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
	go func() {
		defer cancel()
		keys, err := c.fetch(fetchCtx)
		c.mu.Lock()
		if err == nil {
			c.keys, c.fetchedAt = keys, c.now()
		}
		c.lastErr = err
		c.inflight = nil
		call.err = err
		c.mu.Unlock()
		close(call.done)
	}()
	return wait(ctx, call)
}

func wait(ctx context.Context, call *fetchCall) error {
	select {
	case <-call.done:
		return call.err
	case <-ctx.Done():
		return fmt.Errorf("waiting for the issuer's keys: %w", ctx.Err())
	}
}

// cached reports whether the cache holds keys young enough to use.
func (c *keyCache) cached() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.keys) > 0 && c.now().Sub(c.fetchedAt) < c.maxAge
}

// fetch reads the discovery document and then the JWKS it names.
func (c *keyCache) fetch(ctx context.Context) (map[string]publicKey, error) {
	discoveryURL := c.issuer.discoveryURL()
	body, err := c.get(ctx, discoveryURL)
	if err != nil {
		return nil, fmt.Errorf("fetching discovery document %s: %w", discoveryURL, err)
	}
	var doc struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("decoding discovery document %s: %w", discoveryURL, err)
	}
	if err := checkHTTPURL(doc.JWKSURI, c.allowLoopbackHTTP); err != nil {
		return nil, fmt.Errorf("discovery document %s: jwks_uri %q: %w", discoveryURL, doc.JWKSURI, err)
	}
	body, err = c.get(ctx, doc.JWKSURI)
	if err != nil {
		return nil, fmt.Errorf("fetching JWKS %s: %w", doc.JWKSURI, err)
	}
	keys, err := parseJWKS(body)
	if err != nil {
		return nil, fmt.Errorf("reading JWKS %s: %w", doc.JWKSURI, err)
	}
	return keys, nil
}

func (c *keyCache) get(ctx context.Context, rawURL string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %s", resp.Status)
	}
	if len(body) > maxResponseSize {
		return nil, fmt.Errorf("response is larger than %d bytes", maxResponseSize)
	}
	return body, nil
}

// maxRedirects bounds the redirects of one fetch.
const maxRedirects = 5

// fetchClient returns o's client, or one with a timeout, that follows only
// redirects to URLs the configuration would accept: never from https to
// http, nor to plain http except on loopback when that is allowed.
func fetchClient(o Options) *http.Client {
	client := &http.Client{Timeout: fetchTimeout}
	if o.Client != nil {
		c := *o.Client
		client = &c
	}
	client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= maxRedirects {
			return fmt.Errorf("stopped after %d redirects", maxRedirects)
		}
		if via[len(via)-1].URL.Scheme == "https" && req.URL.Scheme != "https" {
			return fmt.Errorf("refusing a redirect from https to %s", req.URL.Redacted())
		}
		if err := checkHTTPURL(req.URL.String(), o.AllowLoopbackHTTP); err != nil {
			return fmt.Errorf("refusing a redirect to %s: %w", req.URL.Redacted(), err)
		}
		return nil
	}
	return client
}
