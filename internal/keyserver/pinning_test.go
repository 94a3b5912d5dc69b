package keyserver_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"strings"
	"testing"

	"keyserver/internal/keyserver"
	"keyserver/internal/keyserver/memhsm"
)

// versionedHSM gives the in-memory HSM key versions: key "rot" is versionless, and
// "rot/1", "rot/2" are its versions; current names the current one. A
// versionless signer signs with the current version and says so.
type versionedHSM struct {
	*memhsm.HSM
	current string
}

func (h *versionedHSM) Pin(ctx context.Context, hsmKey string) (string, error) {
	if hsmKey == "rot" {
		return h.current, nil
	}
	return hsmKey, nil
}

func (h *versionedHSM) Open(ctx context.Context, hsmKey string) (keyserver.ContextSigner, error) {
	if hsmKey != "rot" {
		return h.HSM.Open(ctx, hsmKey)
	}
	opened, err := h.HSM.Open(ctx, "rot/1") // opened before a rotation
	if err != nil {
		return nil, err
	}
	current, err := h.HSM.Open(ctx, h.current)
	if err != nil {
		return nil, err
	}
	return floatingSigner{opened, current}, nil
}

// floatingSigner shows the public key it was opened with but signs with the
// current version, naming it.
type floatingSigner struct {
	keyserver.ContextSigner
	current keyserver.ContextSigner
}

func (s floatingSigner) SignAttributed(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, crypto.PublicKey, error) {
	sig, err := s.current.SignContext(ctx, digest, opts)
	return sig, s.current.Public(), err
}

func newVersionedFixture(tb testing.TB) (*fixture, *versionedHSM) {
	tb.Helper()
	f := newFixture(tb)
	f.hsm.Add("rot/1", mustTestKey(tb, "p256"))
	next, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	f.hsm.Add("rot/2", next)
	h := &versionedHSM{HSM: f.hsm, current: "rot/1"}
	f.svc.HSM = keyserver.Verified(h)
	return f, h
}

func TestPutKeyPinsTheCurrentVersion(t *testing.T) {
	f, h := newVersionedFixture(t)
	ctx := context.Background()
	admin := f.mustCaller(t, "admin")
	k := &keyserver.Key{KeyID: "rotkey", HSMKey: "rot", RequiredApprovals: 0, Enabled: true}
	if err := f.svc.PutKey(ctx, admin, k); err != nil {
		t.Fatal(err)
	}
	stored := f.mustAdminKey(t, "rotkey")
	if stored.HSMKey != "rot/1" {
		t.Fatalf("registered hsmkey %q, want it pinned to rot/1", stored.HSMKey)
	}
	h.current = "rot/2"
	again := &keyserver.Key{KeyID: "rotkey", HSMKey: "rot", RequiredApprovals: 0, Enabled: true}
	if err := f.svc.PutKey(ctx, admin, again); err != nil {
		t.Fatal(err)
	}
	if got := f.mustAdminKey(t, "rotkey"); got.HSMKey != "rot/2" || got.Certificate == stored.Certificate {
		t.Fatalf("registering again kept hsmkey %q or the certificate", got.HSMKey)
	}
}

// TestSignRefusesAVersionTheCertificateDoesNotCarry: a key registered
// unpinned whose HSM key has a new version is refused after the HSM signs,
// and the use is given back.
func TestSignRefusesAVersionTheCertificateDoesNotCarry(t *testing.T) {
	f, h := newVersionedFixture(t)
	ctx := context.Background()
	admin := f.mustCaller(t, "admin")
	if err := f.svc.PutKey(ctx, admin, &keyserver.Key{KeyID: "rotkey", HSMKey: "rot", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	legacy := f.mustAdminKey(t, "rotkey")
	legacy.HSMKey = "rot" // as registered before keys were pinned
	if err := f.store.PutKey(ctx, legacy, keyserver.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	op := f.mustCreate(t, "orderer", kr("rotkey", 2))
	o := order(op.ID, "rotkey", digestOf(crypto.SHA256), keyserver.PaddingNone, keyserver.FormatASN1, keyserver.InputHex)
	orderer := f.mustCaller(t, "orderer")
	if _, err := f.svc.Sign(ctx, orderer, o); err != nil {
		t.Fatalf("signing with the certificate's version: %v", err)
	}

	h.current = "rot/2"
	_, err := f.svc.Sign(ctx, orderer, o)
	wantCode(t, err, keyserver.ECONFLICT)
	if !strings.Contains(keyserver.ErrorMessage(err), "PUT /api/admin/keys/rotkey") {
		t.Errorf("the refusal %q does not say how to pin the key", keyserver.ErrorMessage(err))
	}
	if got := f.mustOperation(t, op.ID).Grant("rotkey").UsageCount; got != 1 {
		t.Fatalf("usage count %d after a refused signature, want 1", got)
	}
}

func (f *fixture) mustAdminKey(tb testing.TB, keyID string) *keyserver.Key {
	tb.Helper()
	k, err := f.svc.AdminKey(context.Background(), f.mustCaller(tb, "admin"), keyID)
	if err != nil {
		tb.Fatal(err)
	}
	copied := *k
	return &copied
}
