package azuritetests

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"keyserver/internal/auditlog"
	"keyserver/internal/auditwire"
	"keyserver/internal/hsmfake"
	"keyserver/internal/keyserver"
	"keyserver/internal/tablestore"
)

// adminEvent is an admin change's record as the service makes it.
func adminEvent(action, target string) keyserver.AuditEvent {
	return keyserver.AuditEvent{Time: tsT0, Actor: tsApprover, Action: action, Target: target, Result: "ok", Detail: action + " " + target}
}

// mustChain reads a chain's records from storage and checks that they link.
func mustChain(tb testing.TB, s *tablestore.Store, chain string) []auditlog.Stored {
	tb.Helper()
	recs, err := s.ChainRecords(context.Background(), chain, 1)
	if err != nil {
		tb.Fatalf("reading chain %s: %v", chain, err)
	}
	var h auditlog.Head
	for _, r := range recs {
		if r.Record.Seq != h.Seq+1 || r.Record.Prev != h.Hash || r.Row != r.Record.Seq {
			tb.Fatalf("chain %s: record %s does not follow record #%d", chain, r.Record.ID(), h.Seq)
		}
		h = auditlog.Head{Seq: r.Record.Seq, Hash: r.Record.LeafHash()}
	}
	return recs
}

// TestTablestoreAdminChangesCommitWithTheirRecords: each admin change's
// record is a row of the partition the change writes, in its transaction.
// A change the table refuses (a missing row deleted, a value too large)
// writes no record; a record whose place another process took is written
// again after it, with its change, and the chain still links.
func TestTablestoreAdminChangesCommitWithTheirRecords(t *testing.T) {
	ctx := context.Background()
	s := mustTablestore(t)
	key := &keyserver.Key{KeyID: "k1", HSMKey: "https://hsm.example/keys/k1/v1", Enabled: true}
	mustNil(t, s.PutKey(ctx, key, adminEvent(keyserver.ActionAdminKey, "k1")))
	mustCodeIs(t, s.DeleteKey(ctx, "k2", adminEvent(keyserver.ActionAdminKey, "k2")), keyserver.ENOTFOUND)
	huge := *key
	huge.KeyID, huge.KeyInfo = "k3", strings.Repeat("é", 40000) // 80,000 bytes: more than a property holds
	if err := s.PutKey(ctx, &huge, adminEvent(keyserver.ActionAdminKey, "k3")); err == nil {
		t.Fatal("Table Storage stored a property of 80,000 bytes")
	}
	if _, err := s.Key(ctx, "k3"); keyserver.ErrorCode(err) != keyserver.ENOTFOUND {
		t.Fatalf("the refused key is stored: %v", err)
	}

	// Another process takes the chain's next place: this one's head is
	// stale, its first transaction fails on the record, and it writes the
	// change again after the other's record.
	other, err := tablestore.NewFromConnectionString(azuriteConn, s.Prefix())
	mustNil(t, err)
	k2 := &keyserver.Key{KeyID: "k2", HSMKey: "https://hsm.example/keys/k2/v1", Enabled: true}
	mustNil(t, other.PutKey(ctx, k2, adminEvent(keyserver.ActionAdminKey, "k2")))
	mustNil(t, s.DeleteKey(ctx, "k1", adminEvent(keyserver.ActionAdminKey, "k1")))
	recs := mustChain(t, s, auditlog.KeysChain)
	if len(recs) != 3 || recs[0].Record.Target != "k1" || recs[1].Record.Target != "k2" || recs[2].Record.Target != "k1" {
		t.Fatalf("the keys' chain holds %+v; want put k1, put k2, delete k1", recs)
	}
	if keys, err := s.Keys(ctx); err != nil || len(keys) != 1 || keys[0].KeyID != "k2" {
		t.Fatalf("Keys = %+v, %v; want k2 alone (records are no keys)", keys, err)
	}

	sub := &keyserver.Subject{Principal: tsRequester, Roles: []string{"orderer:k2"}}
	mustNil(t, s.PutSubject(ctx, sub, adminEvent(keyserver.ActionAdminSubject, tsRequester.String())))
	ghost := tsRequester
	ghost.Issuer = "https://never.example"
	mustCodeIs(t, s.DeleteSubject(ctx, ghost, adminEvent(keyserver.ActionAdminSubject, ghost.String())), keyserver.ENOTFOUND)
	if recs := mustChain(t, s, auditlog.SubjectChain(tsRequester.Subject)); len(recs) != 1 || recs[0].Record.Event != keyserver.ActionAdminSubject {
		t.Fatalf("the subject's chain holds %+v; want its registration alone", recs)
	}
	pol := &keyserver.Policy{ID: "github:octo/fw", Issuer: "https://token.actions.githubusercontent.com", Roles: []string{"orderer:k2"},
		Conditions: []keyserver.Condition{{Claim: "repository_id", Value: "4711"}}}
	mustNil(t, s.PutPolicy(ctx, pol, adminEvent(keyserver.ActionAdminPolicy, pol.ID)))
	mustCodeIs(t, s.DeletePolicy(ctx, "nopolicy", adminEvent(keyserver.ActionAdminPolicy, "nopolicy")), keyserver.ENOTFOUND)
	if recs := mustChain(t, s, auditlog.PoliciesChain); len(recs) != 1 || recs[0].Record.Target != pol.ID {
		t.Fatalf("the policies' chain holds %+v; want the put alone", recs)
	}

	// The sealer's index lists every chain an admin change wrote.
	found := map[string]bool{}
	pending, err := s.PendingChains(ctx)
	mustNil(t, err)
	for _, p := range pending {
		found[p.Chain] = true
	}
	for _, c := range []string{auditlog.KeysChain, auditlog.PoliciesChain, auditlog.SubjectChain(tsRequester.Subject)} {
		if !found[c] {
			t.Fatalf("the sealer's index lists %v; want %s", found, c)
		}
	}
	for _, c := range []string{auditlog.KeysChain, auditlog.PoliciesChain} {
		recs, err := s.UnsealedRecords(ctx, c, auditlog.Head{})
		if err != nil || len(recs) == 0 {
			t.Fatalf("UnsealedRecords(%s) = %d, %v", c, len(recs), err)
		}
	}
}

