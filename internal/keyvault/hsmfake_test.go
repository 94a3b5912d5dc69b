package keyvault

import (
	"context"
	"crypto"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"keyserver/internal/hsmfake"
	"keyserver/internal/keyserver"
)

// hsmFixture is the SoftHSM-backed fake behind a TLS test server and a
// Backend that trusts its CA. Only one may be open per process at a time.
type hsmFixture struct {
	fake *hsmfake.Server
	ts   *httptest.Server
	cred *staticCredential
	b    *Backend
}

func mustHSMFake(tb testing.TB, flavour string) *hsmFixture {
	tb.Helper()
	ctx := context.Background()
	fake, err := hsmfake.New(ctx, hsmfake.Config{StateDir: tb.TempDir(), Flavour: flavour, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatalf("starting the HSM fake: %v", err)
	}
	ts := httptest.NewUnstartedServer(fake.Handler())
	ts.TLS = fake.TLSConfig()
	ts.StartTLS()
	f := &hsmFixture{fake: fake, ts: ts, cred: &staticCredential{}}
	tb.Cleanup(f.close)
	f.b, err = New(Config{Credential: f.cred, ExtraRootCAs: fake.CAPEM()})
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

// close stops the fake first, which releases hanging requests.
func (f *hsmFixture) close() {
	_ = f.fake.Close()
	f.ts.Close()
}

// mustKey creates a key in the fake and returns its versionless URL.
func (f *hsmFixture) mustKey(tb testing.TB, name, kty string, size int, crv string) string {
	tb.Helper()
	if _, err := f.fake.CreateKey(context.Background(), name, kty, size, crv); err != nil {
		tb.Fatalf("creating %s: %v", name, err)
	}
	return f.ts.URL + "/keys/" + name
}

// checkHSMFakeOnly follows the algorithm contract on the fake: it checks
// what only the fake can show, the credential's tenant and scope, and that
// an injected 429 is retried.
func checkHSMFakeOnly(t *testing.T, f *hsmFixture) {
	t.Helper()
	ctx := context.Background()
	if asked := f.cred.asked(); asked.TenantID != hsmfake.TenantID || len(asked.Scopes) != 1 ||
		asked.Scopes[0] != "https://vault.azure.net/.default" {
		t.Fatalf("credential asked for tenant %q scopes %v", asked.TenantID, asked.Scopes)
	}

	// the fake's faults: one throttled answer is retried, a missing key is ENOTFOUND
	s := mustOpen(t, f.b, f.ts.URL+"/keys/ecp256")
	if err := f.fake.InjectFault(hsmfake.Fault{Op: "sign", Status: http.StatusTooManyRequests, RetryAfter: "1"}); err != nil {
		t.Fatal(err)
	}
	digest := testDigests()[crypto.SHA256]
	sig, err := s.SignContext(ctx, digest, crypto.SHA256)
	if err != nil {
		t.Fatalf("sign after one 429: %v", err)
	}
	verifySignature(t, s.Public(), digest, sig, crypto.SHA256)
	_, err = f.b.Open(ctx, f.ts.URL+"/keys/missing")
	checkError(t, err, keyserver.ENOTFOUND, "")
}
