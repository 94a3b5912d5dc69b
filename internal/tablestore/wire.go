package tablestore

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// wire makes the requests of the sign path itself, reading one entity and
// entity-group transactions (wirebatch.go), over a plain HTTP client with
// the retries, transport and authorisation of the aztables clients, which
// the store uses for the rest. The aztables client makes them too, but for
// each entity of a transaction it decodes the JSON again and copies it
// through a 32 KiB buffer, it does not return the ETags the service
// answers, and its pipeline costs each call more than the rest of the
// call's work; on the sign path that is most of the handler's CPU.
type wire struct {
	client  *http.Client
	retry   policy.RetryOptions
	service string // the table service URL, without a trailing slash
	sas     string // a shared access signature query, or ""
	auth    authorizer
}

// authorizer signs a request: with the account key, a bearer token, or
// nothing (a shared access signature in the URL).
type authorizer interface {
	authorize(ctx context.Context, req *http.Request) error
}

const (
	tablesVersion = "2019-02-02" // as aztables sends
	jsonMinimal   = "application/json;odata=minimalmetadata"
)

// The header values every request sends, shared by all requests: nothing
// changes a request's header values in place (Header.Set replaces the
// slice, Add copies a full one, the client copies headers for a redirect).
var (
	acceptHeader      = []string{jsonMinimal}
	versionHeader     = []string{tablesVersion}
	dataServiceHeader = []string{"3.0"}
)

// newWire makes a wire with the transport and retries of the aztables
// clients' options co.
func newWire(service, sas string, auth authorizer, co *aztables.ClientOptions) *wire {
	return &wire{client: co.Transport.(*http.Client), retry: co.Retry, service: strings.TrimRight(service, "/"), sas: sas, auth: auth}
}

// wireFromConnectionString reads a connection string as aztables does.
func wireFromConnectionString(connStr string, co *aztables.ClientOptions) (*wire, error) {
	kv := map[string]string{}
	for _, part := range strings.Split(strings.TrimRight(connStr, ";"), ";") {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("the connection string has a part without '='")
		}
		kv[k] = v
	}
	account := kv["AccountName"]
	if account == "" {
		return nil, fmt.Errorf("the connection string names no AccountName")
	}
	protocol, suffix := or(kv["DefaultEndpointsProtocol"], "https"), or(kv["EndpointSuffix"], "core.windows.net")
	if kv["AccountKey"] == "" {
		if kv["SharedAccessSignature"] == "" {
			return nil, fmt.Errorf("the connection string has neither AccountKey nor SharedAccessSignature")
		}
		return newWire(fmt.Sprintf("https://%s.table.%s", account, suffix), kv["SharedAccessSignature"], noAuth{}, co), nil
	}
	key, err := base64.StdEncoding.DecodeString(kv["AccountKey"])
	if err != nil {
		return nil, fmt.Errorf("the connection string's AccountKey is not base64: %w", err)
	}
	service := or(kv["TableEndpoint"], fmt.Sprintf("%s://%s.table.%s", protocol, account, suffix))
	return newWire(service, "", newSharedKeyLite(account, key), co), nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// sharedKeyLite signs with the account key, as aztables does. Its HMACs
// are kept for reuse (reset before each use), and the date header is made
// once a second.
type sharedKeyLite struct {
	account string
	key     []byte
	macs    sync.Pool // *keyMAC
	date    atomic.Pointer[httpDate]
}

// keyMAC is an HMAC under the account key with room for what it signs and
// for its sum.
type keyMAC struct {
	mac      hash.Hash
	buf, sum []byte
}

// httpDate is one second's x-ms-date header.
type httpDate struct {
	unix  int64
	value []string
}

func newSharedKeyLite(account string, key []byte) *sharedKeyLite {
	return &sharedKeyLite{account: account, key: key}
}

func (p *sharedKeyLite) authorize(_ context.Context, req *http.Request) error {
	date := p.now()
	m, _ := p.macs.Get().(*keyMAC)
	if m == nil {
		m = &keyMAC{mac: hmac.New(sha256.New, p.key), buf: make([]byte, 0, 256), sum: make([]byte, 0, sha256.Size)}
	}
	m.mac.Reset()
	b := append(append(append(append(m.buf[:0], date.value[0]...), "\n/"...), p.account...), req.URL.EscapedPath()...)
	m.mac.Write(b)
	b = append(append(append(b[:0], "SharedKeyLite "...), p.account...), ':')
	m.sum = m.mac.Sum(m.sum[:0])
	b = base64.StdEncoding.AppendEncode(b, m.sum)
	auth := string(b)
	m.buf = b[:0]
	p.macs.Put(m)
	req.Header["X-Ms-Date"] = date.value // never changed: Header.Set replaces a value
	req.Header["Authorization"] = []string{auth}
	return nil
}