func mustCodeIs(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := keyserver.ErrorCode(err); got != code {
		tb.Fatalf("error %v has code %q, want %q", err, got, code)
	}
}

// TestAuditAdminChangesThroughTheAPI: an admin's changes are listed by GET
// /api/audit in the chains of what they changed, sealed by upkeep, and
// proved under a checkpoint; a refused change leaves no record.
func TestAuditAdminChangesThroughTheAPI(t *testing.T) {
	since := clock.Now().Add(-time.Second).UTC()
	subject := uniqueName("adminaudited")
	mustSubject(t, subject, "orderer:key1")
	keyID, _ := mustSigningKey(t, hsmfake.KeySpec{Name: uniqueName("adminaudit"), Kty: "EC-HSM", Crv: "P-256"}, 0)
	admin := mustToken(t, "adminclient")
	mustDo(t, "DELETE", "/api/admin/keys/"+uniqueName("nokey"), admin, nil).mustRefuse(t, http.StatusNotFound, "not_found")
	auditor := mustSubject(t, uniqueName("auditor"), "auditor")

	var page auditwire.Page
	target := subject + "@" + mustStack(t).AuthURL // an app's Principal.String()
	mustAudit(t, auditor, "/api/audit", url.Values{"event": {keyserver.ActionAdminSubject}, "subject": {target}}, &page)
	if len(page.Records) != 1 || page.Records[0].Chain != auditlog.SubjectChain(subject) {
		t.Fatalf("the subject's registration is listed as %+v; want one record in chain %s", page.Records, auditlog.SubjectChain(subject))
	}
	subRec := page.Records[0]
	page = auditwire.Page{}
	mustAudit(t, auditor, "/api/audit", url.Values{"event": {keyserver.ActionAdminKey}, "subject": {keyID}}, &page)
	if len(page.Records) != 1 || page.Records[0].Chain != auditlog.KeysChain || page.Records[0].Result != "ok" {
		t.Fatalf("the key's registration is listed as %+v; want one record in chain %s", page.Records, auditlog.KeysChain)
	}
	legacy := mustLegacyAdminRecord(t)
	mustSeal(t)
	for _, id := range []string{subRec.ID, page.Records[0].ID, legacy.ID()} {
		var inc auditwire.Inclusion
		mustAudit(t, auditor, "/api/audit/inclusion", url.Values{"record": {id}}, &inc)
		if inc.LeafHash != subRec.Hash && inc.LeafHash != page.Records[0].Hash && inc.LeafHash != legacy.LeafHash().String() {
			t.Fatalf("the inclusion proof of %s is of leaf %s", id, inc.LeafHash)
		}
	}
	env, dir := auditorEnv(t), t.TempDir()
	mustKSExit(t, 0, dir, env, "audit", "export", "--since", since.Format(time.RFC3339Nano), "log")
	if r := mustKSExit(t, 0, dir, env, "audit", "verify", "log"); !strings.HasPrefix(r.Stdout, "OK: ") {
		t.Fatalf("verify: %s%s", r.Stdout, r.Stderr)
	}
}

