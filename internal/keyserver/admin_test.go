package keyserver_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"keyserver/internal/keyserver"
)

func TestPutKey(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	other, _ := mustSelfSign(t, f.hsm, "rsa2048", "other", f.clock.Now())
	tests := []struct {
		name string
		who  string
		key  keyserver.Key
		want string // error code, "" for success
		alg  string
	}{
		{"self-signed EC", "admin", keyserver.Key{KeyID: "new", HSMKey: "p384", RequiredApprovals: 1, Enabled: true}, "", "EC-P384"},
		{"self-signed RSA by a bootstrap admin", "boot", keyserver.Key{KeyID: "new2", HSMKey: "rsa2048"}, "", "RSA-2048"},
		{"matching certificate", "admin", keyserver.Key{KeyID: "new3", HSMKey: "rsa2048", Certificate: other}, "", "RSA-2048"},
		{"certificate of another key", "admin", keyserver.Key{KeyID: "new4", HSMKey: "p256", Certificate: other}, keyserver.EINVALID, ""},
		{"not an admin", "orderer", keyserver.Key{KeyID: "new5", HSMKey: "p256"}, keyserver.EFORBIDDEN, ""},
		{"unknown HSM key", "admin", keyserver.Key{KeyID: "new6", HSMKey: "nope"}, keyserver.ENOTFOUND, ""},
		{"no HSM key", "admin", keyserver.Key{KeyID: "new7"}, keyserver.EINVALID, ""},
		{"too many approvals", "admin", keyserver.Key{KeyID: "new8", HSMKey: "p256", RequiredApprovals: 11}, keyserver.EINVALID, ""},
		{"invalid key id", "admin", keyserver.Key{KeyID: "new key", HSMKey: "p256"}, keyserver.EINVALID, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			audits := len(f.store.GlobalAudit())
			k := tt.key
			err := f.svc.PutKey(ctx, f.mustCaller(t, tt.who), &k)
			if tt.want != "" {
				wantCode(t, err, tt.want)
				if _, ok := f.store.StoredKey(k.KeyID); ok || len(f.store.GlobalAudit()) != audits {
					t.Fatalf("a refused PutKey wrote the key or an audit event")
				}
				return
			}
			if err != nil {
				t.Fatalf("PutKey: %v", err)
			}
			stored, ok := f.store.StoredKey(k.KeyID)
			if !ok || stored.Algorithm != tt.alg {
				t.Fatalf("stored key = %+v, want algorithm %s", stored, tt.alg)
			}
			signer, err := f.hsm.Open(ctx, k.HSMKey)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if err := keyserver.CheckCertificate(stored.Certificate, signer.Public()); err != nil {
				t.Fatalf("stored certificate: %v", err)
			}
			evs := f.store.GlobalAudit()
			if len(evs) != audits+1 || evs[len(evs)-1].Action != keyserver.ActionAdminKey || evs[len(evs)-1].Target != k.KeyID || !strings.Contains(evs[len(evs)-1].Detail, k.KeyID) {
				t.Fatalf("audit events = %+v", evs[audits:])
			}
		})
	}
}

func TestPutSubjectClearsTheCache(t *testing.T) {
	f := newFixture(t)
	f.svc.CacheTTL = time.Hour
	ctx := context.Background()
	admin := f.mustCaller(t, "admin")
	if c := f.mustCaller(t, "orderer1"); c.CanOrder("key2") {
		t.Fatalf("orderer1 may order key2 before the change")
	}
	sub := &keyserver.Subject{Principal: principal("orderer1"), Roles: []string{"orderer:key2"}}
	if err := f.svc.PutSubject(ctx, admin, sub); err != nil {
		t.Fatalf("PutSubject: %v", err)
	}
	if c := f.mustCaller(t, "orderer1"); !c.CanOrder("key2") || c.CanOrder("key1") {
		t.Fatalf("roles after PutSubject = %v", c.Roles)
	}
	if err := f.svc.DeleteSubject(ctx, admin, principal("orderer1")); err != nil {
		t.Fatalf("DeleteSubject: %v", err)
	}
	_, err := f.svc.Caller(ctx, keyserver.Identity{Principal: principal("orderer1")})
	wantCode(t, err, keyserver.EFORBIDDEN)

	for _, bad := range []*keyserver.Subject{
		{Principal: principal("x"), Roles: []string{"signer:key1"}},
		{Principal: keyserver.Principal{Issuer: testIssuer}},
		{Principal: principal("x"), Name: strings.Repeat("n", 257)},
	} {
		wantCode(t, f.svc.PutSubject(ctx, admin, bad), keyserver.EINVALID)
	}
	wantCode(t, f.svc.PutSubject(ctx, f.mustCaller(t, "auditor"), sub), keyserver.EFORBIDDEN)
}

