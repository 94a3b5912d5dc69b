// Package tablestore keeps operations, keys, subjects and audit events in
// Azure Table Storage (or Azurite), implementing the keyserver ports.
package tablestore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"keyserver/internal/keyserver"
)

// Store implements keyserver.OperationStore, KeyStore, SubjectStore,
// PolicyStore, AuditLog and HealthChecker on five tables named after a prefix.
type Store struct {
	// Now is the clock used for audit events and uses without a time.
	Now func() time.Time
	// Unchained writes audit events as plain rows, as before they were
	// chained: only for measuring what the chain costs (cmd/bench). The
	// handler never sets it.
	Unchained bool

	svc      *aztables.ServiceClient
	keys     *aztables.Client
	subjects *aztables.Client
	ops      *aztables.Client
	audit    *aztables.Client
	policies *aztables.Client
	names    []string
	wire     *wire
	ledger   ledger
	marked   markedChains // the chains this process listed, and when
	heads    chainHeads
	journal  journal     // the records this process wrote, until sealed
	indexed  atomic.Bool // the chains from before the index are listed
	// indexing is when they were first listed, once this process knows it.
	indexing atomic.Pointer[time.Time]
}

var (
	_ keyserver.OperationStore = (*Store)(nil)
	_ keyserver.KeyStore       = (*Store)(nil)
	_ keyserver.SubjectStore   = (*Store)(nil)
	_ keyserver.AuditLog       = (*Store)(nil)
	_ keyserver.HealthChecker  = (*Store)(nil)
	_ keyserver.SigningLoader  = (*Store)(nil)
	_ keyserver.SubjectLister  = (*Store)(nil)
	_ keyserver.PolicyStore    = (*Store)(nil)
)

var prefixPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]{0,40}$`)

// Option adjusts the store's HTTP traffic to Table Storage, e.g. for a test
// that counts or fails requests.
type Option func(*options)

type options struct {
	wrap []func(http.RoundTripper) http.RoundTripper
}

// WithRoundTripper puts wrap around the transport of every request the store
// makes: the aztables clients' and the sign path's own (wire.go).
func WithRoundTripper(wrap func(http.RoundTripper) http.RoundTripper) Option {
	return func(o *options) { o.wrap = append(o.wrap, wrap) }
}

// NewFromConnectionString builds a Store from an explicit connection string,
// as Azurite uses.
func NewFromConnectionString(connStr, prefix string, opts ...Option) (*Store, error) {
	co := clientOptions(opts...)
	svc, err := aztables.NewServiceClientFromConnectionString(connStr, co)
	if err != nil {
		return nil, fmt.Errorf("creating Table Storage client from connection string: %w", err)
	}
	w, err := wireFromConnectionString(connStr, co)
	if err != nil {
		return nil, fmt.Errorf("creating Table Storage client from connection string: %w", err)
	}
	return newStore(svc, w, prefix)
}

// NewWithCredential builds a Store for endpoint
// (https://<account>.table.core.windows.net) authorised by cred.
func NewWithCredential(endpoint string, cred azcore.TokenCredential, prefix string, opts ...Option) (*Store, error) {
	co := clientOptions(opts...)
	svc, err := aztables.NewServiceClient(endpoint, cred, co)
	if err != nil {
		return nil, fmt.Errorf("creating Table Storage client for %s: %w", endpoint, err)
	}
	return newStore(svc, newWire(endpoint, "", &bearer{cred: cred}, co), prefix)
}

func newStore(svc *aztables.ServiceClient, w *wire, prefix string) (*Store, error) {
	if !prefixPattern.MatchString(prefix) {
		return nil, fmt.Errorf("table prefix %q must be 1 to 41 letters or digits, starting with a letter", prefix)
	}
	s := &Store{Now: time.Now, svc: svc, wire: w}
	s.names = []string{prefix + "Keys", prefix + "Subjects", prefix + "Operations", prefix + "Audit", prefix + "Policies"}
	s.keys = svc.NewClient(s.names[0])
	s.subjects = svc.NewClient(s.names[1])
	s.ops = svc.NewClient(s.names[2])
	s.audit = svc.NewClient(s.names[3])
	s.policies = svc.NewClient(s.names[4])
	return s, nil
}

// Prefix is the prefix of the store's table names.
func (s *Store) Prefix() string { return strings.TrimSuffix(s.names[0], "Keys") }

// clientOptions keep retries few and tries short, so that an unreachable
// Table Storage shows as EUNAVAILABLE within seconds.
func clientOptions(opts ...Option) *aztables.ClientOptions {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.MaxIdleConnsPerHost = 64
	t.IdleConnTimeout = 4 * time.Second // below Azurite's 5 s keep-alive
	// A transaction's request goes out in one write: with the default
	// 4 KB buffer, one in four of the sign path's took two.
	t.WriteBufferSize = 32 << 10
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	var transport http.RoundTripper = t
	for _, wrap := range o.wrap {
		transport = wrap(transport)
	}
	return &aztables.ClientOptions{ClientOptions: azcore.ClientOptions{
		Retry: policy.RetryOptions{
			MaxRetries:    2,
			TryTimeout:    5 * time.Second,
			RetryDelay:    100 * time.Millisecond,
			MaxRetryDelay: 800 * time.Millisecond,
		},
		Transport: &http.Client{Transport: transport},
	}}
}

// EnsureTables creates the five tables, leaving existing ones alone.
func (s *Store) EnsureTables(ctx context.Context) error {
	for _, name := range s.names {
		_, err := s.svc.CreateTable(ctx, name, nil)
		if err != nil && !hasCode(err, aztables.TableAlreadyExists) {
			return classify(err, "creating table "+name)
		}
	}
	return nil
}

// Health reads at most one key, with the caller's deadline.
func (s *Store) Health(ctx context.Context) error {
	pager := s.keys.NewListEntitiesPager(&aztables.ListEntitiesOptions{Top: to.Ptr[int32](1), Select: to.Ptr("RowKey")})
	if _, err := pager.NextPage(ctx); err != nil {
		return classify(err, "checking Table Storage health")
	}
	return nil
}

func (s *Store) now() time.Time { return s.Now().UTC() }

// classify turns an SDK error into a keyserver error where the caller should
// see one: EUNAVAILABLE for an unreachable or failing service. Other errors
// are wrapped with what was being done.
func classify(err error, doing string) error {
	if err == nil {
		return nil
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		if re.StatusCode >= 500 || re.StatusCode == http.StatusTooManyRequests || re.StatusCode == http.StatusRequestTimeout {
			return keyserver.Wrap(keyserver.EUNAVAILABLE, fmt.Errorf("%s: %w", doing, err), "Table Storage cannot be reached.")
		}
		return fmt.Errorf("%s: %w", doing, err)
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("%s: %w", doing, err)
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) || isTransportError(err) {
		return keyserver.Wrap(keyserver.EUNAVAILABLE, fmt.Errorf("%s: %w", doing, err), "Table Storage cannot be reached.")
	}
	return fmt.Errorf("%s: %w", doing, err)
}

func isTransportError(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// statusOf returns the HTTP status and service error code of err, looking
// inside a failed entity-group transaction.
func statusOf(err error) (int, string) {
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return 0, ""
	}
	if re.StatusCode == http.StatusAccepted && re.RawResponse != nil {
		if status, code := batchFailure(payload(re.RawResponse)); status != 0 {
			return status, code
		}
	}
	return re.StatusCode, re.ErrorCode
}

func hasCode(err error, code aztables.TableErrorCode) bool {
	_, c := statusOf(err)
	return c == string(code)
}

// isNotFound reports a missing entity; a missing table is not that.
func isNotFound(err error) bool {
	status, code := statusOf(err)
	return status == http.StatusNotFound && code != string(aztables.TableNotFound)
}
