package azuritetests

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"keyserver/internal/keyserver"
)

// TestEventFaultBetweenCommitAndPublish: Service Bus is down when an
// operation is created, so its event is committed but not published; upkeep
// publishes it, exactly once however often it runs.
func TestEventFaultBetweenCommitAndPublish(t *testing.T) {
	w := newEventWorld(t)
	w.pub.setDown(true)
	op := w.open(t, "one", time.Hour)
	if n := len(w.pub.of(op.ID, "")); n != 0 {
		t.Fatalf("%d events published while Service Bus was down", n)
	}
	w.pub.setDown(false)
	if r := w.upkeep(t); r.Republished != 0 {
		t.Fatalf("upkeep republished %v within the grace period of the request that publishes", r)
	}
	w.clock.Advance(keyserver.UnsentGrace + time.Second)
	if r := w.upkeep(t); r.Republished != 1 {
		t.Fatalf("upkeep = %v, want one event republished", r)
	}
	for range 3 {
		w.upkeep(t)
	}
	got := w.pub.of(op.ID, "")
	if len(got) != 1 || got[0].Type != keyserver.EventCreated || got[0].Link != "https://ks.example/operations/"+op.ID {
		t.Fatalf("published %+v, want the one operation.created", got)
	}
}

// TestEventETagConflictEmitsNothing: an update whose transaction loses to
// another writer's emits nothing; the retry's event is the one published.
func TestEventETagConflictEmitsNothing(t *testing.T) {
	w := newEventWorld(t)
	ctx := context.Background()
	op := w.open(t, "two", time.Hour)
	var lost, won *keyserver.Event
	attempt := 0
	_, err := w.store.UpdateOperation(ctx, op.ID, func(o *keyserver.Operation) (*keyserver.Update, error) {
		attempt++
		ev := &keyserver.Event{ID: keyserver.NewID(), Type: keyserver.EventApproval, Time: w.clock.Now(), Operation: keyserver.Summarize(o, w.clock.Now())}
		if attempt == 1 {
			lost = ev
			// Another writer changes the operation before this attempt commits.
			if _, err := w.svc.Approve(ctx, w.caller(t, keyserver.Principal{Issuer: "https://issuer.test", Subject: "approver-b"}), op.ID, "first"); err != nil {
				t.Fatalf("the other writer: %v", err)
			}
		} else {
			won = ev
		}
		return &keyserver.Update{Audit: keyserver.AuditEvent{Time: w.clock.Now(), Action: keyserver.ActionAdmin, OperationID: o.ID, Result: "ok"},
			Events: []*keyserver.Event{ev}}, nil
	})
	if err != nil || attempt != 2 {
		t.Fatalf("UpdateOperation = %v after %d attempts; want success on the second", err, attempt)
	}
	w.clock.Advance(keyserver.UnsentGrace + time.Second)
	w.upkeep(t)
	published := ids(w.pub.of(op.ID, ""))
	if slices.Contains(published, lost.ID) {
		t.Fatalf("the lost attempt's event %s was published", lost.ID)
	}
	if !slices.Contains(published, won.ID) || len(published) != 3 {
		t.Fatalf("published %v; want created, the other writer's approval and %s", published, won.ID)
	}
	unsent, err := w.store.UnsentEvents(ctx, w.clock.Now().Add(time.Hour), 100)
	if err != nil || len(unsent) != 0 {
		t.Fatalf("UnsentEvents = %v, %v; want none", unsent, err)
	}
}

// TestEventConcurrentApprovalsEmitOneEachTime: eight approvers race on a key
// needing eight approvals; losers retry. Each approval emits one event, the
// last one operation.approved, and nothing else is published.
func TestEventConcurrentApprovalsEmitOneEachTime(t *testing.T) {
	w := newEventWorld(t)
	op := w.open(t, "many", time.Hour)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := keyserver.Principal{Issuer: "https://issuer.test", Subject: "approver-" + string(rune('a'+i))}
			_, errs[i] = w.svc.Approve(context.Background(), w.caller(t, p), op.ID, "")
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("Approve: %v", err)
		}
	}
	w.clock.Advance(keyserver.UnsentGrace + time.Second)
	w.upkeep(t)
	evs := w.pub.of(op.ID, "")
	got := types(evs)
	want := append([]string{keyserver.EventCreated}, slices.Repeat([]string{keyserver.EventApproval}, 7)...)
	want = append(want, keyserver.EventApproved)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("published %v, want %v", got, want)
	}
	counts := map[int]bool{}
	for _, ev := range evs[1:] {
		counts[ev.Operation.Keys[0].Approvals] = true
	}
	if len(counts) != 8 {
		t.Fatalf("the approval events name approval counts %v, want 1 to 8 once each", counts)
	}
}

// TestEventExpiredOnce: upkeep runs racing each other find an expired
// operation; exactly one operation.expired is written and published.
func TestEventExpiredOnce(t *testing.T) {
	w := newEventWorld(t)
	op := w.open(t, "one", time.Minute)
	w.clock.Advance(time.Minute + time.Second)
	var wg sync.WaitGroup
	var mu sync.Mutex
	expired := 0
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := w.svc.Upkeep(context.Background())
			if err != nil {
				t.Errorf("Upkeep: %v", err)
			}
			mu.Lock()
			expired += r.Expired
			mu.Unlock()
		}()
	}
	wg.Wait()
	for range 2 {
		if r := w.upkeep(t); r.Expired != 0 {
			t.Fatalf("a later upkeep expired %d again", r.Expired)
		}
	}
	evs := w.pub.of(op.ID, keyserver.EventExpired)
	if expired != 1 || len(evs) != 1 || evs[0].Operation.Status != keyserver.StatusExpired {
		t.Fatalf("upkeeps expired %d, published %+v; want exactly one operation.expired", expired, evs)
	}
	// Upkeep first saw it past its expiry: no reminder comes after that.
	if got := types(w.pub.of(op.ID, "")); !slices.Equal(got, []string{keyserver.EventCreated, keyserver.EventExpired}) {
		t.Fatalf("published %v", got)
	}
}

// TestEventRetentionKeepsAudit: upkeep deletes an operation after the
// retention and keeps its audit events.
func TestEventRetentionKeepsAudit(t *testing.T) {
	w := newEventWorld(t)
	ctx := context.Background()
	op := w.open(t, "one", time.Hour)
	if _, err := w.svc.Cancel(ctx, w.caller(t, evOrderer), op.ID); err != nil {
		t.Fatal(err)
	}
	audit, err := w.store.OperationEvents(ctx, op.ID)
	if err != nil || len(audit) != 2 {
		t.Fatalf("audit events = %v, %v", audit, err)
	}
	w.clock.Advance(w.svc.Retention + time.Minute)
	if r := w.upkeep(t); r.Deleted != 1 {
		t.Fatalf("upkeep = %v, want one deleted", r)
	}
	if _, err := w.store.Operation(ctx, op.ID); keyserver.ErrorCode(err) != keyserver.ENOTFOUND {
		t.Fatalf("Operation after retention = %v, want not found", err)
	}
	after, err := w.store.OperationEvents(ctx, op.ID)
	if err != nil || len(after) != 2 || !strings.HasPrefix(after[1].Action, "operation.cancel") {
		t.Fatalf("audit events after deletion = %+v, %v; want both kept", after, err)
	}
	if r := w.upkeep(t); r.Deleted != 0 {
		t.Fatalf("a second upkeep deleted %d", r.Deleted)
	}
}
