package app

import (
	"strings"
	"testing"
	"time"

	"keyserver/internal/keyserver"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func baseEnv() map[string]string {
	return map[string]string{
		"KEYSERVER_TABLES_CONNECTION_STRING":    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;",
		"KEYSERVER_TRUSTED_ISSUERS":             `[{"issuer":"http://localhost:8300","audience":"api://keyserver-local","subjectclaim":"sub","personclaim":"oid"}]`,
		"KEYSERVER_ALLOW_LOOPBACK_HTTP_ISSUERS": "true",
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := ConfigFromEnv(env(baseEnv()))
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != "7071" || c.TablePrefix != "ks" || c.Credential != "managedidentity" || c.ServiceBusTopic != "keyserver-events" || c.Retention != 90*24*time.Hour {
		t.Fatalf("defaults: %+v", c)
	}
	if c.Limits.MaxValidity != 24*time.Hour || c.Limits.MaxUsageCount != 1000 || c.SignTimeout != 10*time.Second {
		t.Fatalf("limits: %+v, sign timeout %s", c.Limits, c.SignTimeout)
	}
	if len(c.Issuers) != 1 || c.Issuers[0].SubjectClaim != "sub" || len(c.BootstrapAdmins) != 0 {
		t.Fatalf("issuers %+v, admins %+v", c.Issuers, c.BootstrapAdmins)
	}
	if c.UI.Enabled() || c.UI.Scope != "openid profile" {
		t.Fatalf("UI: %+v, want sign-in off and scope openid profile", c.UI)
	}
}

func TestConfigRefusals(t *testing.T) {
	tests := []struct {
		name, key, value, want string
	}{
		{"shorthand storage", "KEYSERVER_TABLES_CONNECTION_STRING", "UseDevelopmentStorage=true", "explicit connection string"},
		{"no storage", "KEYSERVER_TABLES_CONNECTION_STRING", "", "KEYSERVER_TABLES_ENDPOINT"},
		{"bad port", "FUNCTIONS_CUSTOMHANDLER_PORT", "http", "port number"},
		{"bad validity", "KEYSERVER_MAX_VALIDITY", "forever", "KEYSERVER_MAX_VALIDITY"},
		{"negative validity", "KEYSERVER_MAX_VALIDITY", "-1h", "KEYSERVER_MAX_VALIDITY"},
		{"bad usage max", "KEYSERVER_MAX_USAGE_COUNT", "0", "KEYSERVER_MAX_USAGE_COUNT"},
		{"bad sign timeout", "KEYSERVER_SIGN_TIMEOUT", "10", "KEYSERVER_SIGN_TIMEOUT"},
		{"no issuers", "KEYSERVER_TRUSTED_ISSUERS", "", "KEYSERVER_TRUSTED_ISSUERS"},
		{"bad admins", "KEYSERVER_BOOTSTRAP_ADMINS", `{"issuer":"x"}`, "KEYSERVER_BOOTSTRAP_ADMINS"},
		{"admin without subject", "KEYSERVER_BOOTSTRAP_ADMINS", `[{"issuer":"x"}]`, "issuer and subject"},
		{"trailing admins", "KEYSERVER_BOOTSTRAP_ADMINS", `[{"issuer":"x","subject":"y"}]]`, "KEYSERVER_BOOTSTRAP_ADMINS"},
		{"case-variant admins", "KEYSERVER_BOOTSTRAP_ADMINS", `[{"issuer":"x","subject":"y","Subject":"z"}]`, "KEYSERVER_BOOTSTRAP_ADMINS"},
		{"misspelt admin", "KEYSERVER_BOOTSTRAP_ADMINS", `[{"Issuer":"x","subject":"y"}]`, "KEYSERVER_BOOTSTRAP_ADMINS"},
		{"duplicate issuer member", "KEYSERVER_TRUSTED_ISSUERS", `[{"issuer":"http://localhost:1","audience":"a","audience":"b"}]`, "KEYSERVER_TRUSTED_ISSUERS"},
		{"case-variant issuer member", "KEYSERVER_TRUSTED_ISSUERS", `[{"issuer":"http://localhost:1","audience":"a","Audience":"b"}]`, "KEYSERVER_TRUSTED_ISSUERS"},
		{"trailing issuers", "KEYSERVER_TRUSTED_ISSUERS", `[{"issuer":"http://localhost:1","audience":"a"}]]`, "KEYSERVER_TRUSTED_ISSUERS"},
		{"bad credential", "KEYSERVER_KEYVAULT_CREDENTIAL", "password", "KEYSERVER_KEYVAULT_CREDENTIAL"},
		{"bad retention", "KEYSERVER_RETENTION_DAYS", "90d", "KEYSERVER_RETENTION_DAYS"},
		{"zero retention", "KEYSERVER_RETENTION_DAYS", "0", "KEYSERVER_RETENTION_DAYS"},
		{"public url with path", "KEYSERVER_PUBLIC_URL", "https://ks.example/ui", "KEYSERVER_PUBLIC_URL"},
		{"public url without scheme", "KEYSERVER_PUBLIC_URL", "ks.example", "KEYSERVER_PUBLIC_URL"},
		{"webhook not a url", "KEYSERVER_LOCAL_WEBHOOK_URL", "localhost:9000", "KEYSERVER_LOCAL_WEBHOOK_URL"},
		{"webhook without secret", "KEYSERVER_LOCAL_WEBHOOK_URL", "http://localhost:9000/hook", "KEYSERVER_LOCAL_WEBHOOK_SECRET"},
		{"UI issuer without client", "KEYSERVER_UI_ISSUER", "https://login.example/tenant/v2.0", "client id"},
		{"UI client without issuer", "KEYSERVER_UI_CLIENT_ID", "ui", "issuer"},
		{"http issuer without the local setting", "KEYSERVER_ALLOW_LOOPBACK_HTTP_ISSUERS", "", "KEYSERVER_ALLOW_LOOPBACK_HTTP_ISSUERS"},
		{"bad local setting", "KEYSERVER_ALLOW_LOOPBACK_HTTP_ISSUERS", "yes", "true or false"},
		{"bad key age", "KEYSERVER_ISSUER_KEYS_MAX_AGE", "1d", "KEYSERVER_ISSUER_KEYS_MAX_AGE"},
		{"bad admin kind", "KEYSERVER_BOOTSTRAP_ADMINS", `[{"issuer":"x","subject":"y","kind":"robot"}]`, "kind must be person or app"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := baseEnv()
			e[tc.key] = tc.value
			_, err := ConfigFromEnv(env(e))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ConfigFromEnv with %s=%q: error %v, want one mentioning %q", tc.key, tc.value, err, tc.want)
			}
		})
	}
}

