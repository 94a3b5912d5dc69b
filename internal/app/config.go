// Package app wires the Keyserver: it reads the app settings, builds the
// adapters and serves the routes. The handler binary and the end-to-end tests
// both run it.
package app

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"keyserver/internal/keyserver"
	"keyserver/internal/oidc"
	"keyserver/internal/strictjson"
	"keyserver/internal/webui"
)

// Config is the handler's configuration, read from app settings.
type Config struct {
	Port                   string
	TablesConnectionString string
	TablesEndpoint         string
	TablePrefix            string
	Issuers                []oidc.Issuer
	OIDC                   oidc.Options
	BootstrapAdmins        []keyserver.Principal
	Limits                 keyserver.Limits
	Credential             string
	KeyVaultCAFile         string
	SignTimeout            time.Duration
	AuditKey               string
	ServiceBusNamespace    string
	ServiceBusTopic        string
	ServiceBusSubscription string
	PublicURL              string
	Retention              time.Duration
	LocalWebhookURL        string
	LocalWebhookSecret     string
	CacheTTL               time.Duration
	UI                     webui.Config
}

// ServiceBusConnection is the name of the notify function's identity
// connection: its namespace is the app setting
// KEYSERVER_SERVICEBUS__fullyQualifiedNamespace, which the publisher reads too.
const ServiceBusConnection = "KEYSERVER_SERVICEBUS"

