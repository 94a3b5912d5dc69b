package tablestore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"keyserver/internal/keyserver"
	"keyserver/internal/tablestore"
)

// crash fails what it is told to: the transactions of operation partitions
// (a change that does not commit) and deletions (the process died before it
// removed its intents), as if the process stopped between the two.
type crash struct {
	transactions, deletes atomic.Bool
	next                  http.RoundTripper
}

func (c *crash) RoundTrip(r *http.Request) (*http.Response, error) {
	switch {
	case c.transactions.Load() && strings.HasSuffix(r.URL.Path, "/$batch") && !batchOfIndex(r):
		return nil, errors.New("crash: the transaction never reached Table Storage")
	case c.deletes.Load() && r.Method == http.MethodDelete:
		return nil, errors.New("crash: the process stopped")
	}
	return c.next.RoundTrip(r)
}

// batchOfIndex reports whether a batch writes the index partition; it reads
// the body and puts it back.
func batchOfIndex(r *http.Request) bool {
	if r.Body == nil {
		return false
	}
	body, err := io.ReadAll(r.Body)
	r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	return err == nil && bytes.Contains(body, []byte("~idx"))
}

// TestOrphanIndexRows: a change whose transaction never committed, by a
// process that stopped before removing its intents, leaves index rows that
// point at nothing. Readers skip them; once older than the grace period,
// upkeep's reads remove them.
func TestOrphanIndexRows(t *testing.T) {
	mustStores(t, 1) // starts Azurite
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	c := &crash{}
	prefix := "o" + hex.EncodeToString(b)
	s, err := tablestore.NewFromConnectionString(azuriteSrv.ConnectionString(), prefix,
		tablestore.WithRoundTripper(func(next http.RoundTripper) http.RoundTripper { c.next = next; return c }))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.EnsureTables(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	clock := now
	s.Now = func() time.Time { return clock }
	op := &keyserver.Operation{ID: keyserver.NewID(), Requester: requester, Description: "never committed",
		Created: now, Expires: now.Add(time.Minute), Keys: []*keyserver.KeyGrant{{KeyID: "k1", MaxUsageCount: 1, RequiredApprovals: 1}}}
	ev := &keyserver.Event{ID: keyserver.NewID(), Type: keyserver.EventCreated, Time: now, Operation: keyserver.Summarize(op, now)}
	c.transactions.Store(true)
	c.deletes.Store(true)
	if err := s.CreateOperation(ctx, op, keyserver.AuditEvent{Time: now, Action: keyserver.ActionCreate}, []*keyserver.Event{ev}); err == nil {
		t.Fatal("CreateOperation succeeded through the crash")
	}
	c.transactions.Store(false)
	c.deletes.Store(false)

	check := func(what string, wantDue, wantRows int) {
		t.Helper()
		for _, f := range []keyserver.OperationFilter{{}, {CreatedSince: now.Add(-time.Hour)}} {
			ops, err := s.ListOperations(ctx, f)
			if err != nil || len(ops) != 0 {
				t.Fatalf("%s: ListOperations(%+v) = %d, %v; want none", what, f, len(ops), err)
			}
		}
		unsent, err := s.UnsentEvents(ctx, now.Add(time.Hour), 100)
		if err != nil || len(unsent) != 0 {
			t.Fatalf("%s: UnsentEvents = %v, %v; want none", what, unsent, err)
		}
		due, err := s.DueOperations(ctx, now.Add(time.Hour), 100)
		if err != nil || len(due) != wantDue {
			t.Fatalf("%s: DueOperations = %v, %v; want %d", what, due, err, wantDue)
		}
		if n := indexRows(t, prefix); n != wantRows {
			t.Fatalf("%s: the index holds %d rows, want %d", what, n, wantRows)
		}
	}
	check("right after the crash", 1, 3)
	// Within the grace period its transaction might still be in flight: the
	// rows stay.
	if err := s.Settle(ctx, op.ID, now); err != nil {
		t.Fatal(err)
	}
	check("within the grace period", 1, 3)
	clock = now.Add(11 * time.Minute)
	if err := s.Settle(ctx, op.ID, clock); err != nil {
		t.Fatal(err)
	}
	check("after the grace period", 0, 0)
	if _, err := s.Operation(ctx, op.ID); keyserver.ErrorCode(err) != keyserver.ENOTFOUND {
		t.Fatalf("Operation = %v, want not found", err)
	}
}

// indexRows counts the rows of the index partition, read apart from the store.
func indexRows(t *testing.T, prefix string) int {
	t.Helper()
	svc, err := aztables.NewServiceClientFromConnectionString(azuriteSrv.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return len(listEntities(t, svc.NewClient(prefix+"Operations"), "PartitionKey eq '~idx'"))
}
