package tablestore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"keyserver/internal/azurite"
	"keyserver/internal/keyserver"
	"keyserver/internal/tablestore"
)

// The tests below run against one Azurite, started on first use.
var (
	azuriteOnce sync.Once
	azuriteSrv  *azurite.Server
	azuriteErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if azuriteSrv != nil {
		if err := azuriteSrv.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping Azurite:", err)
		}
	}
	os.Exit(code)
}

// mustStores returns n stores on the same fresh tables, as n instances of
// the Keyserver would see them.
func mustStores(tb testing.TB, n int) []*tablestore.Store {
	tb.Helper()
	azuriteOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tablestore-azurite")
		if err != nil {
			azuriteErr = err
			return
		}
		azuriteSrv, azuriteErr = azurite.Start(context.Background(), dir)
	})
	if azuriteErr != nil {
		tb.Fatalf("starting Azurite: %v", azuriteErr)
	}
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		tb.Fatalf("random prefix: %v", err)
	}
	stores := make([]*tablestore.Store, n)
	for i := range stores {
		s, err := tablestore.NewFromConnectionString(azuriteSrv.ConnectionString(), "u"+hex.EncodeToString(b))
		if err != nil {
			tb.Fatalf("NewFromConnectionString: %v", err)
		}
		if err := s.EnsureTables(context.Background()); err != nil {
			tb.Fatalf("EnsureTables: %v", err)
		}
		stores[i] = s
	}
	return stores
}

var requester = keyserver.Principal{Issuer: "https://issuer.example", Subject: "pipeline"}

func mustOperation(tb testing.TB, s *tablestore.Store, maxUses int) *keyserver.Operation {
	tb.Helper()
	now := time.Now().UTC().Truncate(time.Millisecond)
	op := &keyserver.Operation{
		ID: keyserver.NewID(), Requester: requester, Description: "release build",
		Created: now, Expires: now.Add(time.Hour),
		Keys: []*keyserver.KeyGrant{{KeyID: "k1", MaxUsageCount: maxUses, RequiredApprovals: 1}},
	}
	ev := keyserver.AuditEvent{Time: now, Actor: requester, Action: keyserver.ActionCreate, OperationID: op.ID, Result: "ok"}
	if err := s.CreateOperation(context.Background(), op, ev, nil); err != nil {
		tb.Fatalf("CreateOperation: %v", err)
	}
	return op
}

func mustReserve(tb testing.TB, s *tablestore.Store, opID string, maxUses int) *keyserver.Reservation {
	tb.Helper()
	r, err := s.ReserveUse(context.Background(), opID, "k1", maxUses, 0)
	if err != nil {
		tb.Fatalf("ReserveUse: %v", err)
	}
	return r
}

func mustCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := keyserver.ErrorCode(err); got != code {
		tb.Fatalf("error %v has code %q, want %q", err, got, code)
	}
}

func TestTablestoreInstancesNeverShareASlot(t *testing.T) {
	stores := mustStores(t, 2)
	const maxUses, callers = 12, 20
	op := mustOperation(t, stores[0], maxUses)
	var wg sync.WaitGroup
	errs := make([]error, 2*callers)
	slots := make([]int, 2*callers)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := stores[i%2].ReserveUse(context.Background(), op.ID, "k1", maxUses, 0)
			if errs[i] = err; err == nil {
				slots[i] = r.Slot
			}
		}()
	}
	wg.Wait()
	taken := map[int]bool{}
	for i, err := range errs {
		switch keyserver.ErrorCode(err) {
		case "":
			if taken[slots[i]] {
				t.Fatalf("slot %d reserved twice", slots[i])
			}
			taken[slots[i]] = true
		case keyserver.EEXHAUSTED:
		default:
			t.Fatalf("ReserveUse: %v", err)
		}
	}
	if len(taken) != maxUses {
		t.Fatalf("%d slots reserved, want %d", len(taken), maxUses)
	}
}

