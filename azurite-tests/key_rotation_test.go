package azuritetests

import (
	"context"
	"crypto/ecdsa"
	"net/http"
	"strings"
	"testing"

	"keyserver/internal/api"
	"keyserver/internal/keyserver"
	"keyserver/internal/tablestore"
)

// mustSignAt signs one EC order at the handler at baseURL and checks the
// signature against certPEM's public key.
func mustSignAt(tb testing.TB, baseURL, token, opID, keyID, certPEM string) {
	tb.Helper()
	order, digest := ecOrder(opID, keyID, "rotation "+baseURL)
	a, err := do(baseURL, "POST", "/api/signorders", token, order)
	if err != nil {
		tb.Fatal(err)
	}
	var res api.SignResult
	a.mustDecode(tb, http.StatusCreated, &res)
	pub := mustParseCertificate(tb, certPEM).PublicKey.(*ecdsa.PublicKey)
	if !ecdsa.VerifyASN1(pub, digest, mustDecodeResult(tb, "hex", res.Result)) {
		tb.Fatalf("the signature from %s does not verify against the key's certificate", baseURL)
	}
}

// mustSecondHandler starts another in-process handler on the stack's services.
func mustSecondHandler(tb testing.TB) string {
	tb.Helper()
	m, url, err := mustStack(tb).AnotherHandler(context.Background())
	if err != nil {
		tb.Fatalf("starting a second handler: %v", err)
	}
	tb.Cleanup(func() { _ = m.Close(context.Background()) })
	return url
}

// mustNewRegisteredKey creates a P-256 key in the HSM fake and registers it
// without approvals.
func mustNewRegisteredKey(tb testing.TB) (hsmName, keyID string, k api.AdminKey) {
	tb.Helper()
	hsmName, keyID = uniqueName("rotate"), uniqueName("rotkey")
	if _, err := mustStack(tb).HSM.CreateKey(context.Background(), hsmName, "EC-HSM", 0, "P-256"); err != nil {
		tb.Fatal(err)
	}
	return hsmName, keyID, mustRegisterKey(tb, keyID, hsmName, 0)
}

// TestKeyRotationKeepsTheRegisteredVersion is issue 8's defect 5: after the
// HSM key gets a new version, a handler started later must still sign with
// the version the key's certificate carries; registering the key again pins
// the new version.
func TestKeyRotationKeepsTheRegisteredVersion(t *testing.T) {
	t.Parallel()
	st := mustStack(t)
	ctx := context.Background()
	hsmName, keyID, k := mustNewRegisteredKey(t)
	if !strings.HasPrefix(k.HSMKey, st.HSMURL+"/keys/"+hsmName+"/") {
		t.Errorf("the registration answered hsmkey %q; want it pinned to a version of %s", k.HSMKey, hsmName)
	}
	orderer := mustToken(t, "orderer-client")
	op := mustOpenOp(t, orderer, 600000, map[string]int{keyID: 10})
	mustSignAt(t, st.HandlerURL, orderer, op.ID, keyID, k.Certificate)

	if _, err := st.HSM.RotateKey(ctx, hsmName); err != nil {
		t.Fatal(err)
	}
	later := mustSecondHandler(t)
	mustSignAt(t, later, orderer, op.ID, keyID, k.Certificate)
	mustSignAt(t, st.HandlerURL, orderer, op.ID, keyID, k.Certificate)

	// Registering again pins the new version, with a new certificate.
	again := mustRegisterKey(t, keyID, hsmName, 0)
	if again.HSMKey == k.HSMKey || again.Certificate == k.Certificate {
		t.Fatalf("registering again kept hsmkey %q and the certificate", again.HSMKey)
	}
	// Approvals were given for the old version: the open operation is
	// refused (by the handler that re-pinned; others see the new registration
	// once their key cache expires, as with any change of a key).
	order, _ := ecOrder(op.ID, keyID, "after re-pin")
	mustDo(t, "POST", "/api/signorders", orderer, order).mustRefuse(t, http.StatusConflict, keyserver.ECONFLICT)
	next := mustOpenOp(t, orderer, 600000, map[string]int{keyID: 10})
	mustSignAt(t, mustSecondHandler(t), orderer, next.ID, keyID, again.Certificate)
	mustSignAt(t, st.HandlerURL, orderer, next.ID, keyID, again.Certificate)
}

// TestKeyRotationUnpinnedKeyIsRefused: a key registered with a versionless
// HSM key (before versions were pinned) whose HSM key got a new version is
// refused, never signed with a version its certificate does not carry.
func TestKeyRotationUnpinnedKeyIsRefused(t *testing.T) {
	t.Parallel()
	st := mustStack(t)
	ctx := context.Background()
	hsmName, keyID, k := mustNewRegisteredKey(t)
	store, err := tablestore.NewFromConnectionString(st.Azurite.ConnectionString(), "ks")
	if err != nil {
		t.Fatal(err)
	}
	legacy := &keyserver.Key{KeyID: keyID, HSMKey: st.HSMURL + "/keys/" + hsmName, Certificate: k.Certificate, Algorithm: k.Algorithm, KeyInfo: k.KeyInfo, Enabled: true}
	if err := store.PutKey(ctx, legacy, keyserver.AuditEvent{}); err != nil {
		t.Fatal(err)
	}
	orderer := mustToken(t, "orderer-client")
	op := mustOpenOp(t, orderer, 600000, map[string]int{keyID: 10})
	mustSignAt(t, mustSecondHandler(t), orderer, op.ID, keyID, k.Certificate)

	if _, err := st.HSM.RotateKey(ctx, hsmName); err != nil {
		t.Fatal(err)
	}
	order, _ := ecOrder(op.ID, keyID, "after rotation")
	a, err := do(mustSecondHandler(t), "POST", "/api/signorders", orderer, order)
	if err != nil {
		t.Fatal(err)
	}
	if e := a.mustRefuse(t, http.StatusConflict, keyserver.ECONFLICT); !strings.Contains(e.Message, "/api/admin/keys/"+keyID) {
		t.Errorf("the refusal %q does not say how to pin the key", e.Message)
	}
	mustUsage(t, orderer, op.ID, map[string]int{keyID: 1})
}
