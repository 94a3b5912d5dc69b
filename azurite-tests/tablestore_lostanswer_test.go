package azuritetests

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"keyserver/internal/keyserver"
	"keyserver/internal/tablestore"
)

// losingAnswers is a transport that lets every nth entity-group
// transaction reach the table service and then loses its answer, as a
// connection dropped (or a try timed out) after the service committed it.
type losingAnswers struct {
	next  http.RoundTripper
	every int64
	n     atomic.Int64
	lost  atomic.Int64
}

func (l *losingAnswers) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(req)
	if err != nil || req.Method != http.MethodPost || !strings.HasSuffix(req.URL.Path, "/$batch") || l.n.Add(1)%l.every != 0 {
		return resp, err
	}
	_, _ = io.Copy(io.Discard, resp.Body) // the service has answered: it committed or refused
	resp.Body.Close()
	l.lost.Add(1)
	return nil, errors.New("connection reset by peer (injected after the service answered)")
}

// TestTablestoreSignersSurviveLostAnswers is the intermittent 409 of issue
// 8: 48 signers of one operation, over four stores as four handler processes
// would run, each reserving a use, "signing" and completing it, while
// refusals are recorded in the same chain, and one transaction in seven
// loses its answer after committing. A transaction tried again after its
// answer was lost must not fail on its own committed writes ("no longer
// reserved", a use given twice, or a reservation leaked): every signer
// completes its use, and the count ends exactly at the maximum.
func TestTablestoreSignersSurviveLostAnswers(t *testing.T) {
	const uses, signers = 240, 48
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	prefix := "t" + hex.EncodeToString(b)
	var faults []*losingAnswers
	var stores []*tablestore.Store
	for range 4 {
		f := &losingAnswers{every: 7}
		s, err := tablestore.NewFromConnectionString(azuriteConn, prefix, tablestore.WithRoundTripper(func(rt http.RoundTripper) http.RoundTripper {
			f.next = rt
			return f
		}))
		if err != nil {
			t.Fatalf("NewFromConnectionString: %v", err)
		}
		if err := s.EnsureTables(context.Background()); err != nil {
			t.Fatalf("EnsureTables: %v", err)
		}
		faults, stores = append(faults, f), append(stores, s)
	}
	op := mustCreateOp(t, stores[0], map[string]int{"k1": uses})
	ctx := context.Background()
	var completed, exhausted atomic.Int64
	var mu sync.Mutex
	var failures []string
	seqs := map[int]bool{}
	var wg sync.WaitGroup
	for i := range signers {
		s := stores[i%len(stores)]
		wg.Go(func() {
			for {
				r, err := s.ReserveUse(ctx, op.ID, "k1", uses)
				if keyserver.ErrorCode(err) == keyserver.EEXHAUSTED {
					exhausted.Add(1)
					return
				}
				mu.Lock()
				if err == nil && seqs[r.Seq] {
					err = fmt.Errorf("reservation %d given twice", r.Seq)
				} else if err == nil {
					seqs[r.Seq] = true
				}
				mu.Unlock()
				if err == nil {
					time.Sleep(2 * time.Millisecond) // the HSM signs
					ev := keyserver.AuditEvent{Actor: tsRequester, Action: keyserver.ActionSign, OperationID: op.ID, KeyID: "k1", Result: "ok", Digest: fmt.Sprintf("%064x", r.Seq)}
					err = s.CompleteUse(ctx, r, ev)
				}
				if err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
					return
				}
				completed.Add(1)
			}
		})
	}
	stop := make(chan struct{})
	var refusals sync.WaitGroup
	refusals.Go(func() { // refusals of another caller land in the same chain meanwhile
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			ev := keyserver.AuditEvent{Actor: tsApprover, Action: keyserver.ActionSign, OperationID: op.ID, KeyID: "k1", Result: "refused: forbidden"}
			if err := stores[1].RecordEvent(ctx, op.ID, ev); err != nil {
				mu.Lock()
				failures = append(failures, "recording a refusal: "+err.Error())
				mu.Unlock()
			}
		}
	})
	wg.Wait()
	close(stop)
	refusals.Wait()
	var lost int64
	for _, f := range faults {
		lost += f.lost.Load()
	}
	t.Logf("%d answers lost, %d uses completed", lost, completed.Load())
	if len(failures) > 0 {
		t.Fatalf("%d signers failed; the first: %s", len(failures), failures[0])
	}
	if completed.Load() != uses {
		t.Fatalf("%d uses completed, want %d", completed.Load(), uses)
	}
	got, err := stores[0].Operation(ctx, op.ID)
	if err != nil {
		t.Fatalf("Operation: %v", err)
	}
	if g := got.Keys[0]; g.UsageCount != uses || g.SpentCount != uses {
		t.Fatalf("UsageCount %d, SpentCount %d; want %d each", g.UsageCount, g.SpentCount, uses)
	}
}
