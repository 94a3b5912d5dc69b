package keyserver

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
)

// The audit key signs checkpoints and the certificates of its own later
// versions, nothing else (docs/AUDIT.md, "The audit key is not a signing
// key"). It lives in the same vault as the signing keys and the Keyserver's
// identity may sign with it, so a key whose HSM key is the audit key, in any
// version, is refused when it is registered and again on every signature:
// the stored key row is not trusted, since whoever can write storage could
// point it at the audit key.

// hsmKeyIdentity is what names one HSM key whatever its version: for a key
// URL, its host (lowercase, without a default port or a trailing dot; the
// loopback host as 127.0.0.1) and its key name (lowercase: Key Vault names
// are case-insensitive); any other reference, lowercase, as it is.
func hsmKeyIdentity(ref string) string {
	ref = strings.TrimSpace(ref)
	u, err := url.Parse(ref)
	if err != nil || u.Host == "" {
		return strings.ToLower(ref)
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "localhost" {
		host = "127.0.0.1"
	}
	if p := u.Port(); p != "" && p != "443" {
		host += ":" + p
	}
	parts := strings.Split(strings.TrimPrefix(u.Path, "/"), "/")
	if len(parts) < 2 || parts[0] != "keys" {
		return host + strings.ToLower(u.Path)
	}
	return host + "/keys/" + strings.ToLower(parts[1])
}

// isAuditKey reports whether hsmKey names the audit key, in any version.
// It compares strings only: no table or HSM call.
func (s *Service) isAuditKey(hsmKey string) bool {
	return s.AuditKey != "" && s.keyIdentities.of(hsmKey) == s.keyIdentities.of(s.AuditKey)
}

// keyIdentities remembers hsmKeyIdentity by reference. hsmKeyIdentity is a
// function of the reference string alone, so a remembered answer is the
// answer: a key row pointed at another HSM key, or another audit key
// setting, is another string, looked up afresh. It remembers up to
// maxKeyIdentities references of at most maxKeyRefLen bytes (key URLs are
// few and short; an admin's junk hsmkey is not kept); past that it computes.
type keyIdentities struct {
	m sync.Map // reference -> identity
	n atomic.Int64
}

const (
	maxKeyIdentities = 4096
	maxKeyRefLen     = 512
)

func (c *keyIdentities) of(ref string) string {
	if id, ok := c.m.Load(ref); ok {
		return id.(string)
	}
	id := hsmKeyIdentity(ref)
	if len(ref) <= maxKeyRefLen && c.n.Add(1) <= maxKeyIdentities {
		c.m.Store(ref, id)
	}
	return id
}

// refuseAuditKey refuses to register a key whose HSM key is the audit key.
func (s *Service) refuseAuditKey(hsmKey string) error {
	if !s.isAuditKey(hsmKey) {
		return nil
	}
	return Errorf(EINVALID, "hsmkey names the audit key (KEYSERVER_AUDIT_KEY), which signs only audit checkpoints; register another HSM key.").On("hsmkey")
}

// refuseAuditKeySigning refuses a signature with a key whose stored HSM key
// is the audit key: the key row was written outside the Keyserver, since
// registration refuses it. It is logged as an error for the operators.
func (s *Service) refuseAuditKeySigning(ctx context.Context, k *Key) error {
	if !s.isAuditKey(k.HSMKey) {
		return nil
	}
	s.log().ErrorContext(ctx, "refused a signature: the stored key names the audit key", "key", k.KeyID, "hsmkey", k.HSMKey)
	return Errorf(EFORBIDDEN, "Key %q names the audit key, which signs only audit checkpoints; no signature is made with it.", k.KeyID)
}