func TestKeyFor(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	c := f.mustCaller(t, "approver2")
	if k, err := f.svc.KeyFor(ctx, c, "key2"); err != nil || k.KeyID != "key2" {
		t.Fatalf("KeyFor(key2) = %+v, %v", k, err)
	}
	_, errForbidden := f.svc.KeyFor(ctx, c, "key1")
	_, errUnknown := f.svc.KeyFor(ctx, c, "nokey")
	wantCode(t, errForbidden, keyserver.ENOTFOUND)
	wantCode(t, errUnknown, keyserver.ENOTFOUND)
	if a, b := strings.ReplaceAll(keyserver.ErrorMessage(errForbidden), "key1", "K"), strings.ReplaceAll(keyserver.ErrorMessage(errUnknown), "nokey", "K"); a != b {
		t.Fatalf("messages differ: %q and %q", a, b)
	}
	keys, err := f.svc.KeysFor(ctx, f.mustCaller(t, "ordapp"))
	if err != nil || len(keys) != len(testKeyring) {
		t.Fatalf("KeysFor(ordapp) = %d keys, %v; want %d", len(keys), err, len(testKeyring))
	}
	keys, err = f.svc.KeysFor(ctx, f.mustCaller(t, "nobody"))
	if err != nil || len(keys) != 0 {
		t.Fatalf("KeysFor(nobody) = %d keys, %v; want none", len(keys), err)
	}
}

// An admin change is written with its record: when the record cannot be
// written nothing changes, and a change that fails leaves no record.
func TestAdminChangeIsRecordedWithTheChange(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	admin := f.mustCaller(t, "admin")
	before := len(f.store.GlobalAudit())
	f.store.Fail("RecordAdmin", keyserver.Errorf(keyserver.EUNAVAILABLE, "table down"))
	wantCode(t, f.svc.DeleteKey(ctx, admin, "key1"), keyserver.EUNAVAILABLE)
	f.store.Fail("RecordAdmin", nil)
	if _, err := f.store.Key(ctx, "key1"); err != nil {
		t.Fatalf("key1 was deleted though its record could not be written: %v", err)
	}
	wantCode(t, f.svc.DeleteKey(ctx, admin, "nokey"), keyserver.ENOTFOUND)
	if evs := f.store.GlobalAudit()[before:]; len(evs) != 0 {
		t.Fatalf("changes that were not made left records %+v", evs)
	}
	mustDo(t, f.svc.DeleteKey(ctx, admin, "key1"))
	evs := f.store.GlobalAudit()[before:]
	if len(evs) != 1 || evs[0].Result != "ok" || evs[0].Action != keyserver.ActionAdminKey || evs[0].Target != "key1" {
		t.Fatalf("records of a delete = %+v; want one", evs)
	}
}

// TestKeysForIsCachedUntilAKeyChanges lists keys twice with the store
// failing in between: the second listing comes from the cache. Deleting a key
// clears it.
func TestKeysForIsCachedUntilAKeyChanges(t *testing.T) {
	f := newFixture(t)
	f.svc.CacheTTL = time.Hour
	ctx := context.Background()
	c := f.mustCaller(t, "orderer")
	first, err := f.svc.KeysFor(ctx, c)
	if err != nil || len(first) == 0 {
		t.Fatalf("KeysFor = %d keys, %v", len(first), err)
	}
	f.store.Fail("Keys", keyserver.Errorf(keyserver.EUNAVAILABLE, "Table Storage cannot be reached."))
	if again, err := f.svc.KeysFor(ctx, c); err != nil || len(again) != len(first) {
		t.Fatalf("KeysFor from the cache = %d keys, %v; want %d", len(again), err, len(first))
	}
	if err := f.svc.DeleteKey(ctx, f.mustCaller(t, "admin"), "off"); err != nil {
		t.Fatalf("DeleteKey: %v", err)
	}
	_, err = f.svc.KeysFor(ctx, c)
	wantCode(t, err, keyserver.EUNAVAILABLE)
	f.store.Fail("Keys", nil)
	if after, err := f.svc.KeysFor(ctx, c); err != nil || len(after) != len(first)-1 {
		t.Fatalf("KeysFor after DeleteKey = %d keys, %v; want %d", len(after), err, len(first)-1)
	}
}

// A person's registration is recorded with the person as its target, as
// GET /api/audit's subject filter finds it.
func TestPersonChangeTargetsThePerson(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p := keyserver.Principal{Issuer: "https://login.example/tenant/v2.0", Subject: "0a1b2c", Kind: keyserver.KindPerson}
	mustDo(t, f.svc.PutSubject(ctx, f.mustCaller(t, "admin"), &keyserver.Subject{Principal: p, Roles: []string{"auditor"}}))
	evs := f.store.GlobalAudit()
	if ev := evs[len(evs)-1]; ev.Action != keyserver.ActionAdminSubject || ev.Target != "person 0a1b2c@https://login.example/tenant/v2.0" {
		t.Fatalf("the registration's record = %+v", ev)
	}
}
