package oidc

import (
	"context"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"keyserver/internal/keyserver"
	"keyserver/internal/oidc/entratest"
)

var (
	entraV1 = entratest.V1(tenant)
	entraV2 = entratest.V2(tenant)
	pipeSP  = entratest.AppOnly(entraV2, tenant, pipeClient, false)["oid"] // its service principal's object id
)

// Entra ID facts the tests use (see the ci-identity-claims note): v1 and v2
// issuers of one tenant; the UI's client id is in every delegated token.
const (
	tenant     = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	uiClient   = "0b7e1a53-ui00-4f3e-9c1d-000000000001"
	pipeClient = "0b7e1a53-pipe-4f3e-9c1d-000000000002"
	alice      = "a11ce000-0000-4000-8000-000000000001"
	bob        = "b0b00000-0000-4000-8000-000000000002"
)

// entraIssuers configures Entra's v2 issuer for people (oid) and apps (azp),
// and its v1 issuer as the same, both with their keys at ti.
func entraIssuers(ti *testIssuer) []Issuer {
	disc := ti.srv.URL + "/.well-known/openid-configuration"
	return []Issuer{
		{Issuer: entraV2, Audience: "api://keyserver", SubjectClaim: "azp", PersonClaim: "oid", DiscoveryURL: disc},
		{Issuer: entraV1, Audience: "api://keyserver", SubjectClaim: "appid", PersonClaim: "oid", DiscoveryURL: disc, SameAs: entraV2},
	}
}

func entraClaims(iss string, extra jwt.MapClaims) jwt.MapClaims {
	c := jwt.MapClaims{"iss": iss, "aud": "api://keyserver", "tid": tenant,
		"iat": epoch.Unix(), "nbf": epoch.Unix(), "exp": epoch.Unix() + 3600}
	for k, v := range extra {
		c[k] = v
	}
	return c
}

// delegated is a person's token through the UI, shaped as Entra issues it.
func delegated(iss, oid, name string) jwt.MapClaims {
	return entraClaims(iss, entratest.Delegated(iss, tenant, uiClient, oid, name))
}

// appOnly is a pipeline's client-credentials token: no scp.
func appOnly(iss, clientID string, idtyp bool) jwt.MapClaims {
	return entraClaims(iss, entratest.AppOnly(iss, tenant, clientID, idtyp))
}

func entraVerifier(t *testing.T) (*Verifier, testKey) {
	mustKeys(t)
	k := testKey{"entra", rsaA, jwt.SigningMethodRS256}
	ti := mustTestIssuer(t, k)
	return mustVerifier(t, &fakeClock{t: epoch}, entraIssuers(ti)...), k
}

func mustIdentity(t *testing.T, v *Verifier, token string) keyserver.Identity {
	t.Helper()
	id, err := v.Verify(context.Background(), token)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return id
}

func TestEntraPeopleAndApps(t *testing.T) {
	v, k := entraVerifier(t)
	person := func(oid string) keyserver.Principal {
		return keyserver.Principal{Issuer: entraV2, Subject: oid, Kind: keyserver.KindPerson}
	}
	app := func(clientID string) keyserver.Principal {
		return keyserver.Principal{Issuer: entraV2, Subject: clientID, Kind: keyserver.KindApp}
	}
	cases := []struct {
		name   string
		claims jwt.MapClaims
		want   keyserver.Principal
		wantNm string
	}{
		{"v2 delegated: alice", delegated(entraV2, alice, "Alice"), person(alice), "Alice"},
		{"v2 delegated: bob through the same UI", delegated(entraV2, bob, "Bob"), person(bob), "Bob"},
		{"v1 delegated: alice is the same person", delegated(entraV1, alice, "Alice"), person(alice), "Alice"},
		{"v2 delegated with idtyp user", func() jwt.MapClaims { c := delegated(entraV2, bob, "Bob"); c["idtyp"] = "user"; return c }(), person(bob), "Bob"},
		{"v2 app-only with idtyp", appOnly(entraV2, pipeClient, true), app(pipeClient), ""},
		{"v2 app-only without idtyp", appOnly(entraV2, pipeClient, false), app(pipeClient), ""},
		{"v1 app-only with idtyp is the same app", appOnly(entraV1, pipeClient, true), app(pipeClient), ""},
		{"v1 app-only without idtyp", appOnly(entraV1, pipeClient, false), app(pipeClient), ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := mustIdentity(t, v, k.sign(t, tc.claims))
			if id.Principal != tc.want || id.Name != tc.wantNm {
				t.Fatalf("identity = %v %q, want %v %q", id.Principal, id.Name, tc.want, tc.wantNm)
			}
			// A person is never the UI app they signed in through, nor an app
			// a person, whatever the ids.
			if id.Kind == keyserver.KindPerson && (id.Subject == uiClient || id.Principal == app(uiClient)) {
				t.Fatal("a person's token names the UI's client app")
			}
			if id.Kind == keyserver.KindApp && id.Subject == pipeSP {
				t.Fatal("an app is named by its service principal's oid, not its client id")
			}
		})
	}
}

