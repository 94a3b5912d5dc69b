package azuritetests

import (
	"context"
	"net/http"
	"testing"
	"time"

	"keyserver/internal/api"
	"keyserver/internal/hsmfake"
	"keyserver/internal/keyserver"
	"keyserver/internal/tablestore"
)

// closingRace is an approved operation on a fresh EC key with one approver,
// and the ways to close it.
type closingRace struct {
	keyID, token, approver string
}

func newClosingRace(t *testing.T) closingRace {
	keyID, token := mustSigningKey(t, hsmfake.KeySpec{Name: "race", Kty: "EC-HSM", Crv: "P-256"}, 1)
	return closingRace{keyID, token, mustSubject(t, uniqueName("approver"), "approver:"+keyID)}
}

func (r closingRace) open(t *testing.T) opView {
	op := mustOpenOp(t, r.token, 600000, map[string]int{r.keyID: 2})
	mustApprove(t, r.approver, op.ID)
	return op
}

func (r closingRace) closers() []struct {
	name, action string
	close        func(t *testing.T, opID string)
} {
	return []struct {
		name, action string
		close        func(t *testing.T, opID string)
	}{
		{"rejected", keyserver.ActionReject, func(t *testing.T, opID string) {
			var op opView
			mustDo(t, "POST", "/api/operations/"+opID+"/reject", r.approver, map[string]string{"reason": "wrong build"}).mustDecode(t, http.StatusOK, &op)
			if op.Status != string(keyserver.StatusRejected) {
				t.Fatalf("status after rejecting = %s", op.Status)
			}
		}},
		{"cancelled", keyserver.ActionCancel, func(t *testing.T, opID string) {
			var op opView
			mustDo(t, "POST", "/api/operations/"+opID+"/cancel", r.token, nil).mustDecode(t, http.StatusOK, &op)
			if op.Status != string(keyserver.StatusCancelled) {
				t.Fatalf("status after cancelling = %s", op.Status)
			}
		}},
	}
}

// holdSign holds the next HSM signature open and posts o; it returns when
// the use is reserved, with the channel of the answer and the release of
// the hold.
func holdSign(t *testing.T, token, keyID string, o api.SignOrder) (<-chan apiAnswer, func()) {
	st := mustStack(t)
	hold := make(chan struct{})
	if err := st.HSM.InjectFault(hsmfake.Fault{Op: "sign", Hold: hold}); err != nil {
		t.Fatalf("injecting the hold: %v", err)
	}
	t.Cleanup(st.HSM.ClearFaults)
	release := sync1(func() { close(hold) })
	t.Cleanup(release)
	answer := make(chan apiAnswer, 1)
	go func() {
		a, err := do(st.HandlerURL, "POST", "/api/signorders", token, o)
		if err != nil {
			a = apiAnswer{Status: -1, Body: []byte(err.Error())}
		}
		answer <- a
	}()
	deadline := time.Now().Add(10 * time.Second)
	for mustGetOp(t, token, o.OperationID).grant(t, keyID).UsageCount == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the sign order reserved no use within 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	return answer, release
}

func sync1(f func()) func() {
	done := false
	return func() {
		if !done {
			done = true
			f()
		}
	}
}

// mustSignEvents returns the sign and closing events of an operation, oldest first.
func mustSignEvents(t *testing.T, opID string) []keyserver.AuditEvent {
	s, err := tablestore.NewFromConnectionString(mustStack(t).Azurite.ConnectionString(), "ks")
	if err != nil {
		t.Fatalf("opening the stack's tables: %v", err)
	}
	evs, err := s.OperationEvents(context.Background(), opID)
	if err != nil {
		t.Fatalf("reading events: %v", err)
	}
	var out []keyserver.AuditEvent
	for _, ev := range evs {
		if ev.Action != keyserver.ActionCreate && ev.Action != keyserver.ActionApprove {
			out = append(out, ev)
		}
	}
	return out
}

// TestSignClosedWhileTheHSMSigns rejects or cancels the operation while the
// HSM call of a sign order is held open: when the HSM answers, the signature
// is withheld, the use is not counted, and the refusal is audited after the
// closing. Faults apply to every key, so this test does not run in parallel.
func TestSignClosedWhileTheHSMSigns(t *testing.T) {
	r := newClosingRace(t)
	for _, c := range r.closers() {
		t.Run(c.name, func(t *testing.T) {
			op := r.open(t)
			o, _ := ecOrder(op.ID, r.keyID, "build signed while "+c.name)
			answer, release := holdSign(t, r.token, r.keyID, o)
			c.close(t, op.ID)
			release()
			(<-answer).mustRefuse(t, http.StatusConflict, keyserver.ECLOSED)
			mustUsage(t, r.token, op.ID, map[string]int{r.keyID: 0})
			evs := mustSignEvents(t, op.ID)
			if len(evs) != 2 || evs[0].Action != c.action || evs[1].Action != keyserver.ActionSign || evs[1].Result != "failed: "+keyserver.ECLOSED || evs[1].Digest == "" {
				t.Fatalf("events after the create and approval = %+v, want the closing then the withheld signature", evs)
			}
			a := mustDo(t, "POST", "/api/signorders", r.token, o)
			a.mustRefuse(t, http.StatusConflict, keyserver.ECLOSED)
		})
	}
}

// TestSignCompletedBeforeTheClosingKeepsItsSignature lets the held HSM call
// answer and the signature complete before the operation is closed: the
// signature is handed out and its use stays spent.
func TestSignCompletedBeforeTheClosingKeepsItsSignature(t *testing.T) {
	r := newClosingRace(t)
	for _, c := range r.closers() {
		t.Run(c.name, func(t *testing.T) {
			op := r.open(t)
			o, _ := ecOrder(op.ID, r.keyID, "build signed before "+c.name)
			answer, release := holdSign(t, r.token, r.keyID, o)
			release()
			var res api.SignResult
			(<-answer).mustDecode(t, http.StatusCreated, &res)
			c.close(t, op.ID)
			mustUsage(t, r.token, op.ID, map[string]int{r.keyID: 1})
			evs := mustSignEvents(t, op.ID)
			if len(evs) != 2 || evs[0].Action != keyserver.ActionSign || evs[0].Result != "ok" || evs[1].Action != c.action {
				t.Fatalf("events after the create and approval = %+v, want the signature then the closing", evs)
			}
		})
	}
}