// now returns the x-ms-date header for the current second.
func (p *sharedKeyLite) now() *httpDate {
	t := time.Now()
	if d := p.date.Load(); d != nil && d.unix == t.Unix() {
		return d
	}
	d := &httpDate{unix: t.Unix(), value: []string{t.UTC().Format(http.TimeFormat)}}
	p.date.Store(d)
	return d
}

type noAuth struct{}

func (noAuth) authorize(context.Context, *http.Request) error { return nil }

// bearer authorises with a token for Azure Storage, refreshed two minutes
// before it expires.
type bearer struct {
	cred azcore.TokenCredential
	mu   sync.Mutex
	tok  azcore.AccessToken
}

func (b *bearer) authorize(ctx context.Context, req *http.Request) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if time.Until(b.tok.ExpiresOn) < 2*time.Minute {
		tok, err := b.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"https://storage.azure.com/.default"}})
		if err != nil {
			return fmt.Errorf("getting a token for Table Storage: %w", err)
		}
		b.tok = tok
	}
	req.Header.Set("Authorization", "Bearer "+b.tok.Token)
	return nil
}

// do sends one request, trying again after a transport error, a timeout or a
// 408, 429 or 5xx answer, as the aztables retry policy does. A failure is
// an *azcore.ResponseError with the answer, as aztables returns.
func (w *wire) do(ctx context.Context, method, u string, body []byte, contentType string, want int) (answer, error) {
	for try := 0; ; try++ {
		a, status, err := w.try(ctx, method, u, body, contentType)
		if err == nil && status == want {
			return a, nil
		}
		if try < int(w.retry.MaxRetries) && retriable(status, err) && ctx.Err() == nil {
			if serr := sleep(ctx, min(w.retry.RetryDelay<<try, w.retry.MaxRetryDelay)); serr == nil {
				continue
			}
		}
		if err != nil {
			return answer{}, err
		}
		return answer{}, runtime.NewResponseError(a.resp)
	}
}

type answer struct {
	resp    *http.Response
	payload []byte
}

func (w *wire) try(ctx context.Context, method, u string, body []byte, contentType string) (answer, int, error) {
	ctx, cancel := context.WithTimeout(ctx, w.retry.TryTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, w.withSAS(u), rd)
	if err != nil {
		return answer{}, 0, err
	}
	h := req.Header
	h["Accept"], h["X-Ms-Version"], h["Dataserviceversion"] = acceptHeader, versionHeader, dataServiceHeader
	if contentType != "" {
		h["Content-Type"] = []string{contentType}
	}
	if err := w.auth.authorize(ctx, req); err != nil {
		return answer{}, 0, err
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return answer{}, 0, err
	}
	defer resp.Body.Close()
	payload, err := readBody(resp)
	if err != nil {
		return answer{}, 0, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(payload)) // read again by ResponseError
	return answer{resp, payload}, resp.StatusCode, nil
}

func retriable(status int, err error) bool {
	if err != nil {
		return true
	}
	switch status {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// entityURL is the URL of one entity of table.
func (w *wire) entityURL(table, pk, rk string) string {
	return w.service + "/" + table + "(PartitionKey='" + url.PathEscape(strings.ReplaceAll(pk, "'", "''")) +
		"',RowKey='" + url.PathEscape(strings.ReplaceAll(rk, "'", "''")) + "')"
}

func (w *wire) withSAS(u string) string {
	if w.sas == "" {
		return u
	}
	return u + "?" + w.sas
}

// get reads one entity and returns its JSON (with its odata.etag).
func (w *wire) get(ctx context.Context, table, pk, rk string) ([]byte, error) {
	a, err := w.do(ctx, http.MethodGet, w.entityURL(table, pk, rk), nil, "", http.StatusOK)
	return a.payload, err
}

// readBody reads an answer's body at once into a slice of its length when
// the answer says it; else (a chunked answer, as transactions are answered)
// through a buffer kept for reuse, into a slice of the length read.
func readBody(resp *http.Response) ([]byte, error) {
	if n := resp.ContentLength; n > 0 && n <= 4<<20 {
		b := make([]byte, n)
		if _, err := io.ReadFull(resp.Body, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	buf := bodyBuffers.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= 64<<10 {
			bodyBuffers.Put(buf)
		}
	}()
	buf.Reset()
	_, err := buf.ReadFrom(resp.Body)
	b := make([]byte, buf.Len())
	copy(b, buf.Bytes())
	return b, err
}

// bodyBuffers keeps the buffers readBody reads chunked answers through.
var bodyBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}
