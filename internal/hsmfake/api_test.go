package hsmfake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/pkcs11"
)

func TestChallenge(t *testing.T) {
	cases := []struct{ flavour, resource string }{
		{FlavourVault, "https://vault.azure.net"},
		{FlavourManagedHSM, "https://managedhsm.azure.net"},
	}
	for _, c := range cases {
		t.Run(c.flavour, func(t *testing.T) {
			f := mustServer(t, t.TempDir(), c.flavour)
			want := `Bearer authorization="https://login.microsoftonline.com/` + TenantID + `", resource="` + c.resource + `"`
			for _, auth := range []string{"", "Bearer ", "Bearer    ", "Basic abc"} {
				req, err := http.NewRequest(http.MethodPost, f.ts.URL+"/keys/k/create?api-version=7.5", nil)
				if err != nil {
					t.Fatalf("building request: %v", err)
				}
				if auth != "" {
					req.Header.Set("Authorization", auth)
				}
				resp, err := f.client.Do(req)
				if err != nil {
					t.Fatalf("request: %v", err)
				}
				var body errorBody
				err = json.NewDecoder(resp.Body).Decode(&body)
				resp.Body.Close()
				if err != nil {
					t.Fatalf("decoding 401 body: %v", err)
				}
				if resp.StatusCode != http.StatusUnauthorized || body.Error.Code != "Unauthorized" {
					t.Fatalf("Authorization %q: status %d code %q, want 401 Unauthorized", auth, resp.StatusCode, body.Error.Code)
				}
				if got := resp.Header.Get("WWW-Authenticate"); got != want {
					t.Fatalf("WWW-Authenticate = %s, want %s", got, want)
				}
			}
			f.call(t, http.MethodGet, "/keys", nil, http.StatusOK)
		})
	}
}

func TestUnsupportedRequestsFailLoudly(t *testing.T) {
	f := mustServer(t, t.TempDir(), FlavourVault)
	kid := mustCreate(t, f, "k", map[string]any{"kty": "EC"}).Key.KID
	v := versionOf(kid)
	cases := []struct {
		method, path string
		body         any
		status       int
	}{
		{http.MethodGet, "/secrets/s", nil, 404},
		{http.MethodGet, "/keys/k/versions", nil, 404},
		{http.MethodGet, "/keys/k/rotationpolicy", nil, 404},
		{http.MethodPost, "/keys/k/" + v + "/encrypt", map[string]string{"alg": "RSA-OAEP", "value": "AA"}, 404},
		{http.MethodPost, "/keys/k/not-a-version/sign", map[string]string{"alg": "ES256", "value": "AA"}, 404},
		{http.MethodDelete, "/keys/k", nil, 405},
		{http.MethodPut, "/keys/k", map[string]any{}, 405},
		{http.MethodGet, "/keys/k/" + v + "/sign", nil, 405},
		{http.MethodGet, "/keys/k/create", nil, 405},
		{http.MethodGet, "/keys/k/rotate", nil, 405},
		{http.MethodPost, "/keys/k/rotate", map[string]any{"lifetimeActions": []any{}}, 400},
		{http.MethodPost, "/keys/t/create", map[string]any{"kty": "oct-HSM"}, 400},
		{http.MethodPost, "/keys/t/create", map[string]any{"kty": "EC", "tags": map[string]string{"a": "b"}}, 400},
		{http.MethodPost, "/keys/t/create", map[string]any{"kty": "EC", "key_ops": []string{"encrypt"}}, 400},
		{http.MethodPost, "/keys/t/create", map[string]any{"kty": "EC", "attributes": map[string]any{"exp": 1}}, 400},
		{http.MethodPost, "/keys/t/create", map[string]any{"kty": "EC", "crv": "P-256K"}, 400},
		{http.MethodPost, "/keys/t/create", map[string]any{"kty": "EC", "surprise": true}, 400},
		{http.MethodPost, "/keys/k/" + v + "/sign", map[string]string{"alg": "ES256K", "value": "AA"}, 400},
	}
	for _, c := range cases {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			before := strings.Count(f.logs.String(), "hsmfake: unsupported request")
			status, _, body := f.do(t, c.method, c.path, c.body, "tok")
			if status != c.status || errorCode(t, body) != "NotSupportedByFake" {
				t.Fatalf("status %d body %s, want %d NotSupportedByFake", status, body, c.status)
			}
			if after := strings.Count(f.logs.String(), "hsmfake: unsupported request"); after != before+1 {
				t.Fatalf("log has %d unsupported-request lines, want %d; logs:\n%s", after, before+1, f.logs.String())
			}
		})
	}
	list := mustDecode[keyList](t, f.call(t, http.MethodGet, "/keys", nil, http.StatusOK))
	if len(list.Value) != 1 {
		t.Fatalf("refused creates made keys: %+v", list.Value)
	}
}