// ConfigFromEnv reads the settings declared in Settings through getenv.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	env := settingsReader(getenv).get
	c := Config{
		Port:                   env("FUNCTIONS_CUSTOMHANDLER_PORT"),
		TablesConnectionString: env("KEYSERVER_TABLES_CONNECTION_STRING"),
		TablesEndpoint:         env("KEYSERVER_TABLES_ENDPOINT"),
		TablePrefix:            env("KEYSERVER_TABLE_PREFIX"),
		Limits:                 keyserver.DefaultLimits,
		Credential:             env("KEYSERVER_KEYVAULT_CREDENTIAL"),
		KeyVaultCAFile:         env("KEYSERVER_KEYVAULT_CA_FILE"),
		AuditKey:               env("KEYSERVER_AUDIT_KEY"),
		ServiceBusNamespace:    env(ServiceBusConnection + "__fullyQualifiedNamespace"),
		ServiceBusTopic:        env("KEYSERVER_SERVICEBUS_TOPIC"),
		ServiceBusSubscription: env("KEYSERVER_SERVICEBUS_SUBSCRIPTION"),
		PublicURL:              strings.TrimSuffix(env("KEYSERVER_PUBLIC_URL"), "/"),
		LocalWebhookURL:        env("KEYSERVER_LOCAL_WEBHOOK_URL"),
		LocalWebhookSecret:     env("KEYSERVER_LOCAL_WEBHOOK_SECRET"),
		CacheTTL:               10 * time.Second,
		UI: webui.Config{
			Issuer:   env("KEYSERVER_UI_ISSUER"),
			ClientID: env("KEYSERVER_UI_CLIENT_ID"),
			Scope:    env("KEYSERVER_UI_SCOPE"),
		},
	}
	var err error
	if c.Limits.MaxValidity, err = duration(env("KEYSERVER_MAX_VALIDITY"), "KEYSERVER_MAX_VALIDITY"); err != nil {
		return c, err
	}
	if c.SignTimeout, err = duration(env("KEYSERVER_SIGN_TIMEOUT"), "KEYSERVER_SIGN_TIMEOUT"); err != nil {
		return c, err
	}
	if c.Limits.MaxUsageCount, err = strconv.Atoi(env("KEYSERVER_MAX_USAGE_COUNT")); err != nil || c.Limits.MaxUsageCount < 1 || c.Limits.MaxUsageCount > 999999 {
		return c, fmt.Errorf("KEYSERVER_MAX_USAGE_COUNT must be a whole number from 1 to 999999")
	}
	days, err := strconv.Atoi(env("KEYSERVER_RETENTION_DAYS"))
	if err != nil || days < 1 || days > 36500 {
		return c, fmt.Errorf("KEYSERVER_RETENTION_DAYS must be a whole number of days from 1 to 36500")
	}
	c.Retention = time.Duration(days) * 24 * time.Hour
	if c.PublicURL != "" {
		if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "" {
			return c, fmt.Errorf("KEYSERVER_PUBLIC_URL must be a URL such as https://keyserver.example.com, without a path")
		}
	}
	if c.LocalWebhookURL != "" {
		if u, err := url.Parse(c.LocalWebhookURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return c, fmt.Errorf("KEYSERVER_LOCAL_WEBHOOK_URL must be an http or https URL")
		}
		if len(c.LocalWebhookSecret) < keyserver.MinWebhookSecret {
			return c, fmt.Errorf("KEYSERVER_LOCAL_WEBHOOK_SECRET must be at least %d characters: the webhook's deliveries are signed with it", keyserver.MinWebhookSecret)
		}
	}
	for name, v := range map[string]string{"KEYSERVER_SERVICEBUS_TOPIC": c.ServiceBusTopic, "KEYSERVER_SERVICEBUS_SUBSCRIPTION": c.ServiceBusSubscription} {
		if !entityName.MatchString(v) {
			return c, fmt.Errorf("%s must be a Service Bus entity name: 1 to 50 letters, digits, '.', '-' or '_', not %q", name, v)
		}
	}
	if _, err := strconv.ParseUint(c.Port, 10, 16); err != nil {
		return c, fmt.Errorf("FUNCTIONS_CUSTOMHANDLER_PORT must be a port number, not %q", c.Port)
	}
	if c.TablesConnectionString == "" && c.TablesEndpoint == "" {
		return c, fmt.Errorf("set KEYSERVER_TABLES_CONNECTION_STRING (Azurite) or KEYSERVER_TABLES_ENDPOINT (Azure)")
	}
	if strings.EqualFold(c.TablesConnectionString, "UseDevelopmentStorage=true") {
		return c, fmt.Errorf("KEYSERVER_TABLES_CONNECTION_STRING must be Azurite's explicit connection string; aztables rejects UseDevelopmentStorage=true")
	}
	if c.OIDC, err = oidcOptions(env); err != nil {
		return c, err
	}
	if c.Issuers, err = oidc.ParseIssuers(env("KEYSERVER_TRUSTED_ISSUERS"), c.OIDC); err != nil {
		return c, fmt.Errorf("KEYSERVER_TRUSTED_ISSUERS: %w", err)
	}
	var admins []bootstrapAdmin
	if err := strictjson.Unmarshal([]byte(env("KEYSERVER_BOOTSTRAP_ADMINS")), &admins); err != nil {
		return c, fmt.Errorf("KEYSERVER_BOOTSTRAP_ADMINS must be a JSON array of {\"issuer\",\"subject\",\"kind\"}: %w", err)
	}
	aliases := oidc.Aliases(c.Issuers)
	for _, a := range admins {
		if a.Issuer == "" || a.Subject == "" {
			return c, fmt.Errorf("KEYSERVER_BOOTSTRAP_ADMINS: every entry needs issuer and subject")
		}
		if to, ok := aliases[a.Issuer]; ok {
			return c, fmt.Errorf("KEYSERVER_BOOTSTRAP_ADMINS: issuer %q is the same as %q (sameas); name %q", a.Issuer, to, to)
		}
		c.BootstrapAdmins = append(c.BootstrapAdmins, keyserver.Principal{Issuer: a.Issuer, Subject: a.Subject, Kind: a.Kind})
	}
	if err := c.UI.Validate(); err != nil {
		return c, fmt.Errorf("KEYSERVER_UI_ISSUER, KEYSERVER_UI_CLIENT_ID, KEYSERVER_UI_SCOPE: %w", err)
	}
	switch c.Credential {
	case "managedidentity", "default", "azurecli":
	default:
		return c, fmt.Errorf("KEYSERVER_KEYVAULT_CREDENTIAL must be managedidentity, default or azurecli")
	}
	return c, nil
}

// entityName matches Service Bus topic and subscription names.
var entityName = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]{0,48}[A-Za-z0-9])?$`)

// bootstrapAdmin is one entry of KEYSERVER_BOOTSTRAP_ADMINS.
type bootstrapAdmin struct {
	Issuer  string         `json:"issuer"`
	Subject string         `json:"subject"`
	Kind    keyserver.Kind `json:"kind"` // "person" or "app"; empty means app
}

func duration(s, name string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s must be a positive Go duration such as 10s, not %q", name, s)
	}
	return d, nil
}

// oidcOptions reads the token verifier's settings.
func oidcOptions(env func(name string) string) (oidc.Options, error) {
	var o oidc.Options
	switch v := env("KEYSERVER_ALLOW_LOOPBACK_HTTP_ISSUERS"); strings.ToLower(v) {
	case "true":
		o.AllowLoopbackHTTP = true
	case "false":
	default:
		return o, fmt.Errorf("KEYSERVER_ALLOW_LOOPBACK_HTTP_ISSUERS must be true or false, not %q", v)
	}
	var err error
	if o.MaxKeyAge, err = duration(env("KEYSERVER_ISSUER_KEYS_MAX_AGE"), "KEYSERVER_ISSUER_KEYS_MAX_AGE"); err != nil {
		return o, err
	}
	return o, nil
}
