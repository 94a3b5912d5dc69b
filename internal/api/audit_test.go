package api

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"crypto/x509"
	"encoding/pem"

	"keyserver/internal/auditlog"
	"keyserver/internal/auditlog/audittest"
	"keyserver/internal/auditwire"
	"keyserver/internal/keyserver"
	"keyserver/internal/keyserver/memstore"
)

// nameTokens is a TokenVerifier whose tokens are subject names.
type nameTokens struct{}

func (nameTokens) Verify(_ context.Context, tok string) (keyserver.Identity, error) {
	return keyserver.Identity{Principal: keyserver.Principal{Issuer: "https://issuer.test", Subject: tok}}, nil
}

type auditFixture struct {
	t       *testing.T
	svc     *keyserver.Service
	trail   *keyserver.MemTrail
	handler http.Handler
	opA     *keyserver.Operation
	opB     *keyserver.Operation
	ids     map[string]string // name -> a record id
}

func newAuditFixture(t *testing.T) *auditFixture {
	key, _ := audittest.NewKey(t)
	store := memstore.New()
	now := time.Now()
	trail := keyserver.NewMemTrail(func() time.Time { return now })
	store.RecordInto(trail)
	svc := &keyserver.Service{Ops: store, Keys: store, Subjects: store, Policies: store, Audit: trail, Trail: trail, AuditKey: "https://vault.example/keys/audit",
		HSM: key, Limits: keyserver.DefaultLimits}
	f := &auditFixture{t: t, svc: svc, trail: trail, ids: map[string]string{},
		handler: (&Server{Service: svc, Verifier: nameTokens{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler()}
	ctx := context.Background()
	mustNil(t, store.PutKey(ctx, &keyserver.Key{KeyID: "key1", HSMKey: "https://vault.example/keys/k1", Enabled: true}, keyserver.AuditEvent{}))
	for name, roles := range map[string][]string{"alice": {"orderer:key1"}, "bob": {"orderer:key1"}, "carol": {"auditor"}, "dave": {"admin"}} {
		mustNil(t, store.PutSubject(ctx, &keyserver.Subject{Principal: keyserver.Principal{Issuer: "https://issuer.test", Subject: name}, Roles: roles}, keyserver.AuditEvent{}))
	}
	f.opA = f.create("alice")
	f.opB = f.create("bob")
	f.record("a-sign", f.opA, "alice", keyserver.ActionSign)
	f.record("b-sign", f.opB, "bob", keyserver.ActionSign)
	return f
}

func (f *auditFixture) caller(name string) keyserver.Caller {
	c, err := f.svc.Caller(context.Background(), keyserver.Identity{Principal: keyserver.Principal{Issuer: "https://issuer.test", Subject: name}})
	mustNil(f.t, err)
	return c
}

// create opens an operation and writes its create record.
func (f *auditFixture) create(requester string) *keyserver.Operation {
	op, err := f.svc.CreateOperation(context.Background(), f.caller(requester), &keyserver.OperationRequest{ValidMS: 60000, Description: "firmware build",
		Keys: []keyserver.KeyRequest{{KeyID: "key1", MaxUsageCount: 2}}})
	mustNil(f.t, err)
	f.record(requester+"-create", op, requester, keyserver.ActionCreate)
	return op
}

func (f *auditFixture) record(name string, op *keyserver.Operation, actor, action string) {
	id, err := f.trail.RecordOperationEvent(context.Background(), op.ID, keyserver.AuditEvent{Time: time.Now(), Action: action, OperationID: op.ID, KeyID: "key1",
		Actor: keyserver.Principal{Issuer: "https://issuer.test", Subject: actor}, Result: "ok"})
	mustNil(f.t, err)
	f.ids[name] = id
}

func (f *auditFixture) get(path, token string, out any) int {
	f.t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	if out != nil && rec.Code == http.StatusOK {
		mustNil(f.t, json.Unmarshal(rec.Body.Bytes(), out))
	}
	return rec.Code
}

func TestAuditListing(t *testing.T) {
	f := newAuditFixture(t)
	var page auditwire.Page
	if code := f.get("/api/audit", "carol", &page); code != 200 || len(page.Records) != 4 || page.Next != "" {
		t.Fatalf("auditor lists %d records (%d), next %q; want all 4", len(page.Records), code, page.Next)
	}
	seen := 0
	for path := "/api/audit?limit=3"; path != ""; {
		page = auditwire.Page{}
		if code := f.get(path, "carol", &page); code != 200 {
			t.Fatalf("%s: %d", path, code)
		}
		seen += len(page.Records)
		path = ""
		if page.Next != "" {
			path = "/api/audit?limit=3&page=" + url.QueryEscape(page.Next)
		}
	}
	if seen != 4 {
		t.Errorf("paging saw %d records, want 4", seen)
	}
	page = auditwire.Page{}
	f.get("/api/audit?event=sign&subject=bob", "carol", &page)
	if len(page.Records) != 1 || page.Records[0].ID != f.ids["b-sign"] {
		t.Errorf("event and subject filters gave %+v", page.Records)
	}
	page = auditwire.Page{}
	if code := f.get("/api/audit?operation="+f.opA.ID, "alice", &page); code != 200 || len(page.Records) != 2 {
		t.Errorf("the requester lists %d records of its operation (%d), want 2", len(page.Records), code)
	}
	for _, r := range page.Records {
		if r.OperationID != f.opA.ID {
			t.Errorf("the requester sees a record of operation %s", r.OperationID)
		}
	}
	for _, tc := range []struct {
		path, who string
		want      int
	}{
		{"/api/audit", "alice", http.StatusForbidden},
		{"/api/audit?operation=" + f.opB.ID, "alice", http.StatusNotFound},
		{"/api/audit?limit=0", "carol", http.StatusBadRequest},
		{"/api/audit?from=yesterday", "carol", http.StatusBadRequest},
	} {
		if code := f.get(tc.path, tc.who, nil); code != tc.want {
			t.Errorf("GET %s as %s = %d, want %d", tc.path, tc.who, code, tc.want)
		}
	}
}

func TestAuditCheckpointsAndProofs(t *testing.T) {
	f := newAuditFixture(t)
	ctx := context.Background()
	if code := f.get("/api/audit/checkpoints/latest", "carol", nil); code != http.StatusNotFound {
		t.Fatalf("latest checkpoint before any seal = %d, want 404", code)
	}
	if n, err := f.svc.SealAudit(ctx); err != nil || n != 1 {
		t.Fatalf("SealAudit = %d, %v", n, err)
	}
	f.record("a-sign2", f.opA, "alice", keyserver.ActionSign)
	if n, err := f.svc.SealAudit(ctx); err != nil || n != 1 {
		t.Fatalf("SealAudit = %d, %v", n, err)
	}
	var key auditwire.Key
	if code := f.get("/api/audit/key", "alice", &key); code != 200 {
		t.Fatalf("GET /api/audit/key = %d", code)
	}
	blk, _ := pem.Decode([]byte(key.Certificate))
	if blk == nil {
		t.Fatalf("the audit certificate is not PEM: %q", key.Certificate)
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	mustNil(t, err)
	if key.SHA256 != keyserver.CertificateSHA256(cert.Raw) {
		t.Errorf("sha256 = %s, want that of the certificate's DER", key.SHA256)
	}
	var latest auditwire.Checkpoint
	if code := f.get("/api/audit/checkpoints/latest", "carol", &latest); code != 200 || latest.N != 2 || latest.Size != 6 || len(latest.Leaves) != 1 {
		t.Fatalf("latest = %d %+v; want checkpoint 2 of 6 leaves (the 4 records and the audit certificate's, then 1), listing the 1 it added", code, latest)
	}
	sealed, err := latest.Sealed()
	mustNil(t, err)
	mustNil(t, auditlog.VerifySignature(cert, &sealed.Checkpoint, sealed.Signature))
	var first auditwire.Checkpoint
	if code := f.get("/api/audit/checkpoints/1", "alice", &first); code != 200 || len(first.Leaves) != 0 || first.Size != 5 {
		t.Errorf("checkpoint 1 for a requester = %d, %d leaves, size %d; want it without leaves", code, len(first.Leaves), first.Size)
	}

	var inc auditwire.Inclusion
	path := "/api/audit/inclusion?record=" + url.QueryEscape(f.ids["a-sign"])
	if code := f.get(path, "alice", &inc); code != 200 || inc.Checkpoint != 2 {
		t.Fatalf("inclusion proof = %d %+v", code, inc)
	}
	proof, err := auditwire.ParseHashes(inc.Proof)
	mustNil(t, err)
	leaf, _ := auditlog.ParseHash(inc.LeafHash)
	mustNil(t, auditlog.VerifyInclusion(inc.LeafIndex, latest.Size, leaf, proof, sealed.Checkpoint.Root))
	if code := f.get(path, "bob", nil); code != http.StatusNotFound {
		t.Errorf("another requester's inclusion proof = %d, want 404", code)
	}
	if code := f.get("/api/audit/inclusion?checkpoint=1&record="+url.QueryEscape(f.ids["a-sign2"]), "carol", nil); code != http.StatusNotFound {
		t.Errorf("a proof under a checkpoint older than the record = %d, want 404", code)
	}

	var cons auditwire.Consistency
	if code := f.get("/api/audit/consistency?from=1&to=latest", "alice", &cons); code != 200 || cons.FromSize != 5 || cons.ToSize != 6 {
		t.Fatalf("consistency = %d %+v", code, cons)
	}
	cp, err := auditwire.ParseHashes(cons.Proof)
	mustNil(t, err)
	firstSealed, err := first.Sealed()
	mustNil(t, err)
	mustNil(t, auditlog.VerifyConsistency(5, 6, cp, firstSealed.Checkpoint.Root, sealed.Checkpoint.Root))
	for _, p := range []string{"/api/audit/consistency?from=0", "/api/audit/checkpoints/x", "/api/audit/inclusion"} {
		if code := f.get(p, "carol", nil); code != http.StatusBadRequest {
			t.Errorf("GET %s = %d, want 400", p, code)
		}
	}
	if code := f.get("/api/audit/checkpoints/9", "carol", nil); code != http.StatusNotFound {
		t.Errorf("an unknown checkpoint = %d, want 404", code)
	}
}

// Proofs come from the stored tiles, checked against the signed root: a
// changed tile is an error, never a proof.
func TestAuditProofOverATamperedTileIsAnError(t *testing.T) {
	f := newAuditFixture(t)
	ctx := context.Background()
	if _, err := f.svc.SealAudit(ctx); err != nil {
		t.Fatal(err)
	}
	path := "/api/audit/inclusion?record=" + url.QueryEscape(f.ids["a-sign"])
	if code := f.get(path, "carol", nil); code != 200 {
		t.Fatalf("inclusion proof = %d", code)
	}
	f.trail.TamperTile(0, 0, 3*32+1)
	// A new process: nothing verified is kept from before.
	f.svc = &keyserver.Service{Ops: f.svc.Ops, Keys: f.svc.Keys, Subjects: f.svc.Subjects, Audit: f.trail, Trail: f.trail,
		AuditKey: f.svc.AuditKey, HSM: f.svc.HSM, Limits: keyserver.DefaultLimits}
	f.handler = (&Server{Service: f.svc, Verifier: nameTokens{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler()
	req := httptest.NewRequest("GET", path, nil)
	req.Header.Set("Authorization", "Bearer carol")
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	var body struct{ Error, Message string }
	if rec.Code != http.StatusInternalServerError || json.Unmarshal(rec.Body.Bytes(), &body) != nil || body.Error == "" {
		t.Fatalf("inclusion proof over a tampered tile = %d %s; want a 500 JSON error", rec.Code, rec.Body)
	}
	if code := f.get("/api/audit/consistency?from=1&to=latest", "carol", nil); code != 200 {
		t.Fatalf("a consistency proof from a checkpoint to itself needs no tile: %d", code)
	}
}

// TestAuditListsAdminChanges: admin changes are listed in the chains of
// what they change, and filtered by event and target.
func TestAuditListsAdminChanges(t *testing.T) {
	f := newAuditFixture(t)
	ctx := context.Background()
	sub := &keyserver.Subject{Principal: keyserver.Principal{Issuer: "https://issuer.test", Subject: "erin"}, Roles: []string{"orderer:key1"}}
	mustNil(t, f.svc.PutSubject(ctx, f.caller("dave"), sub))
	mustNil(t, f.svc.PutPolicy(ctx, f.caller("dave"), &keyserver.Policy{ID: "p1", Issuer: "https://ci.test", Roles: []string{"orderer:key1"},
		Conditions: []keyserver.Condition{{Claim: "repository", Value: "octo/fw"}}}))
	if err := f.svc.DeleteKey(ctx, f.caller("dave"), "nokey"); keyserver.ErrorCode(err) != keyserver.ENOTFOUND {
		t.Fatalf("deleting an unknown key: %v", err)
	}
	for event, chain := range map[string]string{keyserver.ActionAdminSubject: auditlog.SubjectChain("erin"), keyserver.ActionAdminPolicy: auditlog.PoliciesChain} {
		var page auditwire.Page
		if code := f.get("/api/audit?event="+event, "carol", &page); code != 200 || len(page.Records) != 1 || page.Records[0].Chain != chain || page.Records[0].Seq != 1 {
			t.Errorf("%s lists %+v (%d); want one record of chain %s", event, page.Records, code, chain)
		}
	}
	var page auditwire.Page
	if f.get("/api/audit?event="+keyserver.ActionAdminKey, "carol", &page); len(page.Records) != 0 {
		t.Errorf("the refused delete left records %+v", page.Records)
	}
}