func TestCreateAndList(t *testing.T) {
	f := mustServer(t, t.TempDir(), FlavourVault)
	cases := []struct {
		name string
		body map[string]any
		kty  string
		nLen int
		crv  string
	}{
		{"rsa-default", map[string]any{"kty": "RSA"}, "RSA", 256, ""},
		{"rsa3072", map[string]any{"kty": "RSA-HSM", "key_size": 3072, "key_ops": []string{"sign", "verify"}}, "RSA-HSM", 384, ""},
		{"rsa4096", map[string]any{"kty": "RSA", "key_size": 4096, "public_exponent": 65537}, "RSA", 512, ""},
		{"ec-default", map[string]any{"kty": "EC", "attributes": map[string]any{"enabled": true}}, "EC", 0, "P-256"},
		{"ec521", map[string]any{"kty": "EC-HSM", "crv": "P-521"}, "EC-HSM", 0, "P-521"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			raw := f.call(t, http.MethodPost, "/keys/"+c.name+"/create", c.body, http.StatusOK)
			b := mustDecode[keyBundle](t, raw)
			if b.Key.Kty != c.kty || b.Key.Crv != c.crv {
				t.Fatalf("kty %q crv %q, want %q %q", b.Key.Kty, b.Key.Crv, c.kty, c.crv)
			}
			if n, _ := decodeB64URL(b.Key.N); len(n) != c.nLen {
				t.Fatalf("modulus is %d bytes, want %d", len(n), c.nLen)
			}
			prefix := f.ts.URL + "/keys/" + c.name + "/"
			if !strings.HasPrefix(b.Key.KID, prefix) || !versionPattern.MatchString(versionOf(b.Key.KID)) {
				t.Fatalf("kid %q, want %s<32 hex>", b.Key.KID, prefix)
			}
			if !b.Attributes.Enabled || b.Attributes.Created == 0 || b.Attributes.Updated != b.Attributes.Created {
				t.Fatalf("attributes %+v", b.Attributes)
			}
			if !bytes.Contains(raw, []byte(`"exportable":false`)) || !bytes.Contains(raw, []byte(`"recoveryLevel":"Recoverable+Purgeable"`)) {
				t.Fatalf("attributes lack exportable/recoveryLevel: %s", raw)
			}
		})
	}
	raw := f.call(t, http.MethodGet, "/keys?api-version=7.5", nil, http.StatusOK)
	if !bytes.Contains(raw, []byte(`"nextLink":null`)) {
		t.Fatalf("list has no nextLink null: %s", raw)
	}
	list := mustDecode[keyList](t, raw)
	if len(list.Value) != len(cases) {
		t.Fatalf("list has %d keys, want %d", len(list.Value), len(cases))
	}
	for _, item := range list.Value {
		if !strings.HasPrefix(item.KID, f.ts.URL+"/keys/") || strings.Count(item.KID[len(f.ts.URL):], "/") != 2 {
			t.Fatalf("list kid %q should name the key without a version", item.KID)
		}
	}
}

