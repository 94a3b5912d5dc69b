package azuritetests

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"keyserver/internal/api"
	"keyserver/internal/keyserver"
)

// historySize is how many finished operations TestUpkeepDoesNotGrowWithHistory adds.
const historySize = 5000

// tokenIsSubject verifies a token by taking it for the subject of issuer
// https://issuer.test: this test is about rows, not tokens.
type tokenIsSubject struct{}

func (tokenIsSubject) Verify(ctx context.Context, token string) (keyserver.Identity, error) {
	return keyserver.Identity{Principal: keyserver.Principal{Issuer: "https://issuer.test", Subject: token}}, nil
}

// readCost is what one upkeep run and one pending list read from Table Storage.
type readCost struct {
	upkeepRequests, upkeepRows, listRequests, listRows int64
}

// measure runs one upkeep and one GET /api/operations?status=pending (as
// approver-a) and counts what they read; the list must show wantPending.
func (w *eventWorld) measure(t *testing.T, h http.Handler, wantPending int) readCost {
	t.Helper()
	var c readCost
	c.upkeepRequests, c.upkeepRows = w.counter.reading(func() {
		if r := w.upkeep(t); r != (keyserver.UpkeepReport{}) {
			t.Fatalf("upkeep did %v; this test wants no work due", r)
		}
	})
	c.listRequests, c.listRows = w.counter.reading(func() {
		req := httptest.NewRequest(http.MethodGet, "/api/operations?status=pending", nil)
		req.Header.Set("Authorization", "Bearer approver-a")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var ops []struct{ ID string }
		if err := json.Unmarshal(rec.Body.Bytes(), &ops); rec.Code != http.StatusOK || err != nil || len(ops) != wantPending {
			t.Fatalf("GET pending = %d %s, want %d operations", rec.Code, rec.Body, wantPending)
		}
	})
	return c
}

// TestUpkeepDoesNotGrowWithHistory counts the rows one upkeep run and one
// pending list read with three pending operations, then again after 5,000
// finished operations were added: the counts do not change.
func TestUpkeepDoesNotGrowWithHistory(t *testing.T) {
	w := newEventWorld(t)
	h := (&api.Server{Service: w.svc, Verifier: tokenIsSubject{}, Log: slog.New(slog.DiscardHandler)}).Handler()
	for range 3 {
		w.open(t, "one", time.Hour)
	}
	before := w.measure(t, h, 3)

	start := time.Now()
	w.svc.CacheTTL = time.Hour // only to make the history quicker to write
	orderer := w.caller(t, evOrderer)
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= historySize {
				op, err := w.svc.CreateOperation(context.Background(), orderer, &keyserver.OperationRequest{ValidMS: 3600000,
					Description: "an operation of the past", Keys: []keyserver.KeyRequest{{KeyID: "one", MaxUsageCount: 1}}})
				if err == nil {
					_, err = w.svc.Cancel(context.Background(), orderer, op.ID)
				}
				if err != nil {
					t.Errorf("writing history: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	w.svc.CacheTTL = 0
	t.Logf("wrote %d finished operations in %v", historySize, time.Since(start).Round(time.Second))
	if done, err := w.store.FinishedBefore(context.Background(), w.clock.Now().Add(time.Hour), 1000); err != nil || len(done) != 1000 {
		t.Fatalf("FinishedBefore = %d operations, %v; the history is not there", len(done), err)
	}

	after := w.measure(t, h, 3)
	t.Logf("with 3 pending operations: one upkeep read %d rows in %d requests, one pending list %d rows in %d requests",
		before.upkeepRows, before.upkeepRequests, before.listRows, before.listRequests)
	t.Logf("with %d finished operations more: one upkeep read %d rows in %d requests, one pending list %d rows in %d requests",
		historySize, after.upkeepRows, after.upkeepRequests, after.listRows, after.listRequests)
	if after != before {
		t.Fatalf("reads grew with history: %+v before, %+v after", before, after)
	}
}
