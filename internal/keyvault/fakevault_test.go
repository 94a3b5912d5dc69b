package keyvault

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"
)

const (
	testToken  = "test-token"
	testTenant = "00000000-0000-0000-0000-000000000001"
	challenge  = `Bearer authorization="https://login.microsoftonline.com/` + testTenant + `", resource="https://vault.azure.net"`
)

// fakeVault mimics the few Key Vault responses the backend uses: GET key
// and POST sign, behind a bearer challenge, with injectable faults.
type fakeVault struct {
	t   testing.TB
	srv *httptest.Server

	mu              sync.Mutex
	keys            map[string]fakeKey
	faults          []fault // one-shot, consumed in order
	always          *fault
	unauthenticated int
	gets, signs     int           // authenticated requests
	conns           int           // connections opened
	stop            chan struct{} // releases hung requests
}

type fakeKey struct {
	version string
	priv    crypto.Signer
}

// fault replaces the answer to an authenticated request of op ("get" or "sign").
type fault struct {
	op         string
	status     int
	retryAfter string
	hang       bool
}

func newFakeVault(t testing.TB) *fakeVault {
	t.Helper()
	fv := &fakeVault{t: t, keys: map[string]fakeKey{}, stop: make(chan struct{})}
	fv.srv = httptest.NewUnstartedServer(http.HandlerFunc(fv.serve))
	fv.srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			fv.mu.Lock()
			fv.conns++
			fv.mu.Unlock()
		}
	}
	fv.srv.StartTLS()
	t.Cleanup(fv.srv.Close)
	t.Cleanup(func() { close(fv.stop) }) // runs before Close
	return fv
}

func (fv *fakeVault) caPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: fv.srv.Certificate().Raw})
}

func (fv *fakeVault) addKey(name string, priv crypto.Signer) string {
	fv.mu.Lock()
	defer fv.mu.Unlock()
	fv.keys[name] = fakeKey{version: "0123456789abcdef0123456789abcdef", priv: priv}
	return fv.srv.URL + "/keys/" + name
}

func (fv *fakeVault) push(f ...fault) {
	fv.mu.Lock()
	defer fv.mu.Unlock()
	fv.faults = append(fv.faults, f...)
}

func (fv *fakeVault) setAlways(f fault) {
	fv.mu.Lock()
	defer fv.mu.Unlock()
	fv.always = &f
}

func (fv *fakeVault) counts() (unauthenticated, gets, signs, conns int) {
	fv.mu.Lock()
	defer fv.mu.Unlock()
	return fv.unauthenticated, fv.gets, fv.signs, fv.conns
}

// takeFault counts an authenticated request of op and returns the fault to apply, if any.
func (fv *fakeVault) takeFault(op string) *fault {
	fv.mu.Lock()
	defer fv.mu.Unlock()
	if op == "get" {
		fv.gets++
	} else {
		fv.signs++
	}
	if fv.always != nil && fv.always.op == op {
		return fv.always
	}
	if len(fv.faults) > 0 && fv.faults[0].op == op {
		f := fv.faults[0]
		fv.faults = fv.faults[1:]
		return &f
	}
	return nil
}

func (fv *fakeVault) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("api-version") == "" {
		writeError(w, http.StatusBadRequest, "MissingApiVersion")
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+testToken {
		fv.mu.Lock()
		fv.unauthenticated++
		fv.mu.Unlock()
		w.Header().Set("WWW-Authenticate", challenge)
		writeError(w, http.StatusUnauthorized, "Unauthorized")
		return
	}
	// reading the body first lets the server notice a client that gives up
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "BadBody")
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	switch {
	case r.Method == http.MethodGet && len(parts) >= 2 && len(parts) <= 3 && parts[0] == "keys":
		version := ""
		if len(parts) == 3 {
			version = parts[2]
		}
		if fv.applyFault(w, r, "get") {
			return
		}
		fv.getKey(w, parts[1], version)
	case r.Method == http.MethodPost && len(parts) >= 3 && len(parts) <= 4 && parts[0] == "keys" && parts[len(parts)-1] == "sign":
		if fv.applyFault(w, r, "sign") {
			return
		}
		version := "" // azkeys leaves out an empty version: the current one
		if len(parts) == 4 {
			version = parts[2]
		}
		fv.sign(w, body, parts[1], version)
	default:
		fv.t.Errorf("fake vault: unsupported request %s %s", r.Method, r.URL.Path)
		writeError(w, http.StatusNotImplemented, "NotImplemented")
	}
}

func (fv *fakeVault) applyFault(w http.ResponseWriter, r *http.Request, op string) bool {
	f := fv.takeFault(op)
	if f == nil {
		return false
	}
	if f.hang {
		select {
		case <-r.Context().Done():
		case <-fv.stop:
		}
		return true
	}
	if f.retryAfter != "" {
		w.Header().Set("Retry-After", f.retryAfter)
	}
	if f.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", challenge)
	}
	writeError(w, f.status, "Injected")
	return true
}