func TestConfigIssuerSettings(t *testing.T) {
	e := baseEnv()
	e["KEYSERVER_ISSUER_KEYS_MAX_AGE"] = "6h"
	e["KEYSERVER_BOOTSTRAP_ADMINS"] = `[{"issuer":"http://localhost:8300","subject":"p1","kind":"person"},{"issuer":"http://localhost:8300","subject":"a1"}]`
	c, err := ConfigFromEnv(env(e))
	if err != nil {
		t.Fatal(err)
	}
	if !c.OIDC.AllowLoopbackHTTP || c.OIDC.MaxKeyAge != 6*time.Hour || c.Issuers[0].PersonClaim != "oid" {
		t.Fatalf("oidc options %+v, issuers %+v", c.OIDC, c.Issuers)
	}
	if c.BootstrapAdmins[0].Kind != keyserver.KindPerson || c.BootstrapAdmins[1].Kind != keyserver.KindApp {
		t.Fatalf("bootstrap admins %+v: kind person, then app by default", c.BootstrapAdmins)
	}
	delete(e, "KEYSERVER_ISSUER_KEYS_MAX_AGE")
	delete(e, "KEYSERVER_ALLOW_LOOPBACK_HTTP_ISSUERS")
	e["KEYSERVER_TRUSTED_ISSUERS"] = `[{"issuer":"https://sts.windows.net/t/","audience":"a","subjectclaim":"appid","personclaim":"oid","sameas":"https://login.microsoftonline.com/t/v2.0"},` +
		`{"issuer":"https://login.microsoftonline.com/t/v2.0","audience":"a","subjectclaim":"azp","personclaim":"oid"}]`
	e["KEYSERVER_BOOTSTRAP_ADMINS"] = `[]`
	if c, err = ConfigFromEnv(env(e)); err != nil || c.OIDC.AllowLoopbackHTTP || c.OIDC.MaxKeyAge != 24*time.Hour {
		t.Fatalf("defaults: %+v, %v", c.OIDC, err)
	}
	e["KEYSERVER_BOOTSTRAP_ADMINS"] = `[{"issuer":"https://sts.windows.net/t/","subject":"p1","kind":"person"}]`
	if _, err := ConfigFromEnv(env(e)); err == nil || !strings.Contains(err.Error(), "sameas") {
		t.Fatalf("a bootstrap admin under a sameas issuer: %v", err)
	}
}

func TestReadingAnUndeclaredSettingPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("reading an undeclared setting did not panic")
		}
	}()
	settingsReader(env(baseEnv())).get("KEYSERVER_NOT_DECLARED")
}
