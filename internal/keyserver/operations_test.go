package keyserver_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"keyserver/internal/keyserver"
)

func TestRejectAndCancel(t *testing.T) {
	expire := func(tb testing.TB, f *fixture, id string) { f.clock.Advance(time.Minute) }
	reject := func(tb testing.TB, f *fixture, id string) { f.mustReject(tb, id) }
	cancel := func(tb testing.TB, f *fixture, id string) { f.mustCancel(tb, id) }
	approve := func(tb testing.TB, f *fixture, id string) { f.mustApprove(tb, "approver2", id) }
	tests := []struct {
		name   string
		action string
		who    string
		reason string
		setup  func(tb testing.TB, f *fixture, id string)
		want   string // error code; "" for success
	}{
		{"approver rejects", "reject", "approver2", "wrong build", nil, ""},
		{"wildcard approver rejects an approved operation", "reject", "approvers", "wrong build", approve, ""},
		{"admin rejects", "reject", "admin", "wrong build", nil, ""},
		{"reject without a reason", "reject", "approver2", "", nil, keyserver.EINVALID},
		{"reject with a long reason", "reject", "approver2", strings.Repeat("r", 1025), nil, keyserver.EINVALID},
		{"requester rejects", "reject", "ordapp", "wrong build", nil, keyserver.EFORBIDDEN},
		{"auditor rejects", "reject", "auditor", "wrong build", nil, keyserver.EFORBIDDEN},
		{"stranger rejects", "reject", "approver4", "wrong build", nil, keyserver.ENOTFOUND},
		{"reject twice", "reject", "approver2", "wrong build", reject, keyserver.ECONFLICT},
		{"reject cancelled", "reject", "approver2", "wrong build", cancel, keyserver.ECONFLICT},
		{"reject expired", "reject", "approver2", "wrong build", expire, keyserver.ECONFLICT},
		{"requester cancels", "cancel", "ordapp", "", nil, ""},
		{"requester cancels an approved operation", "cancel", "ordapp", "", approve, ""},
		{"admin cancels", "cancel", "admin", "", nil, ""},
		{"bootstrap admin cancels", "cancel", "boot", "", nil, ""},
		{"approver cancels", "cancel", "approver2", "", nil, keyserver.EFORBIDDEN},
		{"auditor cancels", "cancel", "auditor", "", nil, keyserver.EFORBIDDEN},
		{"stranger cancels", "cancel", "orderer", "", nil, keyserver.ENOTFOUND},
		{"cancel twice", "cancel", "ordapp", "", cancel, keyserver.ECONFLICT},
		{"cancel rejected", "cancel", "ordapp", "", reject, keyserver.ECONFLICT},
		{"cancel expired", "cancel", "ordapp", "", expire, keyserver.ECONFLICT},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			op := f.mustCreate(t, "ordapp", kr("key2", 1))
			if tt.setup != nil {
				tt.setup(t, f, op.ID)
			}
			before := f.mustOperation(t, op.ID)
			events, notes := len(f.store.Events(op.ID)), len(f.notes.events())
			c := f.mustCaller(t, tt.who)
			var err error
			if tt.action == "reject" {
				_, err = f.svc.Reject(ctx, c, op.ID, tt.reason)
			} else {
				_, err = f.svc.Cancel(ctx, c, op.ID)
			}
			after := f.mustOperation(t, op.ID)
			if tt.want != "" {
				wantCode(t, err, tt.want)
				if after.Status(f.clock.Now()) != before.Status(f.clock.Now()) || len(f.store.Events(op.ID)) != events || len(f.notes.events()) != notes {
					t.Fatalf("a refused %s changed the operation, its audit trail or sent a notification", tt.action)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s: %v", tt.action, err)
			}
			want, closure, action, event := keyserver.StatusRejected, after.Rejected, keyserver.ActionReject, keyserver.EventRejected
			if tt.action == "cancel" {
				want, closure, action, event = keyserver.StatusCancelled, after.Cancelled, keyserver.ActionCancel, keyserver.EventCancelled
			}
			if st := after.Status(f.clock.Now()); st != want {
				t.Fatalf("status = %s, want %s", st, want)
			}
			if closure == nil || closure.By != c.Principal || closure.Reason != tt.reason || !closure.Time.Equal(f.clock.Now()) {
				t.Fatalf("closure = %+v", closure)
			}
			if ev := f.lastEvent(t, op.ID); ev.Action != action || ev.Actor != c.Principal || ev.Result != "ok" {
				t.Fatalf("audit event = %+v", ev)
			}
			if got := f.notes.events(); len(got) != notes+1 || got[len(got)-1] != event+" "+op.ID {
				t.Fatalf("notifications = %v, want a last %s", got, event)
			}
		})
	}
}

