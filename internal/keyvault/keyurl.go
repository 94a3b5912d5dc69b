package keyvault

import (
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"keyserver/internal/keyserver"
)

// keyRef is a parsed HSM key URL.
type keyRef struct {
	vaultURL string // https://host[:port]
	name     string
	version  string // empty means the current version
	loopback bool   // the local fake; its challenge names a resource of another host
}

var (
	azureHostPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.(vault|managedhsm)\.azure\.net$`)
	keyNamePattern   = regexp.MustCompile(`^[A-Za-z0-9-]{1,127}$`)
	versionPattern   = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)
)

// parseKeyURL accepts https://<vault>.vault.azure.net/keys/<name>[/<version>],
// the same on <hsm>.managedhsm.azure.net, and on localhost or 127.0.0.1 with
// an optional port for the local fake.
func parseKeyURL(s string) (keyRef, error) {
	invalid := func(why string) (keyRef, error) {
		return keyRef{}, keyserver.Errorf(keyserver.EINVALID,
			"HSM key %q is invalid: %s. Use https://<vault>.vault.azure.net/keys/<name>[/<version>] or https://<hsm>.managedhsm.azure.net/keys/<name>[/<version>].", s, why)
	}
	u, err := url.Parse(s)
	if err != nil {
		return invalid("it is not a URL")
	}
	if u.Scheme != "https" {
		return invalid("the scheme must be https")
	}
	if u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Opaque != "" || u.RawPath != "" {
		return invalid("it must have no user, query, fragment or escaped characters")
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	ref := keyRef{}
	switch {
	case host == "localhost" || host == "127.0.0.1":
		ref.loopback = true
		if port != "" {
			if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
				return invalid("the port is out of range")
			}
		}
	case azureHostPattern.MatchString(host):
		if port != "" {
			return invalid("an Azure vault URL takes no port")
		}
	default:
		return invalid("the host is not a Key Vault or Managed HSM")
	}
	ref.vaultURL = "https://" + host
	if port != "" {
		ref.vaultURL += ":" + port
	}
	parts := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] != "keys" {
		return invalid("the path must be /keys/<name>[/<version>]")
	}
	if !keyNamePattern.MatchString(parts[1]) {
		return invalid("the key name must be 1 to 127 letters, digits or dashes")
	}
	ref.name = parts[1]
	if len(parts) == 3 {
		if !versionPattern.MatchString(parts[2]) {
			return invalid("the key version must be 1 to 64 letters, digits or dashes")
		}
		ref.version = parts[2]
	}
	return ref, nil
}
