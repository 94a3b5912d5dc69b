package keyserver_test

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"keyserver/internal/keyserver"
)

// approverNames returns the subjects of an event's approvers, each with the
// keys it may approve.
func approverNames(ev keyserver.Event) []string {
	var out []string
	for _, a := range ev.Approvers {
		out = append(out, a.Subject+":"+strings.Join(a.KeyIDs, ","))
	}
	return out
}

func lastPublished(tb testing.TB, f *fixture) keyserver.Event {
	tb.Helper()
	evs := f.notes.published()
	if len(evs) == 0 {
		tb.Fatal("nothing was published")
	}
	return evs[len(evs)-1]
}

func TestEventsOfEveryChange(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	op := f.mustCreate(t, "orderer", kr("key2", 1), kr("key3", 2))
	ev := lastPublished(t, f)
	if ev.Type != keyserver.EventCreated || ev.Actor != principal("orderer") || ev.ActorName != "Name of orderer" ||
		ev.Link != "https://ks.example/operations/"+op.ID || !ev.Time.Equal(f.clock.Now()) || !keyserver.ValidID(ev.ID) {
		t.Fatalf("created event = %+v", ev)
	}
	wantOp := keyserver.OperationSummary{ID: op.ID, Description: op.Description, Requester: principal("orderer"),
		Status: keyserver.StatusPending, Created: op.Created, Expires: op.Expires,
		Keys: []keyserver.KeySummary{{KeyID: "key2", MaxUsageCount: 1, RequiredApprovals: 1}, {KeyID: "key3", MaxUsageCount: 2, RequiredApprovals: 2}}}
	if !reflect.DeepEqual(ev.Operation, wantOp) {
		t.Fatalf("summary = %+v, want %+v", ev.Operation, wantOp)
	}
	want := []string{"approver2:key2", "approver3a:key3", "approver3b:key3", "approvers:key2,key3", "ordapp:key2,key3"}
	if got := approverNames(ev); !slices.Equal(got, want) {
		t.Fatalf("approvers = %v, want %v", got, want)
	}

	// An approval that leaves it pending tells who can still act.
	f.mustApprove(t, "approver2", op.ID)
	ev = lastPublished(t, f)
	if ev.Type != keyserver.EventApproval || ev.Comment != "looks good" || ev.Actor != principal("approver2") || ev.Operation.Keys[0].Approvals != 1 {
		t.Fatalf("approval event = %+v", ev)
	}
	if got, want := approverNames(ev), []string{"approver3a:key3", "approver3b:key3", "approvers:key3", "ordapp:key3"}; !slices.Equal(got, want) {
		t.Fatalf("approvers after key2's approval = %v, want %v", got, want)
	}
	f.mustApprove(t, "approver3a", op.ID)
	f.mustApprove(t, "approver3b", op.ID)
	ev = lastPublished(t, f)
	if ev.Type != keyserver.EventApproved || ev.Operation.Status != keyserver.StatusApproved || ev.Operation.Keys[1].Approvals != 2 {
		t.Fatalf("approved event = %+v", ev)
	}
	// Once it ended, every approver of its keys hears of it.
	if got := approverNames(ev); !slices.Equal(got, []string{"approver2:key2", "approver3a:key3", "approver3b:key3", "approvers:key2,key3", "ordapp:key2,key3"}) {
		t.Fatalf("approvers of the approved event = %v", got)
	}

	rejected := f.mustCreate(t, "orderer", kr("key2", 1))
	if _, err := f.svc.Reject(ctx, f.mustCaller(t, "approver2"), rejected.ID, "wrong build"); err != nil {
		t.Fatal(err)
	}
	if ev = lastPublished(t, f); ev.Type != keyserver.EventRejected || ev.Comment != "wrong build" || ev.Operation.Status != keyserver.StatusRejected {
		t.Fatalf("rejected event = %+v", ev)
	}
	cancelled := f.mustCreate(t, "orderer", kr("key2", 1))
	if _, err := f.svc.Cancel(ctx, f.mustCaller(t, "orderer"), cancelled.ID); err != nil {
		t.Fatal(err)
	}
	if ev = lastPublished(t, f); ev.Type != keyserver.EventCancelled || ev.Operation.Status != keyserver.StatusCancelled {
		t.Fatalf("cancelled event = %+v", ev)
	}
	for _, id := range []string{op.ID, rejected.ID, cancelled.ID} {
		if n := f.store.Unsent(id); len(n) != 0 {
			t.Fatalf("operation %s keeps %d published events unsent", id, len(n))
		}
	}
}