func TestStatePersists(t *testing.T) {
	dir := t.TempDir()
	f := mustServer(t, dir, FlavourVault)
	created := mustCreate(t, f, "keep", map[string]any{"kty": "RSA"})
	ca := f.srv.CAPEM()
	f.close()

	f = mustServer(t, dir, FlavourManagedHSM)
	if !bytes.Equal(f.srv.CAPEM(), ca) {
		t.Fatalf("the CA changed across restarts")
	}
	onDisk, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil || !bytes.Equal(onDisk, ca) {
		t.Fatalf("ca.pem on disk differs from CAPEM (err %v)", err)
	}
	got := mustDecode[keyBundle](t, f.call(t, http.MethodGet, "/keys/keep/"+versionOf(created.Key.KID), nil, http.StatusOK))
	if got.Key.N != created.Key.N || got.Key.Kty != "RSA" || got.Attributes.Created != created.Attributes.Created {
		t.Fatalf("the key changed across restarts: %+v, want %+v", got, created)
	}
	f.call(t, http.MethodPost, "/keys/keep//sign", map[string]string{"alg": "RS256", "value": b64.EncodeToString(make([]byte, 32))}, http.StatusOK)

	// Only one state dir may be open per process.
	if s, err := New(context.Background(), Config{StateDir: t.TempDir()}); err == nil {
		s.Close()
		t.Fatalf("a second state dir opened while the first is open")
	}
	f.close()

	// Another state dir is a separate token.
	other := mustServer(t, t.TempDir(), FlavourVault)
	if list := mustDecode[keyList](t, other.call(t, http.MethodGet, "/keys", nil, http.StatusOK)); len(list.Value) != 0 {
		t.Fatalf("a new state dir lists keys: %+v", list.Value)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	cases := []Config{
		{},
		{StateDir: t.TempDir(), Flavour: "keyvault"},
		{StateDir: t.TempDir(), ModulePath: "/nonexistent/libsofthsm2.so"},
	}
	for _, cfg := range cases {
		if s, err := New(context.Background(), cfg); err == nil {
			s.Close()
			t.Fatalf("New(%+v) succeeded", cfg)
		}
	}
}

func TestPrivateKeysStayInTheToken(t *testing.T) {
	f := mustServer(t, t.TempDir(), FlavourVault)
	for _, kty := range []string{"RSA", "EC"} {
		if _, err := f.srv.CreateKey(context.Background(), "k-"+kty, kty, 0, ""); err != nil {
			t.Fatalf("CreateKey %s: %v", kty, err)
		}
		k := f.srv.keys.lookup("k-"+kty, "")
		secret := uint(pkcs11.CKA_PRIVATE_EXPONENT)
		if kty == "EC" {
			secret = pkcs11.CKA_VALUE
		}
		err := f.srv.tok.withSession(context.Background(), func(sh sessionHandle) error {
			attrs, err := f.srv.tok.p.GetAttributeValue(sh, k.priv, []*pkcs11.Attribute{
				pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, nil),
				pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, nil),
			})
			if err != nil {
				return err
			}
			if !bytes.Equal(attrs[0].Value, []byte{1}) || !bytes.Equal(attrs[1].Value, []byte{0}) {
				t.Errorf("%s key: CKA_SENSITIVE %v CKA_EXTRACTABLE %v, want true false", kty, attrs[0].Value, attrs[1].Value)
			}
			if _, err := f.srv.tok.p.GetAttributeValue(sh, k.priv, []*pkcs11.Attribute{pkcs11.NewAttribute(secret, nil)}); !errors.Is(err, pkcs11.Error(pkcs11.CKR_ATTRIBUTE_SENSITIVE)) {
				t.Errorf("%s key: reading the private value gave %v, want CKR_ATTRIBUTE_SENSITIVE", kty, err)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("reading attributes: %v", err)
		}
	}
}
