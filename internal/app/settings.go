package app

import (
	"fmt"
	"strings"
)

// Origin says where a setting's value comes from in Azure.
type Origin int

const (
	// Optional settings are unset in Azure unless an operator sets them; the default applies.
	Optional Origin = iota
	// Infra settings are set by infra/main.bicep.
	Infra
	// Platform settings are set by the Functions host or App Service.
	Platform
	// LocalOnly settings are never set in Azure: they configure the local stack.
	LocalOnly
)

// Setting is one app setting the handler reads.
type Setting struct {
	Name    string
	Default string // empty: none
	Meaning string // one phrase, Markdown, as docs/ARCHITECTURE.md shows it
	Azure   Origin
	// Local is true when the local stack sets it for the handler.
	Local bool
	// Secret settings hold a credential: never logged, never in infra.
	Secret bool
	// SDK settings are read from the process environment by the Azure SDK
	// or the Go runtime, not by ConfigFromEnv.
	SDK bool
}

// Settings declares every app setting the handler reads, once. ConfigFromEnv
// reads through it; docs/ARCHITECTURE.md, local.settings.json.example, the
// local stack and infra/main.bicep are tested against it.
var Settings = []Setting{
	{Name: "FUNCTIONS_CUSTOMHANDLER_PORT", Default: "7071", Meaning: "port to listen on", Azure: Platform, Local: true},
	{Name: "KEYSERVER_TABLES_CONNECTION_STRING", Meaning: "an explicit Table Storage connection string (Azurite locally)", Azure: LocalOnly, Local: true, Secret: true},
	{Name: "KEYSERVER_TABLES_ENDPOINT", Meaning: "`https://<account>.table.core.windows.net`, used with the managed identity when no connection string is set", Azure: Infra},
	{Name: "KEYSERVER_TABLE_PREFIX", Default: "ks", Meaning: "prefix of the five table names (`<p>Keys`, `<p>Subjects`, `<p>Operations`, `<p>Audit`, `<p>Policies`)", Azure: Infra},
	{Name: "KEYSERVER_TRUSTED_ISSUERS", Meaning: "JSON array of `{\"issuer\",\"audience\",\"subjectclaim\",\"personclaim\",\"discoveryurl\",\"sameas\"}`; only `issuer` and `audience` are required (see [People and apps](#people-and-apps))", Azure: Infra, Local: true},
	{Name: "KEYSERVER_ALLOW_LOOPBACK_HTTP_ISSUERS", Default: "false", Meaning: "`true` accepts plain-http issuer, discovery and JWKS URLs on loopback hosts: the local dev auth server only", Azure: LocalOnly, Local: true},
	{Name: "KEYSERVER_ISSUER_KEYS_MAX_AGE", Default: "24h", Meaning: "how long an issuer's signing keys stay trusted while they cannot be refreshed; past it, its tokens get 401"},
	{Name: "KEYSERVER_BOOTSTRAP_ADMINS", Default: "[]", Meaning: "JSON array of `{\"issuer\",\"subject\",\"kind\"}` that hold `admin` without being registered; `kind` is `app` (default) or `person`", Azure: Infra, Local: true},
	{Name: "KEYSERVER_MAX_VALIDITY", Default: "24h", Meaning: "largest `validms`, as a Go duration"},
	{Name: "KEYSERVER_MAX_USAGE_COUNT", Default: "1000", Meaning: "largest `maxusagecount`"},
	{Name: "KEYSERVER_KEYVAULT_CREDENTIAL", Default: "managedidentity", Meaning: "`managedidentity`, `default` or `azurecli`", Azure: Infra, Local: true},
	{Name: "KEYSERVER_KEYVAULT_CA_FILE", Meaning: "extra CA (PEM) trusted for the HSM; local fake only", Azure: LocalOnly, Local: true},
	{Name: "KEYSERVER_SIGN_TIMEOUT", Default: "10s", Meaning: "overall deadline of one HSM signature, retries included", Azure: Infra, Local: true},
	{Name: "KEYSERVER_AUDIT_KEY", Meaning: "the HSM key that signs audit checkpoints, `https://<vault>/keys/<name>` (EC P-256 or RSA; see [docs/AUDIT.md](AUDIT.md)); empty leaves the audit log unsealed", Azure: Infra, Local: true},
	{Name: "KEYSERVER_SERVICEBUS__fullyQualifiedNamespace", Meaning: "`<ns>.servicebus.windows.net`: the namespace events are published to, and the notify function's identity connection `KEYSERVER_SERVICEBUS`. Empty runs an in-process stand-in for the topic that delivers to the channels and prints each event", Azure: Infra},
	{Name: "KEYSERVER_SERVICEBUS_TOPIC", Default: "keyserver-events", Meaning: "the topic events are published to (and the notify function's `topicName`)", Azure: Infra},
	{Name: "KEYSERVER_SERVICEBUS_SUBSCRIPTION", Default: "notify", Meaning: "the topic's subscription the notify function reads (its `subscriptionName`)", Azure: Infra},
	{Name: "KEYSERVER_PUBLIC_URL", Meaning: "base URL that notifications link to: `<url>/operations/<id>`", Azure: Infra, Local: true},
	{Name: "KEYSERVER_RETENTION_DAYS", Default: "90", Meaning: "days a finished operation is kept before upkeep deletes it; its audit events stay", Azure: Infra},
	{Name: "KEYSERVER_LOCAL_WEBHOOK_URL", Meaning: "a generic webhook the in-process stand-in for the topic also delivers every event to", Azure: LocalOnly, Local: true},
	{Name: "KEYSERVER_LOCAL_WEBHOOK_SECRET", Meaning: "that webhook's HMAC secret, at least 16 characters", Azure: LocalOnly, Local: true, Secret: true},
	{Name: "KEYSERVER_UI_ISSUER", Meaning: "OIDC issuer people sign in to the web UI with (Entra ID: `https://login.microsoftonline.com/<tenant>/v2.0`); empty turns sign-in off", Local: true},
	{Name: "KEYSERVER_UI_CLIENT_ID", Meaning: "client id of the web UI's public app registration (single-page app, redirect URI `https://<app>/`)", Local: true},
	{Name: "KEYSERVER_UI_SCOPE", Default: "openid profile", Meaning: "scopes the web UI asks for: `openid` and the API's delegated scope (Entra: `openid profile api://<api>/access_as_user`)", Local: true},
	{Name: "GOMAXPROCS", Meaning: "processors the Go runtime runs the handler on: infra sets the instance's whole cores (1 at 512 and 2048 MB, 2 at 4096 MB); unset, Go's default is one per core and at least 2", Azure: Infra, SDK: true},
	{Name: "AZURE_CLIENT_ID", Meaning: "client id of a user-assigned managed identity", SDK: true},
	{Name: "IDENTITY_ENDPOINT", Meaning: "the managed identity endpoint, set by App Service (locally by the dev auth server)", Azure: Platform, Local: true, SDK: true},
	{Name: "IDENTITY_HEADER", Meaning: "the managed identity endpoint's secret header, set by App Service (locally by the dev auth server)", Azure: Platform, Local: true, Secret: true, SDK: true},
}

