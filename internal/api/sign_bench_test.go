package api

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"keyserver/internal/keyserver"
	"keyserver/internal/keyserver/memhsm"
	"keyserver/internal/keyserver/memstore"
)

// BenchmarkSignOrderHTTP posts sign orders through the handler, on the
// in-memory store and HSM (an RSA-2048 key, its signatures verified): the
// HTTP layer's and the domain's work per signature, without a table
// service or a Key Vault. Its allocations are the figure to watch.
func BenchmarkSignOrderHTTP(b *testing.B) {
	ctx := context.Background()
	store := memstore.New()
	root := keyserver.Principal{Issuer: issuer, Subject: "root"}
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	must(store.PutSubject(ctx, &keyserver.Subject{Principal: root, Name: "root", Roles: []string{keyserver.RoleAdmin}}, keyserver.AuditEvent{}))
	must(store.PutKey(ctx, &keyserver.Key{KeyID: "key1", HSMKey: "rsa2048", Algorithm: "RSA-2048", Enabled: true}, keyserver.AuditEvent{}))
	svc := &keyserver.Service{Ops: store, Keys: store, Subjects: store, Audit: store, Limits: keyserver.DefaultLimits,
		HSM: keyserver.Verified(memhsm.New()), CacheTTL: 10 * time.Second, AuditKey: "https://vault.test/keys/audit"}
	h := (&Server{Service: svc, Verifier: tokenIsSubject{}, Log: slog.New(slog.NewJSONHandler(io.Discard, nil))}).Handler()
	c, err := svc.Caller(ctx, keyserver.Identity{Principal: root})
	must(err)
	op, err := svc.CreateOperation(ctx, c, &keyserver.OperationRequest{ValidMS: 3600000, Description: "benchmark run",
		Keys: []keyserver.KeyRequest{{KeyID: "key1", MaxUsageCount: 1000}}})
	must(err)
	digest := sha256.Sum256([]byte("benchmark"))
	body, err := json.Marshal(SignOrder{OperationID: op.ID, KeyID: "key1", InputFormat: "hex", Description: "benchmark",
		InputData: hex.EncodeToString(keyserver.DigestInfo(crypto.SHA256, digest[:])), InputPadding: "digestinfo", SignatureFormat: "asn1"})
	must(err)
	if b.N > 1000 {
		b.Fatalf("%d signatures asked of an operation of 1000 uses; use -benchtime 900x", b.N)
	}
	b.ReportAllocs()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "/api/signorders", bytes.NewReader(body))
		r.Header.Set("Authorization", "Bearer root")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusCreated {
			b.Fatal(w.Code, w.Body.String())
		}
	}
}
