package oidc

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

func TestParseJWKS(t *testing.T) {
	mustKeys(t)
	rsaJWK := testKey{"rsa", rsaA, jwt.SigningMethodRS256}.jwk()
	ecJWK := testKey{"ec", ec256, jwt.SigningMethodES256}.jwk()
	b64 := base64.RawURLEncoding.EncodeToString
	with := func(base map[string]any, k string, v any) map[string]any {
		m := make(map[string]any, len(base))
		for kk, vv := range base {
			m[kk] = vv
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	cases := []struct {
		name     string
		keys     []map[string]any
		wantKids []string
		wantErr  string
	}{
		{name: "rsa and ec", keys: []map[string]any{rsaJWK, ecJWK}, wantKids: []string{"rsa", "ec"}},
		{name: "skips encryption keys", keys: []map[string]any{rsaJWK, with(ecJWK, "use", "enc")}, wantKids: []string{"rsa"}},
		{name: "skips other key types", keys: []map[string]any{rsaJWK, {"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": "AA"}}, wantKids: []string{"rsa"}},
		{name: "skips keys without kid", keys: []map[string]any{rsaJWK, with(ecJWK, "kid", nil)}, wantKids: []string{"rsa"}},
		{name: "no keys", keys: []map[string]any{}, wantErr: "no usable"},
		{name: "weak RSA", keys: []map[string]any{with(rsaJWK, "n", b64(make([]byte, 128)))}, wantErr: "bits"},
		{name: "even exponent", keys: []map[string]any{with(rsaJWK, "e", b64([]byte{2}))}, wantErr: "exponent"},
		{name: "point off the curve", keys: []map[string]any{with(ecJWK, "y", b64(make([]byte, 32)))}, wantErr: "EC point"},
		{name: "unknown curve", keys: []map[string]any{with(ecJWK, "crv", "secp256k1")}, wantErr: "curve"},
		{name: "bad base64", keys: []map[string]any{with(rsaJWK, "n", "!!")}, wantErr: "modulus"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body, err := json.Marshal(map[string]any{"keys": tc.keys})
			if err != nil {
				t.Fatal(err)
			}
			got, err := parseJWKS(body)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseJWKS: %v", err)
			}
			if len(got) != len(tc.wantKids) {
				t.Fatalf("got %d keys, want %v", len(got), tc.wantKids)
			}
			for _, kid := range tc.wantKids {
				if _, ok := got[kid]; !ok {
					t.Fatalf("key %q missing", kid)
				}
			}
		})
	}
}