// LookupSetting returns the declaration of name.
func LookupSetting(name string) (Setting, bool) {
	for _, s := range Settings {
		if s.Name == name {
			return s, true
		}
	}
	return Setting{}, false
}

// settingsReader reads declared settings through getenv, trimmed, falling
// back to their declared default.
type settingsReader func(string) string

// get returns the value of a declared setting; reading an undeclared one is a
// programming error.
func (getenv settingsReader) get(name string) string {
	s, ok := LookupSetting(name)
	if !ok {
		panic(fmt.Sprintf("app: setting %s is not declared in app.Settings", name))
	}
	if v := strings.TrimSpace(getenv(name)); v != "" {
		return v
	}
	return s.Default
}

// DocsTable renders the settings as the Markdown table in docs/ARCHITECTURE.md.
func DocsTable() string {
	var b strings.Builder
	b.WriteString("| setting | meaning | default | in Azure |\n|---|---|---|---|\n")
	for _, s := range Settings {
		def := ""
		if s.Default != "" {
			def = "`" + s.Default + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", s.Name, s.Meaning, def, s.azureNote())
	}
	return b.String()
}

func (s Setting) azureNote() string {
	var notes []string
	switch s.Azure {
	case Infra:
		notes = append(notes, "set by infra/main.bicep")
	case Platform:
		notes = append(notes, "set by the platform")
	case LocalOnly:
		notes = append(notes, "never (local only)")
	}
	if s.Secret {
		notes = append(notes, "secret")
	}
	return strings.Join(notes, "; ")
}

func (o Origin) String() string {
	switch o {
	case Infra:
		return "infra"
	case Platform:
		return "platform"
	case LocalOnly:
		return "local only"
	}
	return "optional"
}
