// Package entratest shapes token claims as Entra ID issues them, for tests
// that must tell people from apps: delegated tokens (a person signed in
// through a client app) carry scp, app-only tokens carry none.
package entratest

import "strings"

// Issuers of one tenant: v1 and v2 name the same people and apps.
func V1(tenant string) string { return "https://sts.windows.net/" + tenant + "/" }

// V2 is the v2.0 issuer of tenant.
func V2(tenant string) string { return "https://login.microsoftonline.com/" + tenant + "/v2.0" }

func isV1(issuer string) bool { return strings.HasPrefix(issuer, "https://sts.windows.net/") }

// Delegated returns the claims (without iss, aud and times) of a person's
// token from issuer: oid names the person, the client app is appid (v1) or
// azp (v2), the same for everyone who signs in through it.
func Delegated(issuer, tenant, clientApp, oid, name string) map[string]any {
	c := map[string]any{"scp": "access_as_user", "oid": oid, "tid": tenant, "sub": "pairwise-" + oid, "name": name}
	if isV1(issuer) {
		c["appid"], c["ver"], c["upn"] = clientApp, "1.0", name+"@contoso.example"
	} else {
		c["azp"], c["ver"], c["preferred_username"] = clientApp, "2.0", name+"@contoso.example"
	}
	return c
}

// AppOnly returns the claims of an app's client-credentials token from
// issuer: no scp; oid and sub are its service principal's object id, the
// client id is appid (v1) or azp (v2); idtyp "app" when the optional claim is
// configured.
func AppOnly(issuer, tenant, clientID string, idtyp bool) map[string]any {
	sp := "sp-of-" + clientID
	c := map[string]any{"oid": sp, "sub": sp, "tid": tenant, "roles": []any{"Sign"}}
	if isV1(issuer) {
		c["appid"], c["ver"] = clientID, "1.0"
	} else {
		c["azp"], c["ver"] = clientID, "2.0"
	}
	if idtyp {
		c["idtyp"] = "app"
	}
	return c
}
