package azuritetests

import (
	"context"
	"crypto/ecdsa"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"keyserver/internal/hsmfake"
	"keyserver/internal/keyserver"
)

// mustHandlerBinary builds the handler into a temporary directory.
func mustHandlerBinary(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "handler")
	if out, err := exec.Command("go", "build", "-o", bin, "keyserver/handler").CombinedOutput(); err != nil {
		tb.Fatalf("building the handler: %v\n%s", err, out)
	}
	return bin
}

// TestSignAcrossFourHandlerProcessesNeverPassesMax starts four handler
// processes on the stack's Azurite and HSM, as four Functions instances
// would run, and sends 200 orders at once, spread over them, to an
// operation allowing 10 uses.
func TestSignAcrossFourHandlerProcessesNeverPassesMax(t *testing.T) {
	st := mustStack(t)
	bin := mustHandlerBinary(t)
	var urls []string
	for range 4 {
		url, stop, err := st.StartHandler(context.Background(), bin)
		if err != nil {
			t.Fatalf("starting a handler process: %v", err)
		}
		t.Cleanup(stop)
		urls = append(urls, url)
	}
	keyID, token := mustSigningKey(t, hsmfake.KeySpec{Name: "procs", Kty: "EC-HSM", Crv: "P-256"}, 0)
	op := mustOpenOp(t, token, 600000, map[string]int{keyID: 10})
	var key struct {
		Certificate string `json:"certificate"`
	}
	mustDo(t, "GET", "/api/keys/"+keyID, token, nil).mustDecode(t, http.StatusOK, &key)
	pub := mustParseCertificate(t, key.Certificate).PublicKey.(*ecdsa.PublicKey)

	const orders = 200
	answers := make([]apiAnswer, orders)
	errs := make([]error, orders)
	digests := make([][]byte, orders)
	var wg sync.WaitGroup
	for i := range orders {
		o, digest := ecOrder(op.ID, keyID, fmt.Sprintf("build %d", i))
		digests[i] = digest
		wg.Go(func() { answers[i], errs[i] = do(urls[i%len(urls)], "POST", "/api/signorders", token, o) })
	}
	wg.Wait()
	signed := map[string]int{}
	exhausted := 0
	for i, a := range answers {
		if errs[i] != nil {
			t.Fatalf("order %d: %v", i, errs[i])
		}
		switch a.Status {
		case http.StatusCreated:
			var res keyserver.SignResult
			a.mustDecode(t, http.StatusCreated, &res)
			if !ecdsa.VerifyASN1(pub, digests[i], mustDecodeResult(t, "hex", res.Result)) {
				t.Fatalf("order %d: the signature does not verify", i)
			}
			signed[urls[i%len(urls)]]++
		case http.StatusConflict:
			a.mustRefuse(t, http.StatusConflict, keyserver.EEXHAUSTED)
			exhausted++
		default:
			t.Fatalf("order %d: status %d: %s", i, a.Status, a.Body)
		}
	}
	total := 0
	for _, n := range signed {
		total += n
	}
	if total != 10 || exhausted != orders-10 {
		t.Fatalf("%d signed (%v) and %d exhausted, want 10 and %d", total, signed, exhausted, orders-10)
	}
	got := mustGetOp(t, token, op.ID)
	if g := got.grant(t, keyID); g.UsageCount != 10 || got.Status != keyserver.StatusExhausted {
		t.Fatalf("usagecount %d, status %s; want 10, exhausted", g.UsageCount, got.Status)
	}
}
