package azuritetests

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"keyserver/internal/devauth"
	"keyserver/internal/keyserver"
)

// meView is the answer of GET /api/me.
type meView struct {
	Issuer  string   `json:"issuer"`
	Subject string   `json:"subject"`
	Kind    string   `json:"kind"`
	Name    string   `json:"name"`
	Roles   []string `json:"roles"`
}

// mustPersonToken signs a demo person in through the dev auth server's page
// and code exchange, as the web UI does.
func mustPersonToken(tb testing.TB, person string) string {
	tb.Helper()
	tok, err := mustStack(tb).PersonToken(context.Background(), person)
	if err != nil {
		tb.Fatalf("signing %s in: %v", person, err)
	}
	return tok
}

func mustMe(tb testing.TB, token string) meView {
	tb.Helper()
	var me meView
	mustDo(tb, "GET", "/api/me", token, nil).mustDecode(tb, http.StatusOK, &me)
	return me
}

func TestAPIMe(t *testing.T) {
	t.Parallel()
	st := mustStack(t)
	cases := []struct {
		name  string
		token string
		want  meView
	}{
		{"person approver-key4", mustPersonToken(t, "approver-key4"),
			meView{st.AuthURL, devauth.PersonID("approver-key4"), "person", "approver-key4", []string{"approver:key4"}}},
		{"person adminuser", mustPersonToken(t, "adminuser"),
			meView{st.AuthURL, devauth.PersonID("adminuser"), "person", "adminuser", []string{"admin"}}},
		{"client approver-key4", mustToken(t, "approver-key4"),
			meView{st.AuthURL, "approver-key4", "app", "approver-key4", []string{"approver:key4"}}},
		{"bootstrap admin client", mustToken(t, "adminclient"),
			meView{st.AuthURL, "adminclient", "app", "adminclient", []string{"admin"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := mustMe(t, tc.token); got.Issuer != tc.want.Issuer || got.Subject != tc.want.Subject ||
				got.Kind != tc.want.Kind || got.Name != tc.want.Name || !slices.Equal(got.Roles, tc.want.Roles) {
				t.Fatalf("GET /api/me = %+v, want %+v", got, tc.want)
			}
		})
	}
	mustDo(t, "GET", "/api/me", "", nil).mustRefuse(t, http.StatusUnauthorized, keyserver.EUNAUTHENTICATED)
}

// TestAPIPersonApproves is the tutorial's approval by a person who signed in:
// approver-key4 approves orderer-client's operation on key1 and key4.
func TestAPIPersonApproves(t *testing.T) {
	t.Parallel()
	orderer := mustToken(t, "orderer-client")
	op := mustOpenOp(t, orderer, 60000, map[string]int{"key1": 1, "key4": 1})
	var pending []opView
	mustDo(t, "GET", "/api/operations?status=pending", mustPersonToken(t, "approver-key2"), nil).mustDecode(t, http.StatusOK, &pending)
	if slices.ContainsFunc(pending, func(o opView) bool { return o.ID == op.ID }) {
		t.Fatal("approver-key2 is offered an operation on key1 and key4")
	}
	person := mustPersonToken(t, "approver-key4")
	mustDo(t, "GET", "/api/operations?status=pending", person, nil).mustDecode(t, http.StatusOK, &pending)
	if !slices.ContainsFunc(pending, func(o opView) bool { return o.ID == op.ID }) {
		t.Fatal("approver-key4 is not offered the operation")
	}
	got := mustApprove(t, person, op.ID)
	a := got.grant(t, "key4").Approvals
	if !got.Approved || len(a) != 1 || a[0].Approver.Kind != keyserver.KindPerson.String() || a[0].Approver.Subject != devauth.PersonID("approver-key4") || a[0].Name != "approver-key4" {
		t.Fatalf("after the person's approval: %s", got.stored(t))
	}
	if !mustGetOp(t, orderer, op.ID).Approved {
		t.Fatal("the pipeline's poll does not show the approval")
	}
}

// TestAPIPersonAndClientOfOneName shows that the person approver-key4 and the
// client approver-key4 are two subjects: each approves once, as itself.
func TestAPIPersonAndClientOfOneName(t *testing.T) {
	t.Parallel()
	op := mustOpenOp(t, mustToken(t, "orderer-client"), 60000, map[string]int{"key3": 1})
	first := mustApprove(t, mustToken(t, "approver-key3"), op.ID)
	if first.Approved {
		t.Fatal("key3 needs two approvers, yet one approval approved it")
	}
	second := mustApprove(t, mustPersonToken(t, "approver-key3"), op.ID)
	if a := second.grant(t, "key3").Approvals; !second.Approved || len(a) != 2 || a[0].Approver.Kind == a[1].Approver.Kind {
		t.Fatalf("the client and the person of one name: %s", second.stored(t))
	}
	// A person's token never acts as an app, even one registered under the
	// person's very id.
	st := mustStack(t)
	id := devauth.PersonID("approver-key1")
	body := map[string]any{"issuer": st.AuthURL, "kind": "app", "name": "a workload", "roles": []string{"orderer:key1"}}
	mustDo(t, "PUT", "/api/admin/subjects/"+id, mustToken(t, "adminclient"), body).mustDecode(t, http.StatusOK, &keyserver.Subject{})
	person := mustPersonToken(t, "approver-key1")
	if a := mustDo(t, "POST", "/api/operations", person, opRequest(60000, map[string]int{"key1": 1})); a.Status == http.StatusCreated {
		t.Fatal("the person opened an operation with the rights of the app registered under their id")
	}
	if me := mustMe(t, person); me.Kind != "person" || !slices.Equal(me.Roles, []string{"approver:key1"}) {
		t.Fatalf("the person approver-key1 is %+v", me)
	}
	// And an app's token never acts as a person: the app of that id is an app.
	if me := mustMe(t, mustSubjectToken(t, id)); me.Kind != "app" || !slices.Equal(me.Roles, []string{"orderer:key1"}) {
		t.Fatalf("the app registered under the person's id is %+v", me)
	}
}
