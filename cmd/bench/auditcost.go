package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"keyserver/internal/azurite"
	"keyserver/internal/keyserver"
	"keyserver/internal/localstack"
	"keyserver/internal/tablestore"
)

// softKeys is an HSM in memory: what the audit chain costs is table calls,
// which an HSM round trip would only hide.
type softKeys struct{ k *ecdsa.PrivateKey }

func (s softKeys) Open(context.Context, string) (keyserver.ContextSigner, error) { return s, nil }
func (s softKeys) Public() crypto.PublicKey                                      { return &s.k.PublicKey }
func (s softKeys) SignContext(_ context.Context, d []byte, _ crypto.SignerOpts) ([]byte, error) {
	return ecdsa.SignASN1(rand.Reader, s.k, d)
}

// auditCost signs n times through the domain and Table Storage, once with
// audit records chained and once with them as the plain rows they were
// before, and prints the table calls per signature of each, side by side:
// from one process, and from two processes taking turns on one operation
// (each then reads the chain's head the other moved).
func auditCost(ctx context.Context, st *localstack.Stack, n int) error {
	// A counter of its own: the handler's traffic does not pass through it.
	counter, proxyURL, err := startTableCounter(fmt.Sprintf("http://127.0.0.1:%d", st.Azurite.Port))
	if err != nil {
		return err
	}
	connStr := fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;TableEndpoint=%s/%s;",
		azurite.AccountName, azurite.AccountKey, proxyURL, azurite.AccountName)
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	fmt.Printf("\nWhat the audit chain costs: table calls per signature, %d signatures per row\n", n)
	fmt.Printf("%-44s %10s %10s %10s %14s\n", "audit records", "writes", "reads", "sign/s", "sign/s ratio")
	for _, processes := range []int{1, 2} {
		var plain costRow
		for _, unchained := range []bool{true, false} {
			row, err := signWith(ctx, connStr, softKeys{k}, counter, unchained, processes, n)
			if err != nil {
				return fmt.Errorf("%d processes: %w", processes, err)
			}
			name, ratio := fmt.Sprintf("plain rows (no chain), %d process(es)", processes), "1.00"
			if unchained {
				plain = row
			} else {
				name, ratio = fmt.Sprintf("chained, %d process(es)", processes), fmt.Sprintf("%.2f", row.rate/plain.rate)
			}
			fmt.Printf("%-44s %10.2f %10.2f %10.0f %14s\n", name, row.writes, row.reads, row.rate, ratio)
		}
	}
	fmt.Println("target: at most one more table write per signature with the chain; no row every operation updates")
	return sealCost(ctx, connStr, softKeys{k}, counter, n, 100)
}

type costRow struct{ writes, reads, rate float64 }

// signWith makes n signatures on one operation through processes services
// (each with its own store, as separate handler processes would have),
// taking turns, and returns the table calls per signature.
func signWith(ctx context.Context, connStr string, hsm keyserver.KeyBackend, counter *tableCounter, unchained bool, processes, n int) (costRow, error) {
	prefix := fmt.Sprintf("bench%d%d", time.Now().UnixNano()%1e9, processes)
	admin := keyserver.Principal{Issuer: "https://bench.local", Subject: "admin"}
	orderer := keyserver.Principal{Issuer: "https://bench.local", Subject: "orderer"}
	limits := keyserver.DefaultLimits
	limits.MaxUsageCount = max(limits.MaxUsageCount, n+processes)
	var svcs []*keyserver.Service
	for i := 0; i < processes; i++ {
		store, err := tablestore.NewFromConnectionString(connStr, prefix)
		if err != nil {
			return costRow{}, err
		}
		store.Unchained = unchained
		if err := store.EnsureTables(ctx); err != nil {
			return costRow{}, err
		}
		svcs = append(svcs, &keyserver.Service{Ops: store, Keys: store, Subjects: store, Audit: store, Trail: store, HSM: hsm,
			Limits: limits, BootstrapAdmins: []keyserver.Principal{admin}, CacheTTL: time.Hour})
	}
	s := svcs[0]
	ac, err := s.Caller(ctx, keyserver.Identity{Principal: admin})
	if err != nil {
		return costRow{}, err
	}
	if err := s.PutKey(ctx, ac, &keyserver.Key{KeyID: "k", HSMKey: "soft", Enabled: true}); err != nil {
		return costRow{}, err
	}
	if err := s.PutSubject(ctx, ac, &keyserver.Subject{Principal: orderer, Name: "orderer", Roles: []string{"orderer:k"}}); err != nil {
		return costRow{}, err
	}
	oc, err := s.Caller(ctx, keyserver.Identity{Principal: orderer})
	if err != nil {
		return costRow{}, err
	}
	op, err := s.CreateOperation(ctx, oc, &keyserver.OperationRequest{ValidMS: 3600000, Description: "audit chain benchmark", Keys: []keyserver.KeyRequest{{KeyID: "k", MaxUsageCount: n + processes}}})
	if err != nil {
		return costRow{}, err
	}
	digest := make([]byte, 32)
	order := func(svc *keyserver.Service) error {
		rand.Read(digest)
		_, err := svc.Sign(ctx, oc, &keyserver.SignOrder{OperationID: op.ID, KeyID: "k", InputData: hex.EncodeToString(digest), InputFormat: "hex", InputPadding: "none", SignatureFormat: "asn1"})
		return err
	}
	for _, svc := range svcs { // warm each process's caches, as a running handler's are
		if err := order(svc); err != nil {
			return costRow{}, err
		}
	}
	before := counter.snapshot()
	start := time.Now()
	for i := 0; i < n; i++ {
		if err := order(svcs[i%processes]); err != nil {
			return costRow{}, err
		}
	}
	elapsed := time.Since(start)
	t := counter.snapshot().minus(before)
	return costRow{writes: float64(t.calls-t.reads) / float64(n), reads: float64(t.reads) / float64(n), rate: float64(n) / elapsed.Seconds()}, nil
}
