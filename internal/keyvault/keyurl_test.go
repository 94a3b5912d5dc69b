package keyvault

import (
	"testing"

	"keyserver/internal/keyserver"
)

func TestParseKeyURL(t *testing.T) {
	valid := []struct {
		in   string
		want keyRef
	}{
		{"https://myvault.vault.azure.net/keys/sign1", keyRef{"https://myvault.vault.azure.net", "sign1", "", false}},
		{"https://myvault.vault.azure.net/keys/sign1/0123456789abcdef0123456789abcdef",
			keyRef{"https://myvault.vault.azure.net", "sign1", "0123456789abcdef0123456789abcdef", false}},
		{"https://MyVault.Vault.Azure.Net/keys/Key-2", keyRef{"https://myvault.vault.azure.net", "Key-2", "", false}},
		{"https://my-hsm.managedhsm.azure.net/keys/k/v1", keyRef{"https://my-hsm.managedhsm.azure.net", "k", "v1", false}},
		{"https://localhost:8443/keys/k", keyRef{"https://localhost:8443", "k", "", true}},
		{"https://127.0.0.1:9/keys/k/abc", keyRef{"https://127.0.0.1:9", "k", "abc", true}},
		{"https://localhost/keys/k", keyRef{"https://localhost", "k", "", true}},
	}
	for _, c := range valid {
		got, err := parseKeyURL(c.in)
		if err != nil {
			t.Fatalf("parseKeyURL(%q): %v", c.in, err)
		}
		if got != c.want {
			t.Fatalf("parseKeyURL(%q) = %+v, want %+v", c.in, got, c.want)
		}
	}
	invalid := []string{
		"",
		"not a url",
		"http://myvault.vault.azure.net/keys/k",
		"https://myvault.vault.azure.net.evil.com/keys/k",
		"https://evil.com/keys/k",
		"https://vault.azure.net/keys/k",
		"https://a.b.vault.azure.net/keys/k",
		"https://myvault.vault.azure.net:444/keys/k",
		"https://myvault.vault.azure.cn/keys/k",
		"https://10.0.0.1:8443/keys/k",
		"https://[::1]:8443/keys/k",
		"https://localhost:0/keys/k",
		"https://localhost:99999/keys/k",
		"https://user@myvault.vault.azure.net/keys/k",
		"https://myvault.vault.azure.net/keys/k?x=1",
		"https://myvault.vault.azure.net/keys/k#f",
		"https://myvault.vault.azure.net/secrets/k",
		"https://myvault.vault.azure.net/keys",
		"https://myvault.vault.azure.net/keys/",
		"https://myvault.vault.azure.net/keys/k/",
		"https://myvault.vault.azure.net/keys/k/v/extra",
		"https://myvault.vault.azure.net/keys/k_1",
		"https://myvault.vault.azure.net/keys/k%2Fx",
		"https://myvault.vault.azure.net/keys/../keys/k",
	}
	for _, in := range invalid {
		_, err := parseKeyURL(in)
		if got := keyserver.ErrorCode(err); got != keyserver.EINVALID {
			t.Fatalf("parseKeyURL(%q): code %q (%v), want %q", in, got, err, keyserver.EINVALID)
		}
	}
}
