package keyserver_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"keyserver/internal/keyserver"
	"keyserver/internal/keyserver/memstore"
)

// typesOf returns the types of the events published for operation id, in order.
func typesOf(f *fixture, id string) []string {
	var out []string
	for _, ev := range f.notes.published() {
		if ev.Operation.ID == id {
			out = append(out, ev.Type)
		}
	}
	return out
}

func mustSign(tb testing.TB, f *fixture, who, id, keyID string) {
	tb.Helper()
	if _, err := f.svc.Sign(context.Background(), f.mustCaller(tb, who), on(id, keyID, nil)(nil)); err != nil {
		tb.Fatalf("Sign(%s, %s): %v", id, keyID, err)
	}
}

// TestExhaustedOnceWhenEveryUseIsSpent: usage.exhausted comes with the
// signature that spends the last use of the last key, once, from the signer.
func TestExhaustedOnceWhenEveryUseIsSpent(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	op := f.mustCreate(t, "orderer", kr("key1", 2), kr("ec256", 1)) // no approvals needed
	mustSign(t, f, "orderer", op.ID, "key1")
	mustSign(t, f, "orderer", op.ID, "ec256") // ec256 is used up, key1 is not
	if got := typesOf(f, op.ID); !slices.Equal(got, []string{keyserver.EventCreated}) {
		t.Fatalf("events before the last use = %v", got)
	}
	mustSign(t, f, "orderer", op.ID, "key1")
	if got := typesOf(f, op.ID); !slices.Equal(got, []string{keyserver.EventCreated, keyserver.EventExhausted}) {
		t.Fatalf("events after the last use = %v", got)
	}
	ev := lastPublished(t, f)
	wantKeys := []keyserver.KeySummary{{KeyID: "key1", MaxUsageCount: 2, Uses: 2}, {KeyID: "ec256", MaxUsageCount: 1, Uses: 1}}
	if ev.Actor != principal("orderer") || ev.Operation.Status != keyserver.StatusExhausted || !slices.Equal(ev.Operation.Keys, wantKeys) ||
		ev.Link != "https://ks.example/operations/"+op.ID {
		t.Fatalf("exhausted event = %+v", ev)
	}
	if a := f.lastEvent(t, op.ID); a.Action != keyserver.ActionExhaust || a.Actor != principal("orderer") || a.Result != "ok" {
		t.Fatalf("last audit event = %+v", a)
	}
	if !f.mustOperation(t, op.ID).ExhaustedNoted {
		t.Fatal("the operation does not remember that its exhaustion was noted")
	}

	// A refused signature and the expiry add nothing more of it.
	_, err := f.svc.Sign(ctx, f.mustCaller(t, "orderer"), on(op.ID, "key1", nil)(nil))
	wantCode(t, err, keyserver.EEXHAUSTED)
	f.clock.Advance(time.Minute)
	if r, err := f.svc.Upkeep(ctx); err != nil || r.Expired != 1 {
		t.Fatalf("Upkeep = %v, %v", r, err)
	}
	if got := typesOf(f, op.ID); !slices.Equal(got, []string{keyserver.EventCreated, keyserver.EventExhausted, keyserver.EventExpired}) {
		t.Fatalf("events = %v", got)
	}
	if u := f.store.Unsent(op.ID); len(u) != 0 {
		t.Fatalf("unsent events: %v", u)
	}
}

// TestExhaustedOnceUnderConcurrentSignatures: eight signers spend the eight
// uses at once; whichever finishes last writes the one event.
func TestExhaustedOnceUnderConcurrentSignatures(t *testing.T) {
	f := newFixture(t)
	op := f.mustCreate(t, "orderer", kr("key1", 8))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { mustSign(t, f, "orderer", op.ID, "key1") })
	}
	wg.Wait()
	if got := typesOf(f, op.ID); !slices.Equal(got, []string{keyserver.EventCreated, keyserver.EventExhausted}) {
		t.Fatalf("events = %v", got)
	}
}

// plainStore is the in-memory store without ExhaustingCompleter: the field
// hides the method.
type plainStore struct {
	*memstore.Store
	CompleteUseNoting struct{}
}

// TestExhaustedBackstops: a store that cannot tell the last use gets a look
// after each signature; an operation whose last use was spent without the
// event (through the store alone, as when the subjects could not be listed)
// gets it from upkeep when it expires.
func TestExhaustedBackstops(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	looked := f.mustCreate(t, "orderer", kr("key1", 1))
	expiring := f.mustCreate(t, "orderer", kr("key1", 1))
	ops := f.svc.Ops
	f.svc.Ops = plainStore{Store: f.store}
	if _, ok := f.svc.Ops.(keyserver.ExhaustingCompleter); ok {
		t.Fatal("plainStore still completes uses noting exhaustion")
	}
	mustSign(t, f, "orderer", looked.ID, "key1")
	f.svc.Ops = ops
	if got := typesOf(f, looked.ID); !slices.Equal(got, []string{keyserver.EventCreated, keyserver.EventExhausted}) {
		t.Fatalf("events after the last signature through a plain store = %v", got)
	}
	if ev := lastPublished(t, f); ev.Actor != principal("orderer") {
		t.Fatalf("the look names %v as the one who spent the last use", ev.Actor)
	}

	r, err := f.store.ReserveUse(ctx, expiring.ID, "key1", 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.store.CompleteUse(ctx, r, keyserver.AuditEvent{Action: keyserver.ActionSign, OperationID: expiring.ID, Result: "ok"}); err != nil {
		t.Fatal(err)
	}
	if got := typesOf(f, expiring.ID); !slices.Equal(got, []string{keyserver.EventCreated}) {
		t.Fatalf("events after a use spent without noting = %v", got)
	}
	f.clock.Advance(time.Minute)
	if r, err := f.svc.Upkeep(ctx); err != nil || r.Expired != 2 {
		t.Fatalf("Upkeep = %v, %v", r, err)
	}
	if got := typesOf(f, expiring.ID); !slices.Equal(got, []string{keyserver.EventCreated, keyserver.EventExhausted, keyserver.EventExpired}) {
		t.Fatalf("events of the operation upkeep found exhausted = %v", got)
	}
	if got := typesOf(f, looked.ID); !slices.Equal(got, []string{keyserver.EventCreated, keyserver.EventExhausted, keyserver.EventExpired}) {
		t.Fatalf("events of the operation noted after its signature = %v", got)
	}
}

// TestExhaustedNotWhileAUseIsReserved: a use still reserved may be given
// back, so an operation is not exhausted until it is spent.
func TestExhaustedNotWhileAUseIsReserved(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	op := f.mustCreate(t, "orderer", kr("key1", 2))
	r, err := f.store.ReserveUse(ctx, op.ID, "key1", 2)
	if err != nil {
		t.Fatal(err)
	}
	mustSign(t, f, "orderer", op.ID, "key1")
	if got := typesOf(f, op.ID); !slices.Equal(got, []string{keyserver.EventCreated}) {
		t.Fatalf("events with a use still reserved = %v", got)
	}
	if err := f.store.ReleaseUse(ctx, r, keyserver.AuditEvent{Action: keyserver.ActionSign, Result: "failed"}); err != nil {
		t.Fatal(err)
	}
	mustSign(t, f, "orderer", op.ID, "key1")
	if got := typesOf(f, op.ID); !slices.Equal(got, []string{keyserver.EventCreated, keyserver.EventExhausted}) {
		t.Fatalf("events = %v", got)
	}
}
