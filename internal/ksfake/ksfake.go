// Package ksfake is an in-memory fake of the Keyserver API for tests of its
// clients, the PKCS#11 module and the ks CLI: /api/keys, /api/keys/{keyid},
// /api/signorders and (ops.go) the operations routes. It signs with real keys,
// checks every request field strictly (an unexpected request fails loudly
// with 400 "fake: ..."), counts calls and takes one-shot faults.
package ksfake

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// Key is one fake key.
type Key struct {
	ID     string
	Signer crypto.Signer
	Cert   *x509.Certificate
	PEM    string
}

// Fault is a one-shot error answer for the next sign order.
type Fault struct {
	Status  int
	Code    string
	Message string
}

// Fake is the Keyserver fake; serve it with httptest.NewServer(f).
type Fake struct {
	Token       string // the accepted bearer token
	OperationID string // the accepted operation id
	Keys        []*Key

	// Required is the approvals each key needs in operations (default 0).
	Required map[string]int
	// Now is the fake's clock; nil means time.Now.
	Now func() time.Time

	mu        sync.Mutex
	keyCalls  int
	signCalls int
	faults    []Fault
	lastOrder map[string]any
	lastAuth  string
	ops       opBook
}

// New makes a fake with the given keys; token and operation id are what it accepts.
func New(token, opID string, keys ...*Key) *Fake {
	return &Fake{Token: token, OperationID: opID, Keys: keys}
}

// MustRSAKey makes an RSA key with a self-signed certificate.
func MustRSAKey(tb testing.TB, id string, bits int) *Key {
	tb.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		tb.Fatalf("generating RSA key: %v", err)
	}
	return mustKey(tb, id, priv)
}

// MustECKey makes an EC key with a self-signed certificate.
func MustECKey(tb testing.TB, id string, curve elliptic.Curve) *Key {
	tb.Helper()
	priv, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		tb.Fatalf("generating EC key: %v", err)
	}
	return mustKey(tb, id, priv)
}

func mustKey(tb testing.TB, id string, s crypto.Signer) *Key {
	tb.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: id, Organization: []string{"Keyserver test"}},
		Issuer:       pkix.Name{CommonName: id},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, s.Public(), s)
	if err != nil {
		tb.Fatalf("creating certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatalf("parsing certificate: %v", err)
	}
	p := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return &Key{ID: id, Signer: s, Cert: cert, PEM: string(p)}
}

// InjectSignFault makes the next sign order fail with f.
func (f *Fake) InjectSignFault(fault Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, fault)
}

// Calls returns how many key listings and sign orders were served.
func (f *Fake) Calls() (keys, signs int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.keyCalls, f.signCalls
}

// LastOrder returns the JSON body of the last sign order.
func (f *Fake) LastOrder() map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastOrder
}

// LastAuth returns the last Authorization header seen.
func (f *Fake) LastAuth() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lastAuth
}

func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.lastAuth = r.Header.Get("Authorization")
	f.mu.Unlock()
	subject, ok := f.authorized(r.Header.Get("Authorization"))
	if !ok {
		writeError(w, http.StatusUnauthorized, "unauthenticated", "The bearer token is missing or invalid.")
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/api/keys":
		f.listKeys(w)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/api/keys/"):
		f.getKey(w, strings.TrimPrefix(r.URL.Path, "/api/keys/"))
	case r.Method == http.MethodPost && r.URL.Path == "/api/signorders":
		f.sign(w, r, subject)
	case r.URL.Path == "/api/operations" || strings.HasPrefix(r.URL.Path, "/api/operations/"):
		f.serveOperations(w, r, subject)
	default:
		writeError(w, http.StatusBadRequest, "invalid_request", "fake: unsupported request "+r.Method+" "+r.URL.Path)
	}
}

func (f *Fake) listKeys(w http.ResponseWriter) {
	f.mu.Lock()
	f.keyCalls++
	f.mu.Unlock()
	out := []map[string]any{}
	for _, k := range f.Keys {
		out = append(out, f.keyView(k))
	}
	writeJSON(w, http.StatusOK, out)
}

func (f *Fake) keyView(k *Key) map[string]any {
	alg := "RSA"
	if _, ok := k.Signer.(*ecdsa.PrivateKey); ok {
		alg = "EC"
	}
	return map[string]any{"keyid": k.ID, "keyinfo": "test key " + k.ID,
		"certificate": k.PEM, "algorithm": alg, "requiredapprovals": f.Required[k.ID]}
}