// TestEntraKindsNeverMeet makes ids collide on purpose: a person whose oid is
// a registered app's client id, and an app whose client id is a person's oid.
func TestEntraKindsNeverMeet(t *testing.T) {
	v, k := entraVerifier(t)
	collide := delegated(entraV2, alice, "Mallory")
	collide["oid"] = pipeClient
	asPerson := mustIdentity(t, v, k.sign(t, collide))
	asApp := mustIdentity(t, v, k.sign(t, appOnly(entraV2, pipeClient, true)))
	if asPerson.Subject != asApp.Subject || asPerson.Principal == asApp.Principal {
		t.Fatalf("person %v and app %v: same id, yet they must be two principals", asPerson.Principal, asApp.Principal)
	}
	appNamedAlice := mustIdentity(t, v, k.sign(t, appOnly(entraV1, alice, false)))
	aliceAsPerson := mustIdentity(t, v, k.sign(t, delegated(entraV1, alice, "Alice")))
	if appNamedAlice.Principal == aliceAsPerson.Principal || appNamedAlice.Kind != keyserver.KindApp {
		t.Fatalf("an app whose client id is alice's oid became %v", appNamedAlice.Principal)
	}
}

func TestEntraRefusesAmbiguousTokens(t *testing.T) {
	v, k := entraVerifier(t)
	with := func(c jwt.MapClaims, change func(jwt.MapClaims)) jwt.MapClaims { change(c); return c }
	cases := []struct {
		name    string
		claims  jwt.MapClaims
		wantMsg string
	}{
		{"scp with idtyp app", with(delegated(entraV2, alice, "A"), func(c jwt.MapClaims) { c["idtyp"] = "app" }), "idtyp app"},
		{"idtyp user without scp", with(appOnly(entraV2, pipeClient, false), func(c jwt.MapClaims) { c["idtyp"] = "user" }), "idtyp user"},
		{"unknown idtyp", with(appOnly(entraV2, pipeClient, false), func(c jwt.MapClaims) { c["idtyp"] = "device" }), "neither app nor user"},
		{"empty scp", with(delegated(entraV2, alice, "A"), func(c jwt.MapClaims) { c["scp"] = " " }), "scp"},
		{"scp not a string", with(delegated(entraV2, alice, "A"), func(c jwt.MapClaims) { c["scp"] = []any{"x"} }), "scp"},
		{"person without oid is not named by sub or azp", with(delegated(entraV2, alice, "A"), func(c jwt.MapClaims) { delete(c, "oid") }), "no oid claim"},
		{"person of another tenant", with(delegated(entraV2, alice, "A"), func(c jwt.MapClaims) { c["tid"] = "another-tenant" }), "tenant"},
		{"app without a client id", with(appOnly(entraV2, pipeClient, true), func(c jwt.MapClaims) { delete(c, "azp") }), "no azp claim"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id, err := v.Verify(context.Background(), k.sign(t, tc.claims))
			if keyserver.ErrorCode(err) != keyserver.EUNAUTHENTICATED || !strings.Contains(keyserver.ErrorMessage(err), tc.wantMsg) {
				t.Fatalf("Verify = %v, %v; want EUNAUTHENTICATED mentioning %q", id.Principal, err, tc.wantMsg)
			}
		})
	}
}

