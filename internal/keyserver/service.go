package keyserver

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Service applies the Keyserver's rules on top of its stores, HSM and publisher.
type Service struct {
	Ops      OperationStore
	Keys     KeyStore
	Subjects SubjectStore
	// Policies keeps trust policies; nil means none.
	Policies PolicyStore
	Audit    AuditLog
	// Trail keeps the chained audit records and checkpoints; AuditKey is the
	// HSM key that signs checkpoints.
	Trail     AuditTrail
	AuditKey  string
	Publisher Publisher
	HSM       KeyBackend
	Limits    Limits
	// PublicURL is the Keyserver's base URL, which events link to.
	PublicURL string
	// Retention is how long upkeep keeps a finished operation; zero keeps
	// them for ever.
	Retention time.Duration
	// BootstrapAdmins hold the admin role without being registered.
	BootstrapAdmins []Principal
	// IssuerAliases maps each token issuer whose principals are registered
	// under another issuer (the same people and apps) to that issuer.
	IssuerAliases map[string]string
	// CacheTTL bounds how long subject roles and keys are cached.
	CacheTTL time.Duration
	Now      func() time.Time
	Log      *slog.Logger

	subjects    ttlCache[Principal, *Subject]
	policyCache ttlCache[struct{}, []*Policy]
	keys        ttlCache[string, *Key]
	keyList     ttlCache[struct{}, []*Key] // every key, for GET /api/keys
	everyone    ttlCache[struct{}, []*Subject]
	certKeys    certKeys
	audit       auditState
	// keyIdentities remembers hsmKeyIdentity for the audit key check.
	keyIdentities keyIdentities
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// Caller resolves the roles of a verified identity: bootstrap admin, its
// registration as a subject of its kind, and the roles of every trust
// policy its token's claims match (apps only). A principal that holds no
// role is refused.
func (s *Service) Caller(ctx context.Context, id Identity) (Caller, error) {
	p := id.Principal
	c := Caller{Principal: p, Name: id.Name, Claims: id.Claims}
	for _, a := range s.BootstrapAdmins {
		if a == p {
			c.Roles = append(c.Roles, RoleAdmin)
		}
	}
	sub, err := s.subjects.get(p, s.CacheTTL, s.now(), func() (*Subject, error) {
		return s.Subjects.Subject(ctx, p)
	})
	switch {
	case err == nil:
		if sub.Name != "" {
			c.Name = sub.Name
		}
		c.Roles = append(c.Roles, sub.Roles...)
	case ErrorCode(err) != ENOTFOUND:
		return Caller{}, err
	}
	if err := s.policyRoles(ctx, &c); err != nil {
		return Caller{}, err
	}
	if len(c.Roles) == 0 && ErrorCode(err) == ENOTFOUND {
		if p.Kind == KindApp && len(c.Claims) > 0 {
			return Caller{}, Errorf(EFORBIDDEN, "%s %q of issuer %q is not registered with the Keyserver and no trust policy matches its token; GET /api/me says why.", kindTitle(p.Kind), p.Subject, p.Issuer)
		}
		return Caller{}, Errorf(EFORBIDDEN, "%s %q of issuer %q is not registered with the Keyserver.", kindTitle(p.Kind), p.Subject, p.Issuer)
	}
	return c, nil
}

func kindTitle(k Kind) string {
	if k == KindPerson {
		return "Person"
	}
	return "Subject"
}

// key returns a registered key, cached for CacheTTL.
func (s *Service) key(ctx context.Context, keyID string) (*Key, error) {
	return s.keys.get(keyID, s.CacheTTL, s.now(), func() (*Key, error) {
		return s.Keys.Key(ctx, keyID)
	})
}

// allKeys returns every registered key, cached for CacheTTL.
func (s *Service) allKeys(ctx context.Context) ([]*Key, error) {
	return s.keyList.get(struct{}{}, s.CacheTTL, s.now(), func() ([]*Key, error) {
		return s.Keys.Keys(ctx)
	})
}

// forgetKey drops a changed key from the caches.
func (s *Service) forgetKey(keyID string) {
	s.keys.forget(keyID)
	s.keyList.forget(struct{}{})
	s.certKeys.forget(keyID)
}

// orderableKey returns a registered key c may order signatures with. An
// unknown key and a forbidden one get the same answer, so that callers cannot
// probe which key ids exist.
func (s *Service) orderableKey(ctx context.Context, c Caller, keyID string) (*Key, error) {
	k, err := s.key(ctx, keyID)
	if ErrorCode(err) == ENOTFOUND || (err == nil && !c.CanOrder(k.KeyID)) {
		return nil, Errorf(ENOTFOUND, "Key %q does not exist or you may not use it.", keyID)
	}
	return k, err
}

// ttlCache caches values with an expiry; errors are not cached.
type ttlCache[K comparable, V any] struct {
	mu sync.Mutex
	m  map[K]ttlEntry[V]
}

type ttlEntry[V any] struct {
	v       V
	expires time.Time
}

func (c *ttlCache[K, V]) get(k K, ttl time.Duration, now time.Time, load func() (V, error)) (V, error) {
	if ttl > 0 {
		c.mu.Lock()
		e, ok := c.m[k]
		c.mu.Unlock()
		if ok && now.Before(e.expires) {
			return e.v, nil
		}
	}
	v, err := load()
	if err != nil || ttl <= 0 {
		return v, err
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = map[K]ttlEntry[V]{}
	}
	c.m[k] = ttlEntry[V]{v: v, expires: now.Add(ttl)}
	c.mu.Unlock()
	return v, nil
}

func (c *ttlCache[K, V]) forget(k K) {
	c.mu.Lock()
	delete(c.m, k)
	c.mu.Unlock()
}
