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
	r, err := s.ReserveUse(context.Background(), opID, "k1", maxUses)
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

// reserveAll has callers reserve a use of k1 at once, spread over stores,
// and returns the reservations made; any error but EEXHAUSTED fails.
func reserveAll(tb testing.TB, stores []*tablestore.Store, opID string, maxUses, callers int) []*keyserver.Reservation {
	tb.Helper()
	var wg sync.WaitGroup
	errs := make([]error, callers)
	res := make([]*keyserver.Reservation, callers)
	for i := range callers {
		wg.Go(func() { res[i], errs[i] = stores[i%len(stores)].ReserveUse(context.Background(), opID, "k1", maxUses) })
	}
	wg.Wait()
	var got []*keyserver.Reservation
	seen := map[int]bool{}
	for i, err := range errs {
		switch keyserver.ErrorCode(err) {
		case "":
			if seen[res[i].Seq] {
				tb.Fatalf("reservation number %d given twice", res[i].Seq)
			}
			seen[res[i].Seq] = true
			got = append(got, res[i])
		case keyserver.EEXHAUSTED:
		default:
			tb.Fatalf("ReserveUse: %v", err)
		}
	}
	return got
}

func TestTablestoreInstancesNeverPassMax(t *testing.T) {
	stores := mustStores(t, 2)
	const maxUses = 12
	op := mustOperation(t, stores[0], maxUses)
	if got := reserveAll(t, stores, op.ID, maxUses, 40); len(got) != maxUses {
		t.Fatalf("%d uses reserved, want %d", len(got), maxUses)
	}
	full, err := stores[1].Operation(context.Background(), op.ID)
	if err != nil || full.Grant("k1").UsageCount != maxUses {
		t.Fatalf("Operation = %+v, %v; want %d uses", full, err, maxUses)
	}
}

func TestTablestoreUseReleasedByAnotherInstanceIsFound(t *testing.T) {
	stores := mustStores(t, 2)
	a, b := stores[0], stores[1]
	ctx := context.Background()
	op := mustOperation(t, a, 2)
	first, _ := mustReserve(t, b, op.ID, 2), mustReserve(t, b, op.ID, 2)
	_, err := a.ReserveUse(ctx, op.ID, "k1", 2)
	mustCode(t, err, keyserver.EEXHAUSTED) // a now knows every use taken
	ev := keyserver.AuditEvent{Actor: requester, Action: keyserver.ActionSign, OperationID: op.ID, KeyID: "k1", Result: "released"}
	if err := b.ReleaseUse(ctx, first, ev); err != nil {
		t.Fatalf("ReleaseUse: %v", err)
	}
	if again := mustReserve(t, a, op.ID, 2); again.Seq != 3 {
		t.Fatalf("reservation number %d, want 3", again.Seq)
	}
	_, err = b.ReserveUse(ctx, op.ID, "k1", 2)
	mustCode(t, err, keyserver.EEXHAUSTED)
}

func TestTablestoreOperationForSigningCountsUsesAndApprovals(t *testing.T) {
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
	if g == nil || g.ApprovalCount != 1 || g.UsageCount != 1 || g.MaxUsageCount != 3 {
		t.Fatalf("OperationForSigning grant = %+v, want one approval counted, 1 of 3 uses", g)
	}
	if !got.Approved(time.Now()) || got.Requester != requester {
		t.Fatalf("OperationForSigning = %+v, want approved and requested by %v", got, requester)
	}
	_, err = s.OperationForSigning(ctx, keyserver.NewID())
	mustCode(t, err, keyserver.ENOTFOUND)
}

func TestTablestoreStaleInstanceNeverPassesMax(t *testing.T) {
	stores := mustStores(t, 2)
	a, b := stores[0], stores[1]
	const maxUses = 24
	op := mustOperation(t, a, maxUses)
	mustReserve(t, b, op.ID, maxUses)
	for range maxUses - 4 { // b does not see these
		mustReserve(t, a, op.ID, maxUses)
	}
	for range 3 {
		mustReserve(t, b, op.ID, maxUses)
	}
	_, err := b.ReserveUse(context.Background(), op.ID, "k1", maxUses)
	mustCode(t, err, keyserver.EEXHAUSTED)
	_, err = a.ReserveUse(context.Background(), op.ID, "k1", maxUses)
	mustCode(t, err, keyserver.EEXHAUSTED)
}