func (f *Fake) key(id string) *Key {
	for _, k := range f.Keys {
		if k.ID == id {
			return k
		}
	}
	return nil
}

func (f *Fake) getKey(w http.ResponseWriter, id string) {
	k := f.key(id)
	if k == nil {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("Key %q does not exist or you may not use it.", id))
		return
	}
	writeJSON(w, http.StatusOK, f.keyView(k))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"error": code, "message": msg})
}

func (f *Fake) sign(w http.ResponseWriter, r *http.Request, subject string) {
	var order map[string]any
	if err := json.NewDecoder(r.Body).Decode(&order); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "fake: body is not JSON")
		return
	}
	f.mu.Lock()
	f.signCalls++
	f.lastOrder = order
	var fault *Fault
	if len(f.faults) > 0 {
		fault = &f.faults[0]
		f.faults = f.faults[1:]
	}
	f.mu.Unlock()
	if fault != nil {
		writeError(w, fault.Status, fault.Code, fault.Message)
		return
	}
	sig, err := f.signOrder(order)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "fake: "+err.Error())
		return
	}
	if str(order, "operationid") != f.OperationID {
		if status, code, msg := f.spendUse(subject, str(order, "operationid"), str(order, "keyid")); status != 0 {
			writeError(w, status, code, msg)
			return
		}
	}
	writeJSON(w, http.StatusCreated, map[string]string{"keyid": str(order, "keyid"),
		"inputdata": str(order, "inputdata"), "signatureformat": str(order, "signatureformat"),
		"result": hex.EncodeToString(sig)})
}

func str(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

var hashes = map[string]crypto.Hash{"SHA256": crypto.SHA256, "SHA384": crypto.SHA384, "SHA512": crypto.SHA512}

func (f *Fake) signOrder(o map[string]any) ([]byte, error) {
	for k := range o {
		switch k {
		case "operationid", "keyid", "inputdata", "inputformat", "inputpadding", "signatureformat", "description", "hashalgorithm":
		default:
			return nil, fmt.Errorf("unknown field %q", k)
		}
	}
	if str(o, "inputformat") != "hex" {
		return nil, fmt.Errorf("inputformat must be hex")
	}
	in, err := hex.DecodeString(str(o, "inputdata"))
	if err != nil || strings.ToLower(str(o, "inputdata")) != str(o, "inputdata") {
		return nil, fmt.Errorf("inputdata is not lower-case hex")
	}
	key := f.key(str(o, "keyid"))
	if key == nil {
		return nil, fmt.Errorf("unknown key %q", str(o, "keyid"))
	}
	pad, format := str(o, "inputpadding"), str(o, "signatureformat")
	switch priv := key.Signer.(type) {
	case *rsa.PrivateKey:
		if format != "asn1" {
			return nil, fmt.Errorf("RSA wants signatureformat asn1, got %q", format)
		}
		switch pad {
		case "digestinfo":
			if _, ok := o["hashalgorithm"]; ok {
				return nil, fmt.Errorf("digestinfo takes no hashalgorithm")
			}
			return rsa.SignPKCS1v15(rand.Reader, priv, 0, in)
		case "pss":
			h, ok := hashes[str(o, "hashalgorithm")]
			if !ok || len(in) != h.Size() {
				return nil, fmt.Errorf("pss wants a hashalgorithm and a digest of its size")
			}
			return rsa.SignPSS(rand.Reader, priv, h, in, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		}
		return nil, fmt.Errorf("RSA padding %q", pad)
	case *ecdsa.PrivateKey:
		if pad != "none" || (format != "p1363" && format != "asn1") {
			return nil, fmt.Errorf("EC wants none/p1363 or none/asn1, got %q/%q", pad, format)
		}
		if format == "asn1" {
			return ecdsa.SignASN1(rand.Reader, priv, in)
		}
		r, s, err := ecdsa.Sign(rand.Reader, priv, in)
		if err != nil {
			return nil, err
		}
		size := (priv.Curve.Params().BitSize + 7) / 8
		out := make([]byte, 2*size)
		r.FillBytes(out[:size])
		s.FillBytes(out[size:])
		return out, nil
	}
	return nil, fmt.Errorf("key type %T", key.Signer)
}