func TestAppOnlyIssuerRefusesPeople(t *testing.T) {
	mustKeys(t)
	k := testKey{"k", rsaA, jwt.SigningMethodRS256}
	ti := mustTestIssuer(t, k)
	// Today's kind of entry: Entra for pipelines only, no personclaim.
	cfg := Issuer{Issuer: entraV2, Audience: "api://keyserver", SubjectClaim: "azp", DiscoveryURL: ti.srv.URL + "/.well-known/openid-configuration"}
	v := mustVerifier(t, &fakeClock{t: epoch}, cfg)
	if id := mustIdentity(t, v, k.sign(t, appOnly(entraV2, pipeClient, false))); id.Kind != keyserver.KindApp || id.Subject != pipeClient {
		t.Fatalf("app-only token = %v", id.Principal)
	}
	// Before people were told apart, this token was the UI app itself.
	_, err := v.Verify(context.Background(), k.sign(t, delegated(entraV2, alice, "Alice")))
	if keyserver.ErrorCode(err) != keyserver.EUNAUTHENTICATED || !strings.Contains(keyserver.ErrorMessage(err), "apps only") {
		t.Fatalf("a delegated token for an apps-only issuer: %v", err)
	}
}

func TestEntraIssuerLinks(t *testing.T) {
	v1 := `{"issuer":"` + entraV1 + `","audience":"api://ks","subjectclaim":"appid","personclaim":"oid"%s}`
	v2 := `{"issuer":"` + entraV2 + `","audience":"api://ks","subjectclaim":"azp","personclaim":"oid"%s}`
	other := `{"issuer":"https://login.microsoftonline.com/other-tenant/v2.0","audience":"api://ks","subjectclaim":"azp","personclaim":"oid"%s}`
	f := func(format, extra string) string { return strings.Replace(format, "%s", extra, 1) }
	sameAs := func(iss string) string { return `,"sameas":"` + iss + `"` }
	cases := []struct {
		name, json, wantErr string
	}{
		{"v1 and v2 of one tenant, unlinked", "[" + f(v1, "") + "," + f(v2, "") + "]", `Add "sameas"`},
		{"unlinked, apps only", "[" + strings.Replace(f(v1, ""), `,"personclaim":"oid"`, "", 1) + "," + strings.Replace(f(v2, ""), `,"personclaim":"oid"`, "", 1) + "]", `Add "sameas"`},
		{"v1 same as v2", "[" + f(v1, sameAs(entraV2)) + "," + f(v2, "") + "]", ""},
		{"v2 same as v1", "[" + f(v1, "") + "," + f(v2, sameAs(entraV1)) + "]", ""},
		{"two tenants", "[" + f(v2, "") + "," + f(other, "") + "]", ""},
		{"same as another tenant", "[" + f(v2, "") + "," + f(other, sameAs(entraV2)) + "]", "another Entra ID tenant"},
		{"same as an unknown issuer", "[" + f(v1, sameAs(entraV2)) + "]", "not a trusted issuer"},
		{"same as itself", "[" + f(v2, sameAs(entraV2)) + "]", "itself"},
		{"a chain", "[" + f(v1, sameAs(entraV2)) + "," + f(v2, sameAs("https://a.example")) + `,{"issuer":"https://a.example","audience":"x","subjectclaim":"azp","personclaim":"oid"}]`, "directly"},
		{"people named otherwise", "[" + strings.Replace(f(v1, sameAs(entraV2)), `"personclaim":"oid"`, `"personclaim":"sub"`, 1) + "," + f(v2, "") + "]", "personclaim"},
		{"apps named otherwise", "[" + strings.Replace(f(v1, sameAs(entraV2)), `"subjectclaim":"appid"`, `"subjectclaim":"sub"`, 1) + "," + f(v2, "") + "]", "subjectclaim"},
		{"bad person claim", "[" + strings.Replace(f(v2, ""), `"personclaim":"oid"`, `"personclaim":"azp"`, 1) + "]", "never the client app"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseIssuers(tc.json, Options{})
			if tc.wantErr == "" && err != nil {
				t.Fatalf("ParseIssuers: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
