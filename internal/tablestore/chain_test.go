package tablestore_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"keyserver/internal/auditlog"
	"keyserver/internal/auditlog/audittest"
	"keyserver/internal/keyserver"
	"keyserver/internal/tablestore"
)

func mustSealer(tb testing.TB, s *tablestore.Store) *auditlog.Sealer {
	tb.Helper()
	key, cert := audittest.NewKey(tb)
	return &auditlog.Sealer{Store: s, Signer: key, Certificate: cert, Now: time.Now, Tiles: &auditlog.TileCache{}}
}

// exportAll reads every record and checkpoint as `ks audit export` would.
func exportAll(tb testing.TB, s *tablestore.Store, cert *x509.Certificate) *auditlog.Log {
	tb.Helper()
	ctx := context.Background()
	l := &auditlog.Log{Certificate: cert}
	f := keyserver.AuditFilter{Limit: 7}
	for {
		recs, next, err := s.ListAudit(ctx, f)
		if err != nil {
			tb.Fatalf("ListAudit: %v", err)
		}
		l.Records = append(l.Records, recs...)
		if next == "" {
			break
		}
		f.Page = next
	}
	cps, err := s.Checkpoints(ctx, 1, 1000)
	if err != nil {
		tb.Fatalf("Checkpoints: %v", err)
	}
	l.Checkpoints = cps
	return l
}

