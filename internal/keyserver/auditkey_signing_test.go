package keyserver_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"testing"
	"time"

	"keyserver/internal/auditlog"
	"keyserver/internal/keyserver"
)

const auditKeyURL = "https://kv1.vault.azure.net/keys/keyserver-audit"

// auditKeyVariants name the audit key in other versions and spellings.
var auditKeyVariants = []string{
	auditKeyURL,
	auditKeyURL + "/0123456789abcdef",
	"https://KV1.vault.azure.net/keys/Keyserver-Audit/0123456789abcdef",
	"https://kv1.vault.azure.net:443/keys/keyserver-audit",
	"https://kv1.vault.azure.net./keys/keyserver-audit/",
}

// auditFixture configures the audit key (held by the HSM under every name
// of auditKeyVariants, so that only the Keyserver's refusal stops its use)
// and seals once; it returns the first audit certificate.
func auditFixture(t *testing.T) (*fixture, *x509.Certificate) {
	f := newFixture(t)
	ak, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mustDo(t, err)
	for _, name := range auditKeyVariants {
		f.hsm.Add(name, ak)
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mustDo(t, err)
	f.hsm.Add("https://kv1.vault.azure.net/keys/keyserver-audit2", other)
	f.svc.AuditKey = auditKeyURL
	f.svc.Trail = keyserver.NewMemTrail(f.clock.Now)
	if _, err := f.svc.SealAudit(context.Background()); err != nil {
		t.Fatal(err)
	}
	certs, err := f.svc.AuditCertificates(context.Background())
	mustDo(t, err)
	return f, mustParseCert(t, certs[0].PEM)
}

// An admin cannot register the audit key, in any version, as a signing key;
// another key of the same vault is registered.
func TestPutKeyRefusesTheAuditKey(t *testing.T) {
	f, _ := auditFixture(t)
	ctx := context.Background()
	admin := f.mustCaller(t, "admin")
	for _, hsmKey := range auditKeyVariants {
		err := f.svc.PutKey(ctx, admin, &keyserver.Key{KeyID: "notaudit", HSMKey: hsmKey, Enabled: true})
		if keyserver.ErrorCode(err) != keyserver.EINVALID {
			t.Fatalf("PutKey with hsmkey %s (the audit key) = %v; want %s: every orderer of the key could sign checkpoints", hsmKey, err, keyserver.EINVALID)
		}
		if _, err := f.store.Key(ctx, "notaudit"); keyserver.ErrorCode(err) != keyserver.ENOTFOUND {
			t.Fatalf("the refused key was stored: %v", err)
		}
	}
	mustDo(t, f.svc.PutKey(ctx, admin, &keyserver.Key{KeyID: "neighbour", HSMKey: "https://kv1.vault.azure.net/keys/keyserver-audit2", Enabled: true}))
}

// Someone who can write storage points a key row at the audit key (any
// version) and orders a signature of a forged checkpoint body: refused.
func TestSignRefusesAStoredAuditKey(t *testing.T) {
	f, cert := auditFixture(t)
	ctx := context.Background()
	// Storage writes only: a role, and key rows.
	mustDo(t, f.store.PutSubject(ctx, &keyserver.Subject{Principal: principal("orderer"), Name: "o", Roles: []string{"orderer:*"}}, keyserver.AuditEvent{}))
	for _, hsmKey := range auditKeyVariants {
		mustDo(t, f.store.PutKey(ctx, &keyserver.Key{KeyID: "forge", HSMKey: hsmKey, Algorithm: "ES256", Enabled: true}, keyserver.AuditEvent{}))
		op := f.mustCreate(t, "orderer", kr("forge", 1))
		forged := &auditlog.Checkpoint{N: 99, Size: 1, Root: auditlog.Hash{1}, Time: time.Now(), Prev: auditlog.Hash{2}, Certificate: auditlog.CertificateHash(cert)}
		d := sha256.Sum256(forged.Body())
		signs := f.hsm.SignCount()
		res, err := f.svc.Sign(ctx, f.mustCaller(t, "orderer"), order(op.ID, "forge", d[:], keyserver.PaddingNone, keyserver.FormatASN1, keyserver.InputHex))
		if err == nil {
			sig, _ := hex.DecodeString(res.Result)
			if auditlog.VerifySignature(cert, forged, sig) == nil {
				t.Fatalf("hsmkey %s: the Keyserver signed a forged checkpoint body with the audit key", hsmKey)
			}
			t.Fatalf("hsmkey %s: a signature was made with the audit key", hsmKey)
		}
		if keyserver.ErrorCode(err) != keyserver.EFORBIDDEN || f.hsm.SignCount() != signs {
			t.Fatalf("hsmkey %s: Sign = %v after %d HSM signatures; want %s and none", hsmKey, err, f.hsm.SignCount()-signs, keyserver.EFORBIDDEN)
		}
	}
}

// The Keyserver itself writes audit.key records: issuer, subject and kind of
// the actor are all empty (docs/AUDIT.md).
func TestAuditKeyRecordHasNoActor(t *testing.T) {
	f, cert := auditFixture(t)
	var found bool
	for _, s := range f.svc.Trail.(*keyserver.MemTrail).All() {
		r := s.Record
		if r.Chain != auditlog.AuditKeyChain {
			continue
		}
		found = true
		if r.ActorIssuer != "" || r.ActorSubject != "" || r.ActorKind != "" || r.Target != auditlog.CertificateHash(cert).String() {
			t.Fatalf("audit.key record %s: actor %q %q %q, target %s", r.ID(), r.ActorIssuer, r.ActorSubject, r.ActorKind, r.Target)
		}
	}
	if !found {
		t.Fatal("no audit.key record")
	}
}