func TestOperations(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ids := map[string]string{}
	ids["expired"] = f.mustCreate(t, "orderer", kr("key2", 1)).ID
	f.clock.Advance(time.Minute - time.Second)
	ids["pending"] = f.mustCreate(t, "orderer", kr("key2", 1)).ID
	ids["half"] = f.mustCreate(t, "orderer", kr("key3", 1)).ID
	f.mustApprove(t, "approver3a", ids["half"])
	ids["approved"] = f.mustCreate(t, "orderer", kr("key1", 1)).ID
	ids["rejected"] = f.mustCreate(t, "orderer", kr("key2", 1)).ID
	f.mustReject(t, ids["rejected"])
	ids["exhausted"] = f.mustCreate(t, "orderer", kr("key1", 1)).ID
	mustUseUp(t, f, ids["exhausted"], "key1")
	ids["own"] = f.mustCreate(t, "ordapp", kr("key2", 1)).ID
	f.clock.Advance(time.Second)

	tests := []struct {
		who    string
		status keyserver.Status
		want   []string
	}{
		{"approver2", keyserver.StatusPending, []string{"own", "pending"}},
		{"approver3a", keyserver.StatusPending, nil},
		{"approver3b", keyserver.StatusPending, []string{"half"}},
		{"approvers", keyserver.StatusPending, []string{"half", "own", "pending"}},
		{"ordapp", keyserver.StatusPending, []string{"half", "pending"}},
		{"admin", keyserver.StatusPending, []string{"half", "own", "pending"}},
		{"auditor", keyserver.StatusPending, nil},
		{"orderer", keyserver.StatusPending, nil},
		{"orderer", "", []string{"approved", "exhausted", "half", "pending"}},
		{"orderer", keyserver.StatusApproved, []string{"approved"}},
		{"orderer", keyserver.StatusExhausted, []string{"exhausted"}},
		{"auditor", "", []string{"approved", "exhausted", "half", "own", "pending"}},
		{"approver2", "", []string{"own", "pending"}},
		{"orderer1", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.who+"/"+string(tt.status), func(t *testing.T) {
			ops, err := f.svc.Operations(ctx, f.mustCaller(t, tt.who), keyserver.OperationQuery{Status: tt.status})
			if err != nil {
				t.Fatalf("Operations: %v", err)
			}
			var got []string
			for _, op := range ops {
				for name, id := range ids {
					if op.ID == id {
						got = append(got, name)
					}
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Operations = %v, want %v", got, tt.want)
			}
		})
	}
	for _, status := range []keyserver.Status{keyserver.StatusExpired, keyserver.StatusRejected, keyserver.StatusCancelled, "bogus"} {
		_, err := f.svc.Operations(ctx, f.mustCaller(t, "admin"), keyserver.OperationQuery{Status: status})
		wantCode(t, err, keyserver.EINVALID)
	}
}

// mustUseUp spends every use of keyID in operation id through the store.
func mustUseUp(tb testing.TB, f *fixture, id, keyID string) {
	tb.Helper()
	ctx := context.Background()
	g := f.mustOperation(tb, id).Grant(keyID)
	for i := g.UsageCount; i < g.MaxUsageCount; i++ {
		r, err := f.store.ReserveUse(ctx, id, keyID, g.MaxUsageCount, i)
		if err != nil {
			tb.Fatalf("ReserveUse: %v", err)
		}
		if err := f.store.CompleteUse(ctx, r, keyserver.AuditEvent{Action: keyserver.ActionSign, Result: "ok"}); err != nil {
			tb.Fatalf("CompleteUse: %v", err)
		}
	}
}