// TestLostUpdateEmitsNothing: when the store's first attempt loses to
// another writer, only the events of the attempt that committed exist and
// are published.
func TestLostUpdateEmitsNothing(t *testing.T) {
	f := newFixture(t)
	op := f.mustCreate(t, "orderer", kr("key2", 1))
	f.store.LoseUpdates(2)
	f.mustApprove(t, "approver2", op.ID)
	emitted := f.store.Emitted(op.ID)
	if len(emitted) != 2 || emitted[1].Type != keyserver.EventApproved {
		t.Fatalf("emitted %+v, want created and one approved", emitted)
	}
	published := f.notes.published()
	if len(published) != 2 || published[1].ID != emitted[1].ID {
		t.Fatalf("published %+v, want the committed approved event %s", published, emitted[1].ID)
	}
}

func TestUpkeepRemindsOnceThenExpiresOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	pending := f.mustCreate(t, "orderer", kr("key2", 1)) // valid for a minute
	approved := f.mustCreate(t, "orderer", kr("key2", 1))
	f.mustApprove(t, "approver2", approved.ID)
	closed := f.mustCreate(t, "orderer", kr("key2", 1))
	if _, err := f.svc.Cancel(ctx, f.mustCaller(t, "orderer"), closed.ID); err != nil {
		t.Fatal(err)
	}
	upkeep := func(want keyserver.UpkeepReport) {
		t.Helper()
		if got, err := f.svc.Upkeep(ctx); err != nil || got != want {
			t.Fatalf("Upkeep = %v, %v; want %v", got, err, want)
		}
	}
	upkeep(keyserver.UpkeepReport{})
	f.clock.Advance(29 * time.Second)
	upkeep(keyserver.UpkeepReport{})
	f.clock.Advance(time.Second) // half the validity: only the pending one is reminded
	upkeep(keyserver.UpkeepReport{Reminded: 1})
	upkeep(keyserver.UpkeepReport{})
	f.clock.Advance(30 * time.Second) // expiry: both open ones expire, the closed one not
	upkeep(keyserver.UpkeepReport{Expired: 2})
	upkeep(keyserver.UpkeepReport{})

	types := func(id string) []string {
		var out []string
		for _, ev := range f.notes.published() {
			if ev.Operation.ID == id {
				out = append(out, ev.Type)
			}
		}
		return out
	}
	checks := []struct {
		id   string
		want []string
	}{
		{pending.ID, []string{keyserver.EventCreated, keyserver.EventReminder, keyserver.EventExpired}},
		{approved.ID, []string{keyserver.EventCreated, keyserver.EventApproved, keyserver.EventExpired}},
		{closed.ID, []string{keyserver.EventCreated, keyserver.EventCancelled}},
	}
	for _, c := range checks {
		if got := types(c.id); !slices.Equal(got, c.want) {
			t.Fatalf("events of %s = %v, want %v", c.id, got, c.want)
		}
	}
	evs := f.notes.published()
	reminder := evs[slices.IndexFunc(evs, func(e keyserver.Event) bool { return e.Type == keyserver.EventReminder })]
	if reminder.Actor != (keyserver.Principal{}) || reminder.Operation.Status != keyserver.StatusPending || len(reminder.Approvers) == 0 {
		t.Fatalf("reminder = %+v", reminder)
	}
	if ev := f.lastEvent(t, pending.ID); ev.Action != keyserver.ActionExpire || ev.Result != "ok" {
		t.Fatalf("last audit event of the expired operation = %+v", ev)
	}
}

func TestUpkeepDeletesAfterRetentionKeepingAudit(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	op := f.mustCreate(t, "orderer", kr("key2", 1))
	f.clock.Advance(time.Minute)
	if r, err := f.svc.Upkeep(ctx); err != nil || r.Expired != 1 {
		t.Fatalf("Upkeep = %v, %v; want one expired", r, err)
	}
	audit := f.store.Events(op.ID)
	f.clock.Advance(f.svc.Retention - time.Minute)
	if r, err := f.svc.Upkeep(ctx); err != nil || r.Deleted != 0 {
		t.Fatalf("Upkeep before the retention ends = %v, %v", r, err)
	}
	f.clock.Advance(2 * time.Minute)
	if r, err := f.svc.Upkeep(ctx); err != nil || r.Deleted != 1 {
		t.Fatalf("Upkeep after the retention = %v, %v; want one deleted", r, err)
	}
	if _, err := f.store.Operation(ctx, op.ID); keyserver.ErrorCode(err) != keyserver.ENOTFOUND {
		t.Fatalf("the operation is still there: %v", err)
	}
	if got := f.store.Events(op.ID); !reflect.DeepEqual(got, audit) || len(got) < 2 {
		t.Fatalf("audit events after deletion = %+v, want %+v", got, audit)
	}
}
