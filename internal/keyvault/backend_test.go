package keyvault

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"net/http"
	"sync"
	"testing"
	"time"

	"keyserver/internal/keyserver"
)

func mustBackend(tb testing.TB, fv *fakeVault, cred *staticCredential, cfg Config) *Backend {
	tb.Helper()
	cfg.Credential = cred
	cfg.ExtraRootCAs = fv.caPEM()
	if cfg.RetryDelay == 0 {
		cfg.RetryDelay = time.Millisecond
	}
	b, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func mustOpen(tb testing.TB, b *Backend, hsmKey string) keyserver.ContextSigner {
	tb.Helper()
	s, err := b.Open(context.Background(), hsmKey)
	if err != nil {
		tb.Fatalf("Open(%s): %v", hsmKey, err)
	}
	return s
}

// digests of one message with SHA-256, SHA-384 and SHA-512.
func testDigests() map[crypto.Hash][]byte {
	msg := []byte("release 1.2.3")
	s256, s384, s512 := sha256.Sum256(msg), sha512.Sum384(msg), sha512.Sum512(msg)
	return map[crypto.Hash][]byte{crypto.SHA256: s256[:], crypto.SHA384: s384[:], crypto.SHA512: s512[:]}
}

// verifySignature checks sig with Go's crypto, as the domain's decorator would.
func verifySignature(tb testing.TB, pub crypto.PublicKey, digest, sig []byte, opts crypto.SignerOpts) {
	tb.Helper()
	switch k := pub.(type) {
	case *rsa.PublicKey:
		var err error
		if pss, ok := opts.(*rsa.PSSOptions); ok {
			err = rsa.VerifyPSS(k, pss.Hash, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			err = rsa.VerifyPKCS1v15(k, opts.HashFunc(), digest, sig)
		}
		if err != nil {
			tb.Fatalf("RSA signature (%v) does not verify: %v", opts.HashFunc(), err)
		}
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, digest, sig) {
			tb.Fatalf("ECDSA %s signature of a %d-byte digest does not verify", k.Curve.Params().Name, len(digest))
		}
	default:
		tb.Fatalf("unexpected public key %T", pub)
	}
}

func TestSignEveryAlgorithmAgainstFakeVault(t *testing.T) {
	fv := newFakeVault(t)
	cred := &staticCredential{}
	b := mustBackend(t, fv, cred, Config{})
	rsaKey := mustRSAKey(t, 2048)
	keys := map[string]crypto.Signer{
		"rsa2048": rsaKey,
		"p256":    mustECKey(t, elliptic.P256()),
		"p384":    mustECKey(t, elliptic.P384()),
		"p521":    mustECKey(t, elliptic.P521()),
	}
	ctx := context.Background()
	for name, priv := range keys {
		s := mustOpen(t, b, fv.addKey(name, priv))
		if !priv.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(s.Public()) {
			t.Fatalf("%s: Public() differs from the vault's key", name)
		}
		for h, digest := range testDigests() {
			opts := []crypto.SignerOpts{h}
			if _, isRSA := priv.(*rsa.PrivateKey); isRSA {
				opts = append(opts, &rsa.PSSOptions{Hash: h, SaltLength: rsa.PSSSaltLengthEqualsHash},
					&rsa.PSSOptions{Hash: h, SaltLength: h.Size()})
			}
			for _, o := range opts {
				sig, err := s.SignContext(ctx, digest, o)
				if err != nil {
					t.Fatalf("%s %v (%T): %v", name, h, o, err)
				}
				verifySignature(t, s.Public(), digest, sig, o)
			}
		}
	}
	unauthenticated, _, _, _ := fv.counts()
	if unauthenticated != 1 {
		t.Fatalf("unauthenticated requests = %d, want 1 (one challenge per vault)", unauthenticated)
	}
	asked := cred.asked()
	if asked.TenantID != testTenant || len(asked.Scopes) != 1 || asked.Scopes[0] != "https://vault.azure.net/.default" {
		t.Fatalf("credential asked for tenant %q scopes %v", asked.TenantID, asked.Scopes)
	}
}

func TestOpenFetchesOnce(t *testing.T) {
	fv := newFakeVault(t)
	b := mustBackend(t, fv, &staticCredential{}, Config{})
	hsmKey := fv.addKey("once", mustECKey(t, elliptic.P256()))
	first := mustOpen(t, b, hsmKey)
	second := mustOpen(t, b, hsmKey)
	if first != second {
		t.Fatal("second Open returned another signer")
	}
	versioned := mustOpen(t, b, hsmKey+"/0123456789abcdef0123456789abcdef")
	if _, gets, _, _ := fv.counts(); gets != 2 {
		t.Fatalf("GET key requests = %d, want 2 (one per distinct hsmKey)", gets)
	}
	digest := testDigests()[crypto.SHA256]
	for _, s := range []keyserver.ContextSigner{first, versioned} {
		sig, err := s.SignContext(context.Background(), digest, crypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		verifySignature(t, s.Public(), digest, sig, crypto.SHA256)
	}
}

func TestOpenRejectsBadKeyURL(t *testing.T) {
	fv := newFakeVault(t)
	b := mustBackend(t, fv, &staticCredential{}, Config{})
	_, err := b.Open(context.Background(), "http://x.vault.azure.net/keys/k")
	if code := keyserver.ErrorCode(err); code != keyserver.EINVALID {
		t.Fatalf("code %q (%v), want %q", code, err, keyserver.EINVALID)
	}
}

func TestFaults(t *testing.T) {
	cases := []struct {
		name      string
		cfg       Config
		once      []fault
		always    *fault
		openOnly  bool // the fault hits GET key
		wantCode  string
		wantMsg   string
		wantSigns int // authenticated sign requests; 0 to skip
	}{
		{name: "429 with Retry-After then success", cfg: Config{MaxRetryDelay: 5 * time.Second},
			once: []fault{{op: "sign", status: 429, retryAfter: "1"}}, wantSigns: 2},
		{name: "503 then success", once: []fault{{op: "sign", status: 503}}, wantSigns: 2},
		{name: "429 forever", cfg: Config{MaxRetries: 2}, always: &fault{op: "sign", status: 429, retryAfter: "0"},
			wantCode: keyserver.ERATELIMITED, wantMsg: msgThrottled, wantSigns: 3},
		{name: "429 asking longer than MaxRetryDelay", cfg: Config{MaxRetryDelay: time.Second},
			always:   &fault{op: "sign", status: 429, retryAfter: "30"},
			wantCode: keyserver.ERATELIMITED, wantMsg: msgThrottled, wantSigns: 1},
		{name: "429 asking past the deadline", cfg: Config{SignTimeout: 300 * time.Millisecond, MaxRetryDelay: time.Minute},
			always:   &fault{op: "sign", status: 429, retryAfter: "30"},
			wantCode: keyserver.ERATELIMITED, wantMsg: msgThrottled, wantSigns: 1},
		{name: "500 forever", cfg: Config{MaxRetries: 2}, always: &fault{op: "sign", status: 500},
			wantCode: keyserver.EUNAVAILABLE, wantMsg: msgUnreachable, wantSigns: 3},
		{name: "hang past SignTimeout", cfg: Config{SignTimeout: 300 * time.Millisecond},
			always: &fault{op: "sign", hang: true}, wantCode: keyserver.EUNAVAILABLE, wantMsg: msgTimeout},
		{name: "403", always: &fault{op: "sign", status: 403},
			wantCode: keyserver.EUNAVAILABLE, wantMsg: msgUnauthorised, wantSigns: 1},
		{name: "401 with a token", always: &fault{op: "sign", status: 401},
			wantCode: keyserver.EUNAVAILABLE, wantMsg: msgUnauthorised},
		{name: "400", always: &fault{op: "sign", status: 400}, wantCode: keyserver.EINVALID, wantSigns: 1},
		{name: "404 on sign", always: &fault{op: "sign", status: 404}, wantCode: keyserver.ENOTFOUND, wantSigns: 1},
		{name: "500 on open", cfg: Config{MaxRetries: 1}, openOnly: true, always: &fault{op: "get", status: 500},
			wantCode: keyserver.EUNAVAILABLE, wantMsg: msgUnreachable},
		{name: "hang on open", cfg: Config{SignTimeout: 300 * time.Millisecond}, openOnly: true,
			always: &fault{op: "get", hang: true}, wantCode: keyserver.EUNAVAILABLE, wantMsg: msgTimeout},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fv := newFakeVault(t)
			b := mustBackend(t, fv, &staticCredential{}, c.cfg)
			hsmKey := fv.addKey("k", mustECKey(t, elliptic.P256()))
			fv.push(c.once...)
			if c.openOnly {
				fv.setAlways(*c.always)
				_, err := b.Open(context.Background(), hsmKey)
				checkError(t, err, c.wantCode, c.wantMsg)
				return
			}
			s := mustOpen(t, b, hsmKey)
			if c.always != nil {
				fv.setAlways(*c.always)
			}
			digest := testDigests()[crypto.SHA256]
			sig, err := s.SignContext(context.Background(), digest, crypto.SHA256)
			checkError(t, err, c.wantCode, c.wantMsg)
			if err == nil {
				verifySignature(t, s.Public(), digest, sig, crypto.SHA256)
			}
			if _, _, signs, _ := fv.counts(); c.wantSigns != 0 && signs != c.wantSigns {
				t.Fatalf("sign requests = %d, want %d", signs, c.wantSigns)
			}
		})
	}
}

