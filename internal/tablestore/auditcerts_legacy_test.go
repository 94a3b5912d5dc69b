package tablestore_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"keyserver/internal/auditlog"
	"keyserver/internal/auditlog/audittest"
	"keyserver/internal/keyserver"
)

// Once a certificate is recorded, a certificate put where certificates were
// kept before they were recorded (by a storage writer, with a key of its
// own, or by an instance of an older version during a rolling deploy, with
// the audit key) is never served, first or at all; sealing goes on with the
// recorded one.
func TestUnrecordedOldStyleCertificateIsNotServed(t *testing.T) {
	for _, tc := range []struct {
		name    string
		sameKey bool
	}{{"another key", false}, {"the audit key", true}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := mustStores(t, 1)[0]
			key, _ := audittest.NewKey(t)
			ks := &keyserver.Service{Ops: s, Keys: s, Subjects: s, Audit: s, Trail: s, HSM: key, AuditKey: "https://vault.test/keys/audit", Limits: keyserver.DefaultLimits}
			mustOperation(t, s, 1)
			if n, err := ks.SealAudit(ctx); err != nil || n != 1 {
				t.Fatalf("SealAudit = %d, %v", n, err)
			}
			recorded, err := s.AuditCertificates(ctx)
			mustDo(t, err)

			other := key
			if !tc.sameKey {
				other, _ = audittest.NewKey(t)
			}
			signer, err := other.Open(ctx, "")
			mustDo(t, err)
			oldStyle, err := keyserver.SelfSign(ctx, signer, "keyserver audit", s.Now())
			mustDo(t, err)
			svc, err := aztables.NewServiceClientFromConnectionString(azuriteSrv.ConnectionString(), nil)
			mustDo(t, err)
			row, _ := json.Marshal(map[string]any{"PartitionKey": "seal", "RowKey": "certificate", "Certificate": oldStyle})
			_, err = svc.NewClient(s.Prefix()+"Audit").AddEntity(ctx, row, nil)
			mustDo(t, err)

			certs, err := s.AuditCertificates(ctx)
			mustDo(t, err)
			if len(certs) != 1 || certs[0] != recorded[0] || certs[0].Record != auditlog.AuditKeyChain+"#1" {
				t.Fatalf("with an old-style certificate written after one was recorded, the certificates are %+v; want only %+v", certs, recorded)
			}
			mustOperation(t, s, 1)
			if n, err := ks.SealAudit(ctx); err != nil || n != 1 {
				t.Fatalf("SealAudit after the write = %d, %v", n, err)
			}
		})
	}
}
