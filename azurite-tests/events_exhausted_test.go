package azuritetests

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"testing"
	"time"

	"keyserver/internal/keyserver"
	"keyserver/internal/keyserver/memhsm"
	"keyserver/internal/tablestore"
)

// signingWorld is an eventWorld whose key "sign" needs no approval and is
// held by an in-memory HSM.
func signingWorld(t *testing.T) *eventWorld {
	t.Helper()
	w := newEventWorld(t)
	if err := w.store.PutKey(context.Background(), &keyserver.Key{KeyID: "sign", HSMKey: "p256", Enabled: true}, keyserver.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	w.svc.HSM = keyserver.Verified(memhsm.New())
	return w
}

// instance returns another service on the same tables, as a second
// Functions instance would be: its own store, so its own knowledge of
// which uses are taken.
func (w *eventWorld) instance(t *testing.T) *keyserver.Service {
	t.Helper()
	st, err := tablestore.NewFromConnectionString(azuriteConn, w.prefix)
	if err != nil {
		t.Fatal(err)
	}
	return &keyserver.Service{Ops: st, Keys: st, Subjects: st, Audit: st, Publisher: w.svc.Publisher, HSM: w.svc.HSM,
		Limits: w.svc.Limits, PublicURL: w.svc.PublicURL, Retention: w.svc.Retention, Now: w.svc.Now, Log: w.svc.Log}
}

func (w *eventWorld) openSigning(t *testing.T, uses int) *keyserver.Operation {
	t.Helper()
	op, err := w.svc.CreateOperation(context.Background(), w.caller(t, evOrderer), &keyserver.OperationRequest{
		ValidMS: time.Hour.Milliseconds(), Description: "release build 1.2.3",
		Keys: []keyserver.KeyRequest{{KeyID: "sign", MaxUsageCount: uses}}})
	if err != nil {
		t.Fatalf("CreateOperation: %v", err)
	}
	return op
}

func signWith(svc *keyserver.Service, c keyserver.Caller, opID string) error {
	d := sha256.Sum256([]byte("firmware image"))
	_, err := svc.Sign(context.Background(), c, &keyserver.SignOrder{OperationID: opID, KeyID: "sign",
		InputData: hex.EncodeToString(d[:]), InputFormat: keyserver.InputHex, InputPadding: keyserver.PaddingNone,
		SignatureFormat: keyserver.FormatP1363, Description: "sign firmware"})
	return err
}

// signAll spends uses uses of operation id, spread over the services, all
// at once.
func signAll(t *testing.T, c keyserver.Caller, id string, uses int, svcs ...*keyserver.Service) {
	t.Helper()
	var wg sync.WaitGroup
	for i := range uses {
		wg.Go(func() {
			if err := signWith(svcs[i%len(svcs)], c, id); err != nil {
				t.Errorf("signature %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

// TestExhaustedOnceOnTables: eight signatures at once spend the eight uses
// of an operation; exactly one usage.exhausted is written and published.
func TestExhaustedOnceOnTables(t *testing.T) {
	w := signingWorld(t)
	op := w.openSigning(t, 8)
	signAll(t, w.caller(t, evOrderer), op.ID, 8, w.svc)
	if got := w.pub.of(op.ID, keyserver.EventExhausted); len(got) != 1 || got[0].Actor != evOrderer || got[0].Operation.Keys[0].Uses != 8 {
		t.Fatalf("usage.exhausted published %+v, want one from the orderer with 8 uses", got)
	}
	events, err := w.store.OperationEvents(context.Background(), op.ID)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range events {
		if ev.Action == keyserver.ActionExhaust {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d %s audit events, want 1", n, keyserver.ActionExhaust)
	}
	if err := signWith(w.svc, w.caller(t, evOrderer), op.ID); keyserver.ErrorCode(err) != keyserver.EEXHAUSTED {
		t.Fatalf("a ninth signature: %v", err)
	}
	if got := w.pub.of(op.ID, keyserver.EventExhausted); len(got) != 1 {
		t.Fatalf("usage.exhausted published %d times after a refusal", len(got))
	}
}

// TestExhaustedOnceAcrossInstances: two instances, each knowing only its
// own uses, spend them at once. Whether or not the last signer knew it was
// last, the operation ends with exactly one usage.exhausted by the time
// upkeep has seen it expire.
func TestExhaustedOnceAcrossInstances(t *testing.T) {
	w := signingWorld(t)
	other := w.instance(t)
	op := w.openSigning(t, 8)
	signAll(t, w.caller(t, evOrderer), op.ID, 8, w.svc, other)
	if got := w.pub.of(op.ID, keyserver.EventExhausted); len(got) > 1 {
		t.Fatalf("usage.exhausted published %d times", len(got))
	}
	w.clock.Advance(time.Hour)
	if r := w.upkeep(t); r.Expired != 1 {
		t.Fatalf("upkeep = %v, want the operation expired", r)
	}
	if got := w.pub.of(op.ID, keyserver.EventExhausted); len(got) != 1 {
		t.Fatalf("usage.exhausted published %d times, want 1", len(got))
	}
	if got := types(w.pub.of(op.ID, "")); got[len(got)-1] != keyserver.EventExpired {
		t.Fatalf("events = %v, want operation.expired last", got)
	}
}
