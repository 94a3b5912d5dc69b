package azuritetests

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"keyserver/internal/api"
	"keyserver/internal/hsmfake"
	"keyserver/internal/keyserver"
)

// mustSigningKey creates an HSM key, registers it and a subject that may
// order with it, and returns the key id and the subject's token.
func mustSigningKey(tb testing.TB, spec hsmfake.KeySpec, approvals int) (keyID, token string) {
	tb.Helper()
	spec.Name = uniqueName(spec.Name)
	if _, _, err := mustStack(tb).HSM.EnsureKey(context.Background(), spec); err != nil {
		tb.Fatalf("creating HSM key: %v", err)
	}
	mustRegisterKey(tb, spec.Name, spec.Name, approvals)
	return spec.Name, mustSubject(tb, uniqueName("signer"), "orderer:"+spec.Name)
}

// ecOrder is a valid P-256 sign order (asn1 answer) for a digest of msg.
func ecOrder(opID, keyID, msg string) (api.SignOrder, []byte) {
	digest := hashOf(crypto.SHA256, []byte(msg))
	return api.SignOrder{OperationID: opID, KeyID: keyID, InputData: encodeInput("hex", digest), InputFormat: "hex", InputPadding: "none", SignatureFormat: "asn1", Description: "test"}, digest
}

// TestSignConcurrentOrdersNeverPassMax sends 100 orders at once to an
// operation allowing 10 uses.
func TestSignConcurrentOrdersNeverPassMax(t *testing.T) {
	t.Parallel()
	keyID, token := mustSigningKey(t, hsmfake.KeySpec{Name: "conc", Kty: "EC-HSM", Crv: "P-256"}, 0)
	op := mustOpenOp(t, token, 600000, map[string]int{keyID: 10})
	var key struct {
		Certificate string `json:"certificate"`
	}
	mustDo(t, "GET", "/api/keys/"+keyID, token, nil).mustDecode(t, http.StatusOK, &key)
	pub := mustParseCertificate(t, key.Certificate).PublicKey.(*ecdsa.PublicKey)

	const orders = 100
	answers := make([]apiAnswer, orders)
	errs := make([]error, orders)
	base := mustStack(t).HandlerURL
	digests := make([][]byte, orders)
	var wg sync.WaitGroup
	for i := range orders {
		o, digest := ecOrder(op.ID, keyID, fmt.Sprintf("build %d", i))
		digests[i] = digest
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i], errs[i] = do(base, "POST", "/api/signorders", token, o)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("order %d: %v", i, err)
		}
	}

	var signed, exhausted int
	for i, a := range answers {
		switch a.Status {
		case http.StatusCreated:
			var res api.SignResult
			a.mustDecode(t, http.StatusCreated, &res)
			if !ecdsa.VerifyASN1(pub, digests[i], mustDecodeResult(t, "hex", res.Result)) {
				t.Fatalf("order %d: the signature does not verify", i)
			}
			signed++
		case http.StatusConflict:
			a.mustRefuse(t, http.StatusConflict, keyserver.EEXHAUSTED)
			exhausted++
		default:
			t.Fatalf("order %d: status %d: %s", i, a.Status, a.Body)
		}
	}
	if signed != 10 || exhausted != 90 {
		t.Fatalf("%d signed and %d exhausted, want 10 and 90", signed, exhausted)
	}
	got := mustGetOp(t, token, op.ID)
	if g := got.grant(t, keyID); g.UsageCount != 10 || got.Status != string(keyserver.StatusExhausted) {
		t.Fatalf("usagecount %d, status %s; want 10, exhausted", g.UsageCount, got.Status)
	}
}
