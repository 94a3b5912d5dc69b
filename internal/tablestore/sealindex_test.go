package tablestore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"keyserver/internal/auditlog"
	"keyserver/internal/keyserver"
	"keyserver/internal/tablestore"
)

// faults fails what it is told to, as if the process stopped there: the
// insert of a record into the audit table, the index partition's
// transactions, deletions. It counts the requests and GETs it passes on.
type faults struct {
	auditInserts, indexBatches, deletes atomic.Bool
	requests, gets, rows                atomic.Int64
	next                                http.RoundTripper
}

func (f *faults) RoundTrip(r *http.Request) (*http.Response, error) {
	switch {
	case f.auditInserts.Load() && r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "Audit"):
		return nil, errors.New("crash: the record was never written")
	case f.indexBatches.Load() && strings.HasSuffix(r.URL.Path, "/$batch") && batchOfIndex(r):
		return nil, errors.New("crash: the index transaction was never written")
	case f.deletes.Load() && r.Method == http.MethodDelete:
		return nil, errors.New("crash: the process stopped")
	}
	f.requests.Add(1)
	if r.Method != http.MethodGet {
		return f.next.RoundTrip(r)
	}
	f.gets.Add(1)
	resp, err := f.next.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	var page struct {
		Value []json.RawMessage `json:"value"`
	}
	if err == nil && json.Unmarshal(body, &page) == nil && page.Value != nil {
		f.rows.Add(int64(len(page.Value)))
	} else {
		f.rows.Add(1)
	}
	return resp, nil
}

// sealStore is a store on fresh tables with faults and a clock that tests
// move, and the table clients to look at and change its rows directly.
type sealStore struct {
	*tablestore.Store
	f          *faults
	prefix     string
	clock      time.Time
	ops, audit *aztables.Client
	sealer     *auditlog.Sealer
}

func newSealStore(t *testing.T, prefix string) *sealStore {
	t.Helper()
	mustStores(t, 1) // starts Azurite
	if prefix == "" {
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		prefix = "s" + hex.EncodeToString(b)
	}
	ss := &sealStore{f: &faults{}, prefix: prefix, clock: time.Now().UTC()}
	s, err := tablestore.NewFromConnectionString(azuriteSrv.ConnectionString(), prefix,
		tablestore.WithRoundTripper(func(next http.RoundTripper) http.RoundTripper { ss.f.next = next; return ss.f }))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.EnsureTables(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.Now = func() time.Time { return ss.clock }
	ss.Store = s
	svc, err := aztables.NewServiceClientFromConnectionString(azuriteSrv.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ss.ops, ss.audit = svc.NewClient(prefix+"Operations"), svc.NewClient(prefix+"Audit")
	ss.sealer = mustSealer(t, s)
	ss.sealer.Now = s.Now
	return ss
}

// process is the same tables seen by a new process, with the same key.
func (ss *sealStore) process(t *testing.T) *sealStore {
	t.Helper()
	n := newSealStore(t, ss.prefix)
	n.clock = ss.clock
	n.sealer.Signer, n.sealer.Certificate = ss.sealer.Signer, ss.sealer.Certificate
	return n
}

func (ss *sealStore) seal(t *testing.T) int {
	t.Helper()
	n, err := ss.sealer.Seal(context.Background())
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return n
}

// verify checks the whole log and returns how many records it holds and
// how many are sealed.
func (ss *sealStore) verify(t *testing.T) (records, sealed int) {
	t.Helper()
	rep := auditlog.Verify(exportAll(t, ss.Store, ss.sealer.Certificate))
	for _, p := range rep.Problems {
		if p.Kind != auditlog.KindInserted { // an unsealed record dated well before a checkpoint
			t.Fatalf("verify: %v", rep.Problems)
		}
	}
	return rep.Records, rep.Sealed
}

// indexed lists the chains the s~ rows of the index name.
func (ss *sealStore) indexed(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, e := range listEntities(t, ss.ops, "PartitionKey eq '~idx' and RowKey ge 's~' and RowKey lt 's\x7f'") {
		out[e.Properties["Chain"].(string)] = true
	}
	return out
}

// unlist deletes a chain's s~ row behind the store's back.
func (ss *sealStore) unlist(t *testing.T, chain string) {
	t.Helper()
	rk := "s~" + base64url(chain)
	// A row this store did not write again (it listed the chain moments
	// ago) is already gone: that is as unlisted as a deleted one.
	if _, err := ss.ops.DeleteEntity(context.Background(), "~idx", rk, nil); err != nil && !isNotFound(err) {
		t.Fatalf("deleting the index row of %s: %v", chain, err)
	}
}

func (ss *sealStore) cancel(t *testing.T, op *keyserver.Operation) {
	t.Helper()
	_, err := ss.UpdateOperation(context.Background(), op.ID, func(o *keyserver.Operation) (*keyserver.Update, error) {
		o.Cancelled = &keyserver.Closure{By: requester, Time: ss.clock}
		return &keyserver.Update{Audit: keyserver.AuditEvent{Time: ss.clock, Actor: requester, Action: keyserver.ActionCancel, OperationID: o.ID, Result: "ok"}}, nil
	})
	if err != nil {
		t.Fatalf("cancelling: %v", err)
	}
}

func refusal(opID string) keyserver.AuditEvent {
	return keyserver.AuditEvent{Actor: requester, Action: keyserver.ActionSign, OperationID: opID, KeyID: "k1", Result: "refused: closed"}
}

func base64url(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func isNotFound(err error) bool {
	var re *azcore.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusNotFound
}
