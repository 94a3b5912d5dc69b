package auditexport_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"keyserver/internal/api"
	"keyserver/internal/auditlog"
	"keyserver/internal/auditlog/audittest"
	"keyserver/internal/keyserver"
	"keyserver/internal/keyserver/memstore"
	"keyserver/internal/ksc"
)

type auditorTokens struct{}

func (auditorTokens) Verify(_ context.Context, tok string) (keyserver.Identity, error) {
	return keyserver.Identity{Principal: keyserver.Principal{Issuer: "https://issuer.test", Subject: tok}}, nil
}

type staticToken string

func (s staticToken) Token(context.Context, bool) (string, error) { return string(s), nil }

// exportFlow serves the audit routes over in-memory ports, with records in
// three chains sealed under two checkpoints and one record after them.
func exportFlow(t *testing.T) (*keyserver.MemTrail, *ksc.Client) {
	key, _ := audittest.NewKey(t)
	store := memstore.New()
	trail := keyserver.NewMemTrail(time.Now)
	svc := &keyserver.Service{Ops: store, Keys: store, Subjects: store, Audit: trail, Trail: trail, HSM: key, AuditKey: "audit", Limits: keyserver.DefaultLimits}
	ctx := context.Background()
	if err := store.PutSubject(ctx, &keyserver.Subject{Principal: keyserver.Principal{Issuer: "https://issuer.test", Subject: "carol"}, Roles: []string{"auditor"}}, keyserver.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	write := func(op string, n int) {
		for i := 0; i < n; i++ {
			if _, err := trail.RecordOperationEvent(ctx, op, keyserver.AuditEvent{Time: time.Now(), Action: keyserver.ActionSign, OperationID: op, Result: "ok"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	write("aaaa", 3)
	write("bbbb", 2)
	if err := trail.RecordAudit(ctx, keyserver.AuditEvent{Time: time.Now(), Action: keyserver.ActionAdminKey, Target: "key1", Result: "ok"}); err != nil {
		t.Fatal(err)
	}
	mustSeal(t, svc)
	write("aaaa", 2)
	mustSeal(t, svc)
	write("bbbb", 1)
	srv := httptest.NewServer((&api.Server{Service: svc, Verifier: auditorTokens{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler())
	t.Cleanup(srv.Close)
	base, _ := url.Parse(srv.URL)
	return trail, &ksc.Client{Base: base, HTTP: srv.Client(), Tokens: staticToken("carol")}
}

func mustSeal(t *testing.T, svc *keyserver.Service) {
	t.Helper()
	if n, err := svc.SealAudit(context.Background()); err != nil || n != 1 {
		t.Fatalf("SealAudit = %d, %v", n, err)
	}
}

func exportAndVerify(t *testing.T, src *ksc.Client) (*auditlog.Report, string) {
	t.Helper()
	return verifyDir(t, exportTo(t, src, time.Time{}))
}

func TestExportThenVerify(t *testing.T) {
	_, src := exportFlow(t)
	rep, out := exportAndVerify(t, src)
	if !rep.OK() || rep.Records != 10 || rep.Sealed != 9 || rep.Checkpoints != 2 || !strings.HasPrefix(out, "OK: 10 records (9 under a checkpoint), 2 checkpoints") {
		t.Fatalf("verify of an untouched export: %q", out)
	}
}

func TestExportedTampersAreNamed(t *testing.T) {
	a := auditlog.OperationChain("aaaa")
	cases := []struct {
		name   string
		tamper func(chains map[string][]auditlog.Stored, trail *keyserver.MemTrail)
		want   string
	}{
		{"edit", func(c map[string][]auditlog.Stored, _ *keyserver.MemTrail) { c[a][1].Record.Result = "refused" }, "record " + a + "#2 edited"},
		{"delete", func(c map[string][]auditlog.Stored, _ *keyserver.MemTrail) { c[a] = slices.Delete(c[a], 2, 3) }, "record " + a + "#3 deleted"},
		{"swap", func(c map[string][]auditlog.Stored, _ *keyserver.MemTrail) {
			c[a][0].Record, c[a][1].Record = c[a][1].Record, c[a][0].Record
		}, "record " + a + "#1 reordered"},
		{"insert", func(c map[string][]auditlog.Stored, _ *keyserver.MemTrail) {
			forged := c[a][1]
			forged.Record.Detail = "forged"
			c[a] = slices.Insert(c[a], 2, forged)
		}, "record " + a + "#2 inserted"},
		{"drop a checkpoint", func(_ map[string][]auditlog.Stored, tr *keyserver.MemTrail) { tr.DropCheckpoint(1) }, "checkpoint 1: checkpoint missing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			trail, src := exportFlow(t)
			tc.tamper(trail.Chains(), trail)
			rep, out := exportAndVerify(t, src)
			if rep.OK() || !strings.HasPrefix(out, "FAILED: "+tc.want) {
				t.Fatalf("verify = %q, want FAILED: %s", out, tc.want)
			}
		})
	}
}
