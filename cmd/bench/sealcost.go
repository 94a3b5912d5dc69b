package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"keyserver/internal/keyserver"
	"keyserver/internal/tablestore"
)

// sealCost measures what sealing costs, through the domain and Table
// Storage: the table calls and rows read of one seal of n signatures, by
// the process that wrote them and by another one; and of a seal with
// nothing new, with one operation open and again after history operations
// have finished and been sealed (it must not grow with them).
func sealCost(ctx context.Context, connStr string, hsm keyserver.KeyBackend, counter *tableCounter, n, history int) error {
	prefix := fmt.Sprintf("seal%d", time.Now().UnixNano()%1e9)
	admin := keyserver.Principal{Issuer: "https://bench.local", Subject: "admin"}
	orderer := keyserver.Principal{Issuer: "https://bench.local", Subject: "orderer"}
	limits := keyserver.DefaultLimits
	limits.MaxUsageCount = max(limits.MaxUsageCount, 2*n+2)
	var svcs [2]*keyserver.Service
	for i := range svcs {
		store, err := tablestore.NewFromConnectionString(connStr, prefix)
		if err != nil {
			return err
		}
		if err := store.EnsureTables(ctx); err != nil {
			return err
		}
		svcs[i] = &keyserver.Service{Ops: store, Keys: store, Subjects: store, Audit: store, Trail: store, HSM: hsm, AuditKey: "audit",
			Limits: limits, BootstrapAdmins: []keyserver.Principal{admin}, CacheTTL: time.Hour}
	}
	// The second process seals 11 minutes ahead, so that the chains of
	// finished operations are idle for it at once.
	ahead := func() time.Time { return time.Now().Add(11 * time.Minute) }
	svcs[1].Trail.(*tablestore.Store).Now = ahead
	a, b := svcs[0], svcs[1]
	ac, err := a.Caller(ctx, keyserver.Identity{Principal: admin})
	if err != nil {
		return err
	}
	if err := a.PutKey(ctx, ac, &keyserver.Key{KeyID: "k", HSMKey: "soft", Enabled: true}); err != nil {
		return err
	}
	if err := a.PutSubject(ctx, ac, &keyserver.Subject{Principal: orderer, Name: "orderer", Roles: []string{"orderer:k"}}); err != nil {
		return err
	}
	oc, err := a.Caller(ctx, keyserver.Identity{Principal: orderer})
	if err != nil {
		return err
	}
	open := func(uses int) (string, error) {
		op, err := a.CreateOperation(ctx, oc, &keyserver.OperationRequest{ValidMS: 3600000, Description: "sealing benchmark", Keys: []keyserver.KeyRequest{{KeyID: "k", MaxUsageCount: uses}}})
		if err != nil {
			return "", err
		}
		return op.ID, nil
	}
	digest := make([]byte, 32)
	sign := func(opID string, times int) error {
		for range times {
			rand.Read(digest)
			if _, err := a.Sign(ctx, oc, &keyserver.SignOrder{OperationID: opID, KeyID: "k", InputData: hex.EncodeToString(digest), InputFormat: "hex", InputPadding: "none", SignatureFormat: "asn1"}); err != nil {
				return err
			}
		}
		return nil
	}
	seal := func(svc *keyserver.Service) (tableTraffic, error) {
		before := counter.snapshot()
		_, err := svc.SealAudit(ctx)
		return counter.snapshot().minus(before), err
	}
	id, err := open(2*n + 2)
	if err != nil {
		return err
	}
	if err := sign(id, 1); err != nil {
		return err
	}
	for _, svc := range svcs { // each process's first seal lists the chains from before the index, once
		if _, err := seal(svc); err != nil {
			return err
		}
	}
	fmt.Printf("\nWhat sealing costs: one seal, table calls and rows read; %d signatures on one operation\n", n)
	fmt.Printf("%-56s %10s %10s %12s\n", "seal", "calls", "rows read", "rows / sig")
	for _, c := range []struct {
		name string
		by   *keyserver.Service
	}{{"of n signatures, by the process that made them", a}, {"of n signatures, by another process", b}} {
		if err := sign(id, n); err != nil {
			return err
		}
		t, err := seal(c.by)
		if err != nil {
			return err
		}
		fmt.Printf("%-56s %10d %10d %12.3f\n", c.name, t.calls, t.rows, float64(t.rows)/float64(n))
	}
	idle, err := seal(b)
	if err != nil {
		return err
	}
	for range history {
		hid, err := open(1)
		if err != nil {
			return err
		}
		if err := sign(hid, 1); err != nil {
			return err
		}
		if _, err := a.Cancel(ctx, oc, hid); err != nil {
			return err
		}
	}
	if _, err := seal(b); err != nil { // seals them and drops their idle chains from the index
		return err
	}
	after, err := seal(b)
	if err != nil {
		return err
	}
	fmt.Printf("%-56s %10d %10d\n", "with nothing new, 1 operation open", idle.calls, idle.rows)
	fmt.Printf("%-56s %10d %10d\n", fmt.Sprintf("with nothing new, after %d more finished and sealed", history), after.calls, after.rows)
	fmt.Printf("ratio (after / before): calls %.2f, rows read %s\n", float64(after.calls)/float64(idle.calls), ratioOf(float64(after.rows), float64(idle.rows)))
	fmt.Println("target: the process that signed reads no record back; a seal with nothing new does not grow with history")
	return nil
}