// Writers in two processes append to one operation's chain and to the admin
// chain at once: every record gets its own place, linked to the one before.
func TestChainsUnderConcurrentWriters(t *testing.T) {
	stores := mustStores(t, 2)
	ctx := context.Background()
	op := mustOperation(t, stores[0], 5)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := 0; i < 10; i++ {
		for j, s := range stores {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ev := keyserver.AuditEvent{Actor: requester, Action: keyserver.ActionSign, OperationID: op.ID, KeyID: "k1", Result: "refused: not_approved", Detail: fmt.Sprint(i, j)}
				errs <- s.RecordEvent(ctx, op.ID, ev)
				errs <- s.RecordAudit(ctx, keyserver.AuditEvent{Actor: requester, Action: keyserver.ActionAdminKey, Target: "k1", Result: "ok", Detail: fmt.Sprint("put key k1 ", i, j)})
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	recs, err := stores[1].ChainRecords(ctx, auditlog.OperationChain(op.ID), 1)
	if err != nil || len(recs) != 21 { // the create record and 20 refusals
		t.Fatalf("ChainRecords = %d records, %v; want 21", len(recs), err)
	}
	sealer := mustSealer(t, stores[0])
	rep := auditlog.Verify(exportAll(t, stores[0], sealer.Certificate))
	if !rep.OK() || rep.Records < 41 {
		t.Fatalf("verify: %v (%d records)", rep.Problems, rep.Records)
	}
	evs, err := stores[0].OperationEvents(ctx, op.ID)
	if err != nil || len(evs) != 21 || evs[0].Action != keyserver.ActionCreate {
		t.Fatalf("OperationEvents = %d events, %v", len(evs), err)
	}
}

// The sealer seals what the tables hold into checkpoints the verifier
// accepts; a second sealer over the same tables loses the race cleanly.
func TestSealingTableStorage(t *testing.T) {
	stores := mustStores(t, 2)
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		mustOperation(t, stores[0], 1)
	}
	sealer := mustSealer(t, stores[0])
	if n, err := sealer.Seal(ctx); err != nil || n != 1 {
		t.Fatalf("Seal = %d, %v", n, err)
	}
	op := mustOperation(t, stores[1], 1)
	if err := stores[1].RecordEvent(ctx, op.ID, keyserver.AuditEvent{Actor: requester, Action: keyserver.ActionCancel, OperationID: op.ID, Result: "ok"}); err != nil {
		t.Fatal(err)
	}
	if n, err := sealer.Seal(ctx); err != nil || n != 1 {
		t.Fatalf("second Seal = %d, %v", n, err)
	}
	latest, err := stores[1].LatestCheckpoint(ctx)
	if err != nil || latest.Checkpoint.N != 2 || latest.Checkpoint.Size < 5 {
		t.Fatalf("LatestCheckpoint = %+v, %v", latest, err)
	}
	rep := auditlog.Verify(exportAll(t, stores[1], sealer.Certificate))
	if !rep.OK() || rep.Sealed != rep.Records {
		t.Fatalf("verify: %v; %d of %d sealed", rep.Problems, rep.Sealed, rep.Records)
	}
	other := mustSealer(t, stores[1])
	other.Certificate = sealer.Certificate
	other.Signer = sealer.Signer
	mustOperation(t, stores[1], 1)
	stale := &auditlog.Sealed{Checkpoint: auditlog.Checkpoint{N: 2}}
	if err := stores[1].PutCheckpoint(ctx, stale, auditlog.SealState{}); err == nil {
		t.Fatal("a second checkpoint 2 was written")
	}
	// Two processes record a certificate of one key version: the second
	// finds one stored, even one it made itself.
	key, cert := audittest.NewKey(t)
	pemOf := func(c *x509.Certificate) string {
		return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
	}
	c := keyserver.AuditCertificate{PEM: pemOf(cert), SHA256: keyserver.CertificateSHA256(cert.Raw), HSMKey: "https://vault.example/keys/audit/v1"}
	ev := keyserver.AuditEvent{Action: keyserver.ActionAuditKey, Target: c.SHA256, Result: "ok"}
	if _, err := stores[0].AddAuditCertificate(ctx, c, ev); err != nil {
		t.Fatalf("AddAuditCertificate: %v", err)
	}
	signer, err := key.Open(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	again, err := keyserver.SelfSign(ctx, signer, "keyserver audit", time.Now()) // another certificate of the same key
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stores[1].AddAuditCertificate(ctx, keyserver.AuditCertificate{PEM: again, SHA256: strings.Repeat("cd", 32)}, ev); !errors.Is(err, auditlog.ErrConflict) {
		t.Fatalf("a second certificate of one key = %v, want a conflict", err)
	}
	if certs, err := stores[1].AuditCertificates(ctx); err != nil || len(certs) != 1 || certs[0].Record != auditlog.AuditKeyChain+"#1" || certs[0].HSMKey != c.HSMKey || certs[0].SHA256 != c.SHA256 {
		t.Fatalf("AuditCertificates = %+v, %v", certs, err)
	}
}

// Two processes complete uses of one operation at once: each completion's
// record rides in its transaction, and one that lost its place to the other
// process is written again after it, never lost or doubled.
func TestRecordsRideInTransactionsOfTwoProcesses(t *testing.T) {
	stores := mustStores(t, 2)
	ctx := context.Background()
	op := mustOperation(t, stores[0], 20)
	var wg sync.WaitGroup
	ids := make(chan string, 20)
	errs := make(chan error, 20)
	for i := 0; i < 10; i++ {
		for _, s := range stores {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := s.ReserveUse(ctx, op.ID, "k1", 20)
				if err == nil {
					err = s.CompleteUse(ctx, r, keyserver.AuditEvent{Actor: requester, Action: keyserver.ActionSign, OperationID: op.ID, KeyID: "k1", Result: "ok"})
				}
				errs <- err
				ids <- r.AuditRecord
			}()
		}
	}
	wg.Wait()
	close(errs)
	close(ids)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for id := range ids {
		if seen[id] || id == "" {
			t.Fatalf("record id %q given twice or empty", id)
		}
		seen[id] = true
	}
	recs, err := stores[0].ChainRecords(ctx, auditlog.OperationChain(op.ID), 1)
	if err != nil || len(recs) != 21 {
		t.Fatalf("ChainRecords = %d, %v; want the create record and 20 signatures", len(recs), err)
	}
	for _, r := range recs[1:] {
		if !seen[r.Record.ID()] {
			t.Errorf("record %s was named by no completion", r.Record.ID())
		}
	}
	if rep := auditlog.Verify(&auditlog.Log{Records: recs}); !rep.OK() {
		t.Fatalf("the chain does not verify: %v", rep.Problems)
	}
}

// Refused reservations and refusal records of one operation, at once: a
// batch may then hold records and no granted reservation.
func TestRecordsBesideRefusedReservations(t *testing.T) {
	s := mustStores(t, 1)[0]
	ctx := context.Background()
	op := mustOperation(t, s, 1)
	if _, err := s.ReserveUse(ctx, op.ID, "k1", 1); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := 0; i < 20; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, err := s.ReserveUse(ctx, op.ID, "k1", 1)
			if keyserver.ErrorCode(err) == keyserver.EEXHAUSTED {
				err = nil
			}
			errs <- err
		}()
		go func() {
			defer wg.Done()
			errs <- s.RecordEvent(ctx, op.ID, keyserver.AuditEvent{Actor: requester, Action: keyserver.ActionSign, OperationID: op.ID, KeyID: "k1", Result: "refused: usage_exhausted"})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	recs, err := s.ChainRecords(ctx, auditlog.OperationChain(op.ID), 1)
	if err != nil || len(recs) != 21 {
		t.Fatalf("ChainRecords = %d, %v; want the create record and 20 refusals", len(recs), err)
	}
}