func checkError(tb testing.TB, err error, wantCode, wantMsg string) {
	tb.Helper()
	if code := keyserver.ErrorCode(err); code != wantCode {
		tb.Fatalf("code %q (%v), want %q", code, err, wantCode)
	}
	if msg := keyserver.ErrorMessage(err); err != nil && wantMsg != "" && msg != wantMsg {
		tb.Fatalf("message %q, want %q", msg, wantMsg)
	}
}

func TestVaultNotReachable(t *testing.T) {
	fv := newFakeVault(t)
	b := mustBackend(t, fv, &staticCredential{}, Config{MaxRetries: 1})
	hsmKey := fv.addKey("k", mustECKey(t, elliptic.P256()))
	fv.srv.Close()
	_, err := b.Open(context.Background(), hsmKey)
	checkError(t, err, keyserver.EUNAVAILABLE, msgUnreachable)
}

func TestConcurrentSignersReuseConnections(t *testing.T) {
	fv := newFakeVault(t)
	b := mustBackend(t, fv, &staticCredential{}, Config{})
	tr := b.transport.(*http.Client).Transport.(inMemoryBody).next.(*http.Transport)
	if tr.MaxIdleConnsPerHost < 32 || tr.DisableKeepAlives {
		t.Fatalf("transport keeps %d idle connections per host (keep-alives disabled: %v), want at least 32",
			tr.MaxIdleConnsPerHost, tr.DisableKeepAlives)
	}
	s := mustOpen(t, b, fv.addKey("k", mustECKey(t, elliptic.P384())))
	digest := testDigests()[crypto.SHA384]
	var wg sync.WaitGroup
	sigs := make([][]byte, 32)
	errs := make([]error, 32)
	for i := range sigs {
		wg.Go(func() { sigs[i], errs[i] = s.SignContext(context.Background(), digest, crypto.SHA384) })
	}
	wg.Wait()
	for i := range sigs {
		if errs[i] != nil {
			t.Fatalf("signer %d: %v", i, errs[i])
		}
		verifySignature(t, s.Public(), digest, sigs[i], crypto.SHA384)
	}
	_, _, _, before := fv.counts()
	for range 10 {
		if _, err := s.SignContext(context.Background(), digest, crypto.SHA384); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, _, after := fv.counts(); after != before {
		t.Fatalf("sequential signatures opened %d new connections, want 0", after-before)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("New accepted a config without a credential")
	}
	if _, err := New(Config{Credential: &staticCredential{}, ExtraRootCAs: []byte("not PEM")}); err == nil {
		t.Fatal("New accepted ExtraRootCAs without a certificate")
	}
}

func TestLoopbackKeysNeedALocalCA(t *testing.T) {
	b, err := New(Config{Credential: &staticCredential{}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Open(context.Background(), "https://localhost:8443/keys/key1")
	if keyserver.ErrorCode(err) != keyserver.EINVALID {
		t.Fatalf("Open of a loopback key without a local CA: %v, want %s", err, keyserver.EINVALID)
	}
}
