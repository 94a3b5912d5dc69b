package keyserver

import (
	"strings"
	"testing"
)

// BenchmarkIsAuditKey is the audit key check each signature makes.
func BenchmarkIsAuditKey(b *testing.B) {
	s := &Service{AuditKey: "https://kv1.vault.azure.net/keys/keyserver-audit"}
	b.ReportAllocs()
	for b.Loop() {
		if s.isAuditKey("https://kv1.vault.azure.net/keys/key1/0123456789abcdef0123456789abcdef") {
			b.Fatal("key1 taken for the audit key")
		}
	}
}

// TestIsAuditKeyFollowsTheSetting: a changed audit key setting, and a key
// pointed at another HSM key, are noticed at the next check.
func TestIsAuditKeyFollowsTheSetting(t *testing.T) {
	s := &Service{AuditKey: "https://kv1.vault.azure.net/keys/audit1"}
	steps := []struct {
		auditKey, hsmKey string
		want             bool
	}{
		{"", "https://kv1.vault.azure.net/keys/audit1", false},
		{"https://kv1.vault.azure.net/keys/audit1", "https://KV1.vault.azure.net/keys/Audit1/v2", true},
		{"https://kv1.vault.azure.net/keys/audit1", "https://kv1.vault.azure.net/keys/key1", false},
		{"https://kv1.vault.azure.net/keys/key1", "https://kv1.vault.azure.net/keys/key1", true},
		{"https://kv1.vault.azure.net/keys/key1", "https://KV1.vault.azure.net/keys/Audit1/v2", false},
		{"https://kv1.vault.azure.net/keys/audit1", "https://KV1.vault.azure.net/keys/Audit1/v2", true},
	}
	for _, st := range steps {
		s.AuditKey = st.auditKey
		if got := s.isAuditKey(st.hsmKey); got != st.want {
			t.Fatalf("with audit key %q, isAuditKey(%q) = %v, want %v", st.auditKey, st.hsmKey, got, st.want)
		}
	}
}

// TestKeyIdentitiesKeepsOnlyKeyURLs: a long junk reference (an admin's
// refused hsmkey) is answered but not kept.
func TestKeyIdentitiesKeepsOnlyKeyURLs(t *testing.T) {
	var c keyIdentities
	long := "https://kv1.vault.azure.net/keys/" + strings.Repeat("x", maxKeyRefLen)
	if got, want := c.of(long), hsmKeyIdentity(long); got != want {
		t.Fatalf("of(long) = %q, want %q", got, want)
	}
	if _, kept := c.m.Load(long); kept {
		t.Fatal("a reference longer than any key URL was kept")
	}
	short := "https://kv1.vault.azure.net/keys/key1"
	c.of(short)
	if _, kept := c.m.Load(short); !kept {
		t.Fatal("a key URL was not kept")
	}
}