// mustLegacyAdminRecord appends a record to the admin chain as the
// Keyserver wrote them before admin changes were recorded with the change,
// and checks that GET /api/audit still lists it and ks audit verify passes.
func mustLegacyAdminRecord(tb testing.TB) auditlog.Record {
	tb.Helper()
	audit := tables(tb, "Audit")
	var head auditlog.Head
	pager := audit.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: to.Ptr("PartitionKey eq 'chain~admin'"), Top: to.Ptr[int32](1)})
	if page, err := pager.NextPage(context.Background()); err != nil {
		tb.Fatal(err)
	} else if len(page.Entities) > 0 {
		var m map[string]any
		mustNil(tb, json.Unmarshal(page.Entities[0], &m))
		prev, err := auditlog.ParseHash(m["Prev"].(string))
		mustNil(tb, err)
		t, err := time.Parse(auditwire.TimeLayout, m["Time"].(string))
		mustNil(tb, err)
		seq, _ := strconv.ParseUint(m["Seq"].(string), 10, 64)
		r := auditlog.Record{Chain: auditlog.AdminChain, Seq: seq, Prev: prev, Time: t, Event: m["Event"].(string), ActorIssuer: m["ActorIssuer"].(string),
			ActorSubject: m["ActorSubject"].(string), ActorKind: m["ActorKind"].(string), Target: m["Target"].(string), Result: m["Result"].(string), Detail: m["Detail"].(string)}
		head = auditlog.Head{Seq: seq, Hash: r.LeafHash()}
	}
	rec, _ := head.Chain(auditlog.Record{Chain: auditlog.AdminChain, Time: time.Now(), Event: keyserver.ActionAdminKey, ActorIssuer: "https://issuer.example",
		ActorSubject: "admin", ActorKind: "app", Target: "oldkey", Result: "ok", Detail: "put key oldkey hsmkey https://vault.example/keys/old channels 0"})
	upsert(tb, audit, map[string]any{"PartitionKey": "chain~admin", "RowKey": recordKey(rec.Seq), "Chain": rec.Chain,
		"Seq": strconv.FormatUint(rec.Seq, 10), "Seq@odata.type": "Edm.Int64", "Prev": rec.Prev.String(), "Time": rec.Time.Format(auditwire.TimeLayout),
		"Event": rec.Event, "ActorIssuer": rec.ActorIssuer, "ActorSubject": rec.ActorSubject, "ActorKind": rec.ActorKind, "OperationID": "", "KeyID": "",
		"Target": rec.Target, "Digest": "", "Result": rec.Result, "Detail": rec.Detail})
	var page auditwire.Page
	mustAudit(tb, mustSubject(tb, uniqueName("auditor"), "auditor"), "/api/audit", url.Values{"event": {keyserver.ActionAdminKey}, "subject": {"oldkey"}}, &page)
	for _, r := range page.Records {
		if r.ID == rec.ID() && r.Hash == rec.LeafHash().String() {
			return rec
		}
	}
	tb.Fatalf("GET /api/audit does not list the admin chain's record %s: %+v", rec.ID(), page.Records)
	return rec
}

// lostAnswers is a transport that sends a transaction to Table Storage and,
// while lose says so, tells the client it failed: the client tries again a
// transaction that was made.
type lostAnswers struct {
	next http.RoundTripper
	lose atomic.Int32
}

func (l *lostAnswers) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(req)
	if err != nil || !strings.Contains(req.URL.Path, "$batch") || l.lose.Add(-1) < 0 {
		return resp, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return &http.Response{StatusCode: http.StatusServiceUnavailable, Status: "503 Server Busy", Header: http.Header{}, Body: io.NopCloser(strings.NewReader("")), Request: req}, nil
}

// TestTablestoreAdminChangeRetriedAfterItsAnswerWasLost: a change whose
// transaction committed but whose answer was lost is tried again by the
// client; the retry finds the change's own record and reports success,
// with one record, not two (nor a delete refused as not found).
func TestTablestoreAdminChangeRetriedAfterItsAnswerWasLost(t *testing.T) {
	ctx := context.Background()
	s := mustTablestore(t)
	lost := &lostAnswers{}
	flaky, err := tablestore.NewFromConnectionString(azuriteConn, s.Prefix(), tablestore.WithRoundTripper(func(next http.RoundTripper) http.RoundTripper {
		lost.next = next
		return lost
	}))
	mustNil(t, err)
	lost.lose.Store(1)
	mustNil(t, flaky.PutKey(ctx, &keyserver.Key{KeyID: "k1", HSMKey: "https://hsm.example/keys/k1/v1", Enabled: true}, adminEvent(keyserver.ActionAdminKey, "k1")))
	lost.lose.Store(1)
	mustNil(t, flaky.DeleteKey(ctx, "k1", adminEvent(keyserver.ActionAdminKey, "k1")))
	if recs := mustChain(t, s, auditlog.KeysChain); len(recs) != 2 {
		t.Fatalf("the keys' chain holds %d records; want the put and the delete, once each", len(recs))
	}
}
