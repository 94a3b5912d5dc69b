package kscli

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"keyserver/internal/api"
	"keyserver/internal/auditlog/audittest"
	"keyserver/internal/keyserver"
	"keyserver/internal/keyserver/memstore"
)

type auditorTokens struct{}

func (auditorTokens) Verify(_ context.Context, tok string) (keyserver.Identity, error) {
	if tok != testToken {
		return keyserver.Identity{}, keyserver.Errorf(keyserver.EUNAUTHENTICATED, "unknown token")
	}
	return keyserver.Identity{Principal: keyserver.Principal{Issuer: "https://issuer.test", Subject: "auditor"}}, nil
}

// auditHarness runs ks against the Keyserver's own handler over in-memory
// ports, with two sealed checkpoints and a record after them.
func auditHarness(t *testing.T) (*harness, *keyserver.MemTrail) {
	h := newHarness(t)
	key, _ := audittest.NewKey(t)
	store := memstore.New()
	trail := keyserver.NewMemTrail(time.Now)
	svc := &keyserver.Service{Ops: store, Keys: store, Subjects: store, Audit: trail, Trail: trail, HSM: key, AuditKey: "audit", Limits: keyserver.DefaultLimits}
	ctx := context.Background()
	mustOK(t, store.PutSubject(ctx, &keyserver.Subject{Principal: keyserver.Principal{Issuer: "https://issuer.test", Subject: "auditor"}, Roles: []string{"auditor"}}, keyserver.AuditEvent{}))
	for i, op := range []string{"aaaa", "aaaa", "bbbb", "-", "aaaa", "+", "bbbb"} {
		switch op {
		case "-", "+":
			if n, err := svc.SealAudit(ctx); err != nil || n != 1 {
				t.Fatalf("SealAudit = %d, %v", n, err)
			}
		default:
			_, err := trail.RecordOperationEvent(ctx, op, keyserver.AuditEvent{Time: time.Now(), Action: keyserver.ActionSign, OperationID: op, Result: "ok", Detail: string(rune('a' + i))})
			mustOK(t, err)
		}
	}
	srv := httptest.NewServer((&api.Server{Service: svc, Verifier: auditorTokens{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler())
	t.Cleanup(srv.Close)
	h.env["KSC_API_SERVER"] = srv.URL
	h.clock.t = time.Now()
	return h, trail
}

func mustOK(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

func TestAuditExportAndVerify(t *testing.T) {
	h, trail := auditHarness(t)
	if r := h.mustRun(0, "audit", "export", "old"); !strings.Contains(r.stdout, "exported 6 records and 2 checkpoints") {
		t.Fatalf("export said %q", r.stdout)
	}
	if r := h.mustRun(0, "audit", "verify", "old"); !strings.HasPrefix(r.stdout, "OK: 6 records (5 under a checkpoint), 2 checkpoints") {
		t.Fatalf("verify said %q", r.stdout)
	}
	// A record edited in the export is named.
	recs := filepath.Join(h.dir, "old", "records.jsonl")
	b, err := os.ReadFile(recs)
	mustOK(t, err)
	mustOK(t, os.WriteFile(recs, []byte(strings.Replace(string(b), `"detail":"b"`, `"detail":"x"`, 1)), 0o644))
	h.mustFail(ExitTampered, "record op/aaaa#2 edited", "audit", "verify", "old")
	mustOK(t, os.WriteFile(recs, b, 0o644))

	// A dropped latest checkpoint is caught against an earlier export.
	trail.DropCheckpoint(2)
	h.mustRun(0, "audit", "export", "new")
	h.mustRun(0, "audit", "verify", "new")
	h.mustFail(ExitTampered, "checkpoint 2: checkpoint missing", "audit", "verify", "--known", "old", "new")

	h.mustFail(ExitUsage, "name what to do", "audit")
	h.mustFail(ExitUsage, "is not a directory", "audit", "verify", "nowhere")
	h.mustFail(ExitUsage, "not an RFC 3339 time", "audit", "export", "--since", "yesterday", "x")
	h.env["KSC_ID_TOKEN"] = "someone-else"
	h.mustFail(ExitAuth, "exporting the audit log", "audit", "export", "denied")
}
