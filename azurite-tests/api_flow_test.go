package azuritetests

import (
	"net/http"
	"strings"
	"testing"

	"keyserver/internal/keyserver"
)

// TestAPISeed001Flow walks seed 001: an operation for key1 and key4, approved
// by approver-key4 only.
func TestAPISeed001Flow(t *testing.T) {
	t.Parallel()
	orderer := mustToken(t, "orderer-client")
	op := mustOpenOp(t, orderer, 60000, map[string]int{"key1": 1, "key4": 1})
	if op.Approved || op.Status != string(keyserver.StatusPending) || op.ValidMS != 60000 {
		t.Fatalf("new operation: approved %v, status %s, validms %d; want false, pending, 60000", op.Approved, op.Status, op.ValidMS)
	}
	if got := mustGetOp(t, orderer, op.ID); got.Approved {
		t.Fatalf("GET before approval: approved = true")
	}

	approver2 := mustToken(t, "approver-key2")
	mustDo(t, "POST", "/api/operations/"+op.ID+"/approve", approver2, nil).mustRefuse(t, http.StatusNotFound, keyserver.ENOTFOUND)
	mustDo(t, "GET", "/api/operations/"+op.ID, approver2, nil).mustRefuse(t, http.StatusNotFound, keyserver.ENOTFOUND)
	if got := mustGetOp(t, orderer, op.ID); got.Approved || len(got.grant(t, "key4").Approvals) != 0 {
		t.Fatalf("approver-key2's refused approval changed the operation: %s", got.stored(t))
	}

	approver4 := mustToken(t, "approver-key4")
	approved := mustApprove(t, approver4, op.ID)
	if !approved.Approved || approved.Status != string(keyserver.StatusApproved) {
		t.Fatalf("after approver-key4: approved %v, status %s", approved.Approved, approved.Status)
	}
	got := mustGetOp(t, orderer, op.ID)
	if !got.Approved {
		t.Fatalf("GET after approval: approved = false")
	}
	as := got.grant(t, "key4").Approvals
	if len(as) != 1 || as[0].Approver.Subject != "approver-key4" {
		t.Fatalf("key4 approvals = %+v, want one by approver-key4", as)
	}
	mustDo(t, "POST", "/api/operations/"+op.ID+"/approve", approver4, nil).mustRefuse(t, http.StatusConflict, keyserver.ECONFLICT)

	e := mustDo(t, "POST", "/api/operations", mustToken(t, "orderer-clientkey1"), opRequest(60000, map[string]int{"key2": 1})).
		mustRefuse(t, http.StatusNotFound, keyserver.ENOTFOUND)
	if !strings.Contains(e.Message, "key2") {
		t.Fatalf("404 message %q does not name key2", e.Message)
	}
}

// TestAPIKey3NeedsTwoDistinctApprovers checks that the same approver counts once.
func TestAPIKey3NeedsTwoDistinctApprovers(t *testing.T) {
	t.Parallel()
	orderer := mustToken(t, "orderer-client")
	op := mustOpenOp(t, orderer, 60000, map[string]int{"key3": 1})
	first := mustToken(t, "approver-key3")
	if got := mustApprove(t, first, op.ID); got.Approved {
		t.Fatalf("approved after one of two approvals")
	}
	before := mustGetOp(t, orderer, op.ID)
	mustDo(t, "POST", "/api/operations/"+op.ID+"/approve", first, nil).mustRefuse(t, http.StatusConflict, keyserver.ECONFLICT)
	after := mustGetOp(t, orderer, op.ID)
	if after.stored(t) != before.stored(t) || after.Approved {
		t.Fatalf("a second approval by the same approver changed the operation:\n%s\n%s", before.stored(t), after.stored(t))
	}
	got := mustApprove(t, mustToken(t, "approver2-key3"), op.ID)
	if !got.Approved {
		t.Fatalf("not approved after two distinct approvers")
	}
	as := got.grant(t, "key3").Approvals
	if len(as) != 2 || as[0].Approver == as[1].Approver {
		t.Fatalf("key3 approvals = %+v, want two distinct approvers", as)
	}
}

// TestAPIRequesterNeverApprovesOwn uses adminclient, which may approve any
// key, on its own operation.
func TestAPIRequesterNeverApprovesOwn(t *testing.T) {
	t.Parallel()
	admin := mustToken(t, "adminclient")
	op := mustOpenOp(t, admin, 60000, map[string]int{"key2": 1})
	mustDo(t, "POST", "/api/operations/"+op.ID+"/approve", admin, nil).mustRefuse(t, http.StatusForbidden, keyserver.EFORBIDDEN)
	got := mustGetOp(t, admin, op.ID)
	if got.Approved || len(got.grant(t, "key2").Approvals) != 0 {
		t.Fatalf("the requester's refused approval changed the operation: %s", got.stored(t))
	}
}