func (fv *fakeVault) key(name, version string) (fakeKey, bool) {
	fv.mu.Lock()
	defer fv.mu.Unlock()
	k, ok := fv.keys[name]
	if !ok || (version != "" && version != k.version) {
		return fakeKey{}, false
	}
	return k, true
}

func (fv *fakeVault) getKey(w http.ResponseWriter, name, version string) {
	k, ok := fv.key(name, version)
	if !ok {
		writeError(w, http.StatusNotFound, "KeyNotFound")
		return
	}
	b64 := base64.RawURLEncoding.EncodeToString
	jwk := map[string]any{"kid": fv.srv.URL + "/keys/" + name + "/" + k.version, "key_ops": []string{"sign", "verify"}}
	switch pub := k.priv.Public().(type) {
	case *rsa.PublicKey:
		jwk["kty"], jwk["n"], jwk["e"] = "RSA-HSM", b64(pub.N.Bytes()), b64(big.NewInt(int64(pub.E)).Bytes())
	case *ecdsa.PublicKey:
		point, _ := pub.Bytes()
		size := (len(point) - 1) / 2
		jwk["kty"], jwk["crv"] = "EC-HSM", pub.Curve.Params().Name
		jwk["x"], jwk["y"] = b64(point[1:1+size]), b64(point[1+size:])
	}
	writeJSON(w, http.StatusOK, map[string]any{"key": jwk, "attributes": map[string]any{"enabled": true}})
}

func (fv *fakeVault) sign(w http.ResponseWriter, body []byte, name, version string) {
	k, ok := fv.key(name, version)
	if !ok {
		writeError(w, http.StatusNotFound, "KeyNotFound")
		return
	}
	var req struct{ Alg, Value string }
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, "BadParameter")
		return
	}
	value, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(req.Value, "="))
	if err != nil {
		writeError(w, http.StatusBadRequest, "BadParameter")
		return
	}
	sig, err := fakeSign(k.priv, req.Alg, value)
	if err != nil {
		writeError(w, http.StatusBadRequest, "BadParameter")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"kid": fv.srv.URL + "/keys/" + name + "/" + k.version,
		"value": base64.RawURLEncoding.EncodeToString(sig)})
}

// fakeSign signs as Key Vault does: the digest must fit the algorithm, and
// ECDSA signatures are raw r||s.
func fakeSign(priv crypto.Signer, alg string, digest []byte) ([]byte, error) {
	hashes := map[string]crypto.Hash{"256": crypto.SHA256, "384": crypto.SHA384, "512": crypto.SHA512}
	h, ok := hashes[strings.TrimLeft(alg, "RPES")]
	if !ok || len(digest) != h.Size() {
		return nil, errBadParameter
	}
	switch k := priv.(type) {
	case *rsa.PrivateKey:
		switch alg[:2] {
		case "RS":
			return rsa.SignPKCS1v15(nil, k, h, digest)
		case "PS":
			return rsa.SignPSS(rand.Reader, k, h, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		}
	case *ecdsa.PrivateKey:
		want := map[string]string{"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}[alg]
		if want != k.Curve.Params().Name {
			return nil, errBadParameter
		}
		r, s, err := ecdsa.Sign(rand.Reader, k, digest)
		if err != nil {
			return nil, err
		}
		size := (k.Curve.Params().BitSize + 7) / 8
		raw := make([]byte, 2*size)
		r.FillBytes(raw[:size])
		s.FillBytes(raw[size:])
		return raw, nil
	}
	return nil, errBadParameter
}

var errBadParameter = errors.New("bad parameter")

func writeError(w http.ResponseWriter, status int, code string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": code}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// staticCredential hands out a fixed token and remembers what it was asked for.
type staticCredential struct {
	mu   sync.Mutex
	last policy.TokenRequestOptions
}

func (c *staticCredential) GetToken(_ context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = opts
	return azcore.AccessToken{Token: testToken, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func (c *staticCredential) asked() policy.TokenRequestOptions {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

func mustRSAKey(tb testing.TB, bits int) *rsa.PrivateKey {
	tb.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func mustECKey(tb testing.TB, c elliptic.Curve) *ecdsa.PrivateKey {
	tb.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func rsaJWK(k *rsa.PrivateKey) *azkeys.JSONWebKey {
	return &azkeys.JSONWebKey{Kty: ptr(azkeys.KeyTypeRSA), N: k.N.Bytes(), E: big.NewInt(int64(k.E)).Bytes()}
}

func ecJWK(tb testing.TB, k *ecdsa.PrivateKey) *azkeys.JSONWebKey {
	tb.Helper()
	point, err := k.PublicKey.Bytes()
	if err != nil {
		tb.Fatal(err)
	}
	size := (len(point) - 1) / 2
	crv := azkeys.CurveName(k.Curve.Params().Name)
	return &azkeys.JSONWebKey{Kty: ptr(azkeys.KeyTypeEC), Crv: &crv, X: point[1 : 1+size], Y: point[1+size:]}
}

func ptr[T any](v T) *T { return &v }