// TestTablestoreClosingRevokesMoreThanOneTransaction closes an operation
// with more uses reserved than one transaction can delete.
func TestTablestoreClosingRevokesMoreThanOneTransaction(t *testing.T) {
	stores := mustStores(t, 2)
	ctx := context.Background()
	const maxUses, reserved = 300, 250
	op := mustOperation(t, stores[0], maxUses)
	held := reserveAll(t, stores, op.ID, maxUses, reserved)
	if len(held) != reserved {
		t.Fatalf("%d uses reserved, want %d", len(held), reserved)
	}
	if err := stores[0].CompleteUse(ctx, held[0], keyserver.AuditEvent{Actor: requester, Action: keyserver.ActionSign, OperationID: op.ID, Result: "ok"}); err != nil {
		t.Fatalf("CompleteUse: %v", err)
	}
	closed, err := stores[1].UpdateOperation(ctx, op.ID, func(o *keyserver.Operation) (*keyserver.Update, error) {
		o.Cancelled = &keyserver.Closure{By: requester, Time: time.Now()}
		return &keyserver.Update{Audit: keyserver.AuditEvent{Actor: requester, Action: keyserver.ActionCancel, OperationID: o.ID, Result: "ok"}}, nil
	})
	if err != nil {
		t.Fatalf("cancelling: %v", err)
	}
	if n := closed.Grant("k1").UsageCount; n != 1 {
		t.Fatalf("usage count after closing = %d, want the 1 spent", n)
	}
	for _, r := range held[1:] {
		mustCode(t, stores[0].CompleteUse(ctx, r, keyserver.AuditEvent{}), keyserver.ECLOSED)
	}
	full, err := stores[0].Operation(ctx, op.ID)
	if err != nil || full.Grant("k1").UsageCount != 1 || full.Cancelled == nil {
		t.Fatalf("Operation = %+v, %v; want cancelled with 1 use", full, err)
	}
}

// completeAtOnce completes every reservation of todo at once and returns
// how many got ECONFLICT; other errors fail.
func completeAtOnce(t *testing.T, s *tablestore.Store, opID string, todo []*keyserver.Reservation) (conflicts []*keyserver.Reservation) {
	t.Helper()
	errs := make([]error, len(todo))
	var wg sync.WaitGroup
	for i, r := range todo {
		wg.Go(func() {
			errs[i] = s.CompleteUse(context.Background(), r, keyserver.AuditEvent{Actor: requester, Action: keyserver.ActionSign, OperationID: opID, KeyID: "k1", Result: "ok"})
		})
	}
	wg.Wait()
	for i, err := range errs {
		switch keyserver.ErrorCode(err) {
		case "":
		case keyserver.ECONFLICT:
			conflicts = append(conflicts, todo[i])
		default:
			t.Fatalf("completing use %d: %v", todo[i].Seq, err)
		}
	}
	return conflicts
}

// TestTablestoreConcurrentCompletionsShareTransactions completes uses at
// once, among them one completed before and one twice: those fail alone.
func TestTablestoreConcurrentCompletionsShareTransactions(t *testing.T) {
	s := mustStores(t, 1)[0]
	ctx := context.Background()
	op := mustOperation(t, s, 8)
	var held []*keyserver.Reservation
	for range 8 {
		held = append(held, mustReserve(t, s, op.ID, 8))
	}
	if got := completeAtOnce(t, s, op.ID, held[:1]); len(got) != 0 {
		t.Fatalf("completing use %d: conflict", held[0].Seq)
	}
	got := completeAtOnce(t, s, op.ID, append([]*keyserver.Reservation{held[0], held[1]}, held[1:]...))
	if len(got) != 2 || got[0] != held[0] || got[1] != held[1] {
		t.Fatalf("conflicts for %v, want uses %d (completed before) and %d (twice)", got, held[0].Seq, held[1].Seq)
	}
	evs, err := s.OperationEvents(ctx, op.ID)
	if err != nil || len(evs) != 9 {
		t.Fatalf("%d events, %v; want the create and 8 signatures", len(evs), err)
	}
	full, err := s.Operation(ctx, op.ID)
	if err != nil || full.Grant("k1").UsageCount != 8 {
		t.Fatalf("Operation = %+v, %v; want 8 uses", full, err)
	}
}