func TestTablestoreSlotReleasedByAnotherInstanceIsFound(t *testing.T) {
	stores := mustStores(t, 2)
	a, b := stores[0], stores[1]
	ctx := context.Background()
	op := mustOperation(t, a, 2)
	first, _ := mustReserve(t, b, op.ID, 2), mustReserve(t, b, op.ID, 2)
	_, err := a.ReserveUse(ctx, op.ID, "k1", 2, 0)
	mustCode(t, err, keyserver.EEXHAUSTED) // a now believes every slot taken
	ev := keyserver.AuditEvent{Actor: requester, Action: keyserver.ActionSign, OperationID: op.ID, KeyID: "k1", Result: "released"}
	if err := b.ReleaseUse(ctx, first, ev); err != nil {
		t.Fatalf("ReleaseUse: %v", err)
	}
	if again := mustReserve(t, a, op.ID, 2); again.Slot != first.Slot {
		t.Fatalf("reserved slot %d, want the released slot %d", again.Slot, first.Slot)
	}
	_, err = b.ReserveUse(ctx, op.ID, "k1", 2, 0)
	mustCode(t, err, keyserver.EEXHAUSTED)
}

func TestTablestoreOperationForSigningLeavesUsesOut(t *testing.T) {
	s := mustStores(t, 1)[0]
	ctx := context.Background()
	op := mustOperation(t, s, 3)
	approver := keyserver.Principal{Issuer: requester.Issuer, Subject: "approver"}
	_, err := s.UpdateOperation(ctx, op.ID, func(o *keyserver.Operation) (*keyserver.Update, error) {
		a := keyserver.Approval{Approver: approver, Time: time.Now().UTC()}
		return &keyserver.Update{
			Approvals: []keyserver.NewApproval{{KeyID: "k1", Approval: a}},
			Audit:     keyserver.AuditEvent{Actor: approver, Action: keyserver.ActionApprove, OperationID: o.ID, Result: "ok"},
		}, nil
	})
	if err != nil {
		t.Fatalf("UpdateOperation: %v", err)
	}
	mustReserve(t, s, op.ID, 3)

	got, err := s.OperationForSigning(ctx, op.ID)
	if err != nil {
		t.Fatalf("OperationForSigning: %v", err)
	}
	g := got.Grant("k1")
	if g == nil || len(g.Approvals) != 1 || g.Approvals[0].Approver != approver || g.UsageCount != 0 || g.MaxUsageCount != 3 {
		t.Fatalf("OperationForSigning grant = %+v, want one approval by %v, no uses counted, 3 allowed", g, approver)
	}
	if !got.Approved(time.Now()) || got.Requester != requester {
		t.Fatalf("OperationForSigning = %+v, want approved and requested by %v", got, requester)
	}
	full, err := s.Operation(ctx, op.ID)
	if err != nil || full.Grant("k1").UsageCount != 1 {
		t.Fatalf("Operation = %+v, %v; want UsageCount 1", full, err)
	}
	_, err = s.OperationForSigning(ctx, keyserver.NewID())
	mustCode(t, err, keyserver.ENOTFOUND)
}

func TestTablestoreStaleInstanceFindsTheLastFreeSlots(t *testing.T) {
	stores := mustStores(t, 2)
	a, b := stores[0], stores[1]
	const maxUses = 24
	op := mustOperation(t, a, maxUses)
	taken := map[int]bool{mustReserve(t, b, op.ID, maxUses).Slot: true}
	for range maxUses - 4 { // b does not see these
		taken[mustReserve(t, a, op.ID, maxUses).Slot] = true
	}
	for range 3 {
		n := mustReserve(t, b, op.ID, maxUses).Slot
		if taken[n] {
			t.Fatalf("slot %d reserved twice", n)
		}
		taken[n] = true
	}
	_, err := b.ReserveUse(context.Background(), op.ID, "k1", maxUses, 0)
	mustCode(t, err, keyserver.EEXHAUSTED)
	if len(taken) != maxUses {
		t.Fatalf("%d slots reserved, want %d", len(taken), maxUses)
	}
}
