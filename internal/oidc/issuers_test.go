package oidc

import (
	"strings"
	"testing"
)

func TestParseIssuers(t *testing.T) {
	cases := []struct {
		name, json, wantErr string
		want                []Issuer
	}{
		{name: "empty array", json: `[]`, want: []Issuer{}},
		{
			name: "defaults subject claim",
			json: `[{"issuer":"https://token.actions.githubusercontent.com","audience":"api://ks"}]`,
			want: []Issuer{{Issuer: "https://token.actions.githubusercontent.com", Audience: "api://ks", SubjectClaim: "sub"}},
		},
		{
			name: "entra v1 with discovery url",
			json: `[{"issuer":"https://sts.windows.net/t/","audience":"api://ks","subjectclaim":"appid","discoveryurl":"https://login.microsoftonline.com/t/.well-known/openid-configuration"}]`,
			want: []Issuer{{Issuer: "https://sts.windows.net/t/", Audience: "api://ks", SubjectClaim: "appid", DiscoveryURL: "https://login.microsoftonline.com/t/.well-known/openid-configuration"}},
		},
		{
			name: "two issuers",
			json: `[{"issuer":"https://a.example","audience":"x","subjectclaim":"azp"},{"issuer":"https://b.example","audience":"x","subjectclaim":"oid"}]`,
			want: []Issuer{{Issuer: "https://a.example", Audience: "x", SubjectClaim: "azp"}, {Issuer: "https://b.example", Audience: "x", SubjectClaim: "oid"}},
		},
		{name: "not json", json: `nope`, wantErr: "parsing"},
		{name: "object not array", json: `{"issuer":"https://a.example"}`, wantErr: "parsing"},
		{name: "unknown field", json: `[{"issuer":"https://a.example","audience":"x","aud":"y"}]`, wantErr: "parsing"},
		{name: "trailing data", json: `[] []`, wantErr: "trailing"},
		{name: "empty issuer", json: `[{"audience":"x"}]`, wantErr: "issuer is empty"},
		{name: "issuer not a url", json: `[{"issuer":"github","audience":"x"}]`, wantErr: "https URL"},
		{name: "empty audience", json: `[{"issuer":"https://a.example"}]`, wantErr: "audience is empty"},
		{name: "bad subject claim", json: `[{"issuer":"https://a.example","audience":"x","subjectclaim":"email"}]`, wantErr: "subjectclaim"},
		{name: "bad discovery url", json: `[{"issuer":"https://a.example","audience":"x","discoveryurl":"ftp://a"}]`, wantErr: "discoveryurl"},
		{name: "duplicate", json: `[{"issuer":"https://a.example","audience":"x"},{"issuer":"https://a.example","audience":"y"}]`, wantErr: "twice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseIssuers(tc.json, Options{})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseIssuers: %v", err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d issuers, want %d", len(got), len(tc.want))
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("issuer %d = %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

// TestPlainHTTPIssuersOnlyLocal is issue 8 defect 7: a plain-http issuer is
// accepted only on loopback and only with the local-only setting on.
func TestPlainHTTPIssuersOnlyLocal(t *testing.T) {
	tests := []struct {
		issuer           string
		okLocal, okCloud bool
	}{
		{"https://token.actions.githubusercontent.com", true, true},
		{"https://127.0.0.1:8443", true, true},
		{"http://localhost:8300", true, false},
		{"http://127.0.0.1:8300", true, false},
		{"http://[::1]:8300", true, false},
		{"http://gitlab.example.com", false, false},
		{"http://10.0.0.1", false, false},
		{"ftp://localhost", false, false},
	}
	for _, tc := range tests {
		for _, local := range []bool{true, false} {
			want := tc.okCloud
			if local {
				want = tc.okLocal
			}
			_, err := ParseIssuers(`[{"issuer":"`+tc.issuer+`","audience":"a"}]`, Options{AllowLoopbackHTTP: local})
			if (err == nil) != want {
				t.Errorf("ParseIssuers(%q, local %v) error = %v, want ok %v", tc.issuer, local, err, want)
			}
			_, err = ParseIssuers(`[{"issuer":"https://a.example","audience":"a","discoveryurl":"`+tc.issuer+`/.well-known/openid-configuration"}]`, Options{AllowLoopbackHTTP: local})
			if (err == nil) != want {
				t.Errorf("discoveryurl %q, local %v: error = %v, want ok %v", tc.issuer, local, err, want)
			}
		}
	}
}
