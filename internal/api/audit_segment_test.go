package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"keyserver/internal/auditlog"
)

// A segment row is not signed: one widened by a record makes the record
// after a chain's last map to another record's leaf. The inclusion route
// reads the record and refuses a proof whose leaf is not its hash.
func TestAuditProofForARecordTheLogDoesNotHoldIsAnError(t *testing.T) {
	f := newAuditFixture(t)
	if _, err := f.svc.SealAudit(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The chain sealed first: the record after its last maps to a leaf of
	// the other chain.
	var chain string
	var seq, first uint64
	for _, name := range []string{"a-sign", "b-sign"} {
		c, n, err := auditlog.ParseRecordID(f.ids[name])
		mustNil(t, err)
		seg, err := f.trail.SealedAt(context.Background(), c, n)
		mustNil(t, err)
		if chain == "" || seg.Leaf < first {
			chain, seq, first = c, n, seg.Leaf
		}
	}
	f.trail.TamperSegment(chain, 1)
	path := "/api/audit/inclusion?record=" + url.QueryEscape(auditlog.RecordID(chain, seq+1))
	req := httptest.NewRequest("GET", path, nil)
	req.Header.Set("Authorization", "Bearer carol")
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	var body struct{ Error, Message string }
	if rec.Code != http.StatusInternalServerError || json.Unmarshal(rec.Body.Bytes(), &body) != nil || !strings.Contains(body.Message, "verify the log") {
		t.Fatalf("inclusion proof of %s#%d, which the log does not hold = %d %s; want a 500 that says to verify the log", chain, seq+1, rec.Code, rec.Body)
	}
	if code := f.get("/api/audit/inclusion?record="+url.QueryEscape(auditlog.RecordID(chain, seq)), "carol", nil); code != http.StatusOK {
		t.Fatalf("inclusion proof of a record the log holds = %d", code)
	}
}
