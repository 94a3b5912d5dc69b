package memstore

import (
	"context"
	"slices"
	"strings"
	"time"

	"keyserver/internal/auditlog"
	"keyserver/internal/keyserver"
)

// This file holds the Store's KeyStore, SubjectStore and AuditLog.

// Appender chains records: the audit trail's in-memory store
// (keyserver.MemTrail).
type Appender interface {
	Append(ctx context.Context, r auditlog.Record) (auditlog.Stored, error)
}

// RecordInto makes the Store chain the audit records of admin changes into
// t, each under the Store's lock together with its change, as the Table
// Storage adapter writes them in the change's transaction. Without it they
// are kept as plain events (AuditEvents).
func (m *Store) RecordInto(t Appender) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.trail = t
}

// adminRecord writes ev, unless empty, as the next record of chain. It must
// be called with m.mu held, once the change is known to succeed and before
// it is made: a record that cannot be written stops the change.
func (m *Store) adminRecord(ctx context.Context, chain string, ev keyserver.AuditEvent) error {
	if ev == (keyserver.AuditEvent{}) {
		return nil
	}
	if err := m.fault("RecordAdmin"); err != nil {
		return err
	}
	if m.trail != nil {
		_, err := m.trail.Append(ctx, ev.Record(chain))
		return err
	}
	m.audit = append(m.audit, ev)
	return nil
}

func (m *Store) Key(ctx context.Context, keyID string) (*keyserver.Key, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault("Key"); err != nil {
		return nil, err
	}
	k, ok := m.keys[keyID]
	if !ok {
		return nil, keyserver.Errorf(keyserver.ENOTFOUND, "memstore has no key %s", keyID)
	}
	return cloneKey(k), nil
}

func cloneKey(k *keyserver.Key) *keyserver.Key {
	c := *k
	c.Channels = slices.Clone(k.Channels)
	for i := range c.Channels {
		c.Channels[i].Events = slices.Clone(k.Channels[i].Events)
	}
	return &c
}

func (m *Store) Keys(ctx context.Context) ([]*keyserver.Key, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault("Keys"); err != nil {
		return nil, err
	}
	var out []*keyserver.Key
	for _, k := range m.keys {
		out = append(out, cloneKey(k))
	}
	slices.SortFunc(out, func(a, b *keyserver.Key) int { return strings.Compare(a.KeyID, b.KeyID) })
	return out, nil
}

func (m *Store) PutKey(ctx context.Context, k *keyserver.Key, ev keyserver.AuditEvent) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault("PutKey"); err != nil {
		return err
	}
	if err := m.adminRecord(ctx, auditlog.KeysChain, ev); err != nil {
		return err
	}
	m.keys[k.KeyID] = cloneKey(k)
	return nil
}

func (m *Store) DeleteKey(ctx context.Context, keyID string, ev keyserver.AuditEvent) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.keys[keyID]; !ok {
		return keyserver.Errorf(keyserver.ENOTFOUND, "memstore has no key %s", keyID)
	}
	if err := m.adminRecord(ctx, auditlog.KeysChain, ev); err != nil {
		return err
	}
	delete(m.keys, keyID)
	return nil
}

func (m *Store) Subject(ctx context.Context, p keyserver.Principal) (*keyserver.Subject, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault("Subject"); err != nil {
		return nil, err
	}
	s, ok := m.subjects[p]
	if !ok {
		return nil, keyserver.Errorf(keyserver.ENOTFOUND, "memstore has no subject %s", p)
	}
	c := *s
	c.Roles = slices.Clone(s.Roles)
	return &c, nil
}

func (m *Store) SubjectsByID(ctx context.Context, subject string) ([]*keyserver.Subject, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*keyserver.Subject
	for p, s := range m.subjects {
		if p.Subject == subject {
			c := *s
			c.Roles = slices.Clone(s.Roles)
			out = append(out, &c)
		}
	}
	return out, nil
}

// Subjects makes the fake a SubjectLister, ordered by subject id, issuer and kind.
func (m *Store) Subjects(ctx context.Context) ([]*keyserver.Subject, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault("Subjects"); err != nil {
		return nil, err
	}
	out := []*keyserver.Subject{}
	for _, s := range m.subjects {
		c := *s
		c.Roles = slices.Clone(s.Roles)
		out = append(out, &c)
	}
	slices.SortFunc(out, func(a, b *keyserver.Subject) int {
		if c := strings.Compare(a.Subject, b.Subject); c != 0 {
			return c
		}
		if c := strings.Compare(a.Issuer, b.Issuer); c != 0 {
			return c
		}
		return int(a.Kind) - int(b.Kind)
	})
	return out, nil
}

func (m *Store) PutSubject(ctx context.Context, s *keyserver.Subject, ev keyserver.AuditEvent) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault("PutSubject"); err != nil {
		return err
	}
	if err := m.adminRecord(ctx, auditlog.SubjectChain(s.Subject), ev); err != nil {
		return err
	}
	c := *s
	c.Roles = slices.Clone(s.Roles)
	m.subjects[s.Principal] = &c
	return nil
}

func (m *Store) DeleteSubject(ctx context.Context, p keyserver.Principal, ev keyserver.AuditEvent) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.subjects[p]; !ok {
		return keyserver.Errorf(keyserver.ENOTFOUND, "memstore has no subject %s", p)
	}
	if err := m.adminRecord(ctx, auditlog.SubjectChain(p.Subject), ev); err != nil {
		return err
	}
	delete(m.subjects, p)
	return nil
}

func (m *Store) RecordAudit(ctx context.Context, ev keyserver.AuditEvent) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault("RecordAudit"); err != nil {
		return err
	}
	m.audit = append(m.audit, ev)
	return nil
}

// AuditEvents lets storetest read the events RecordAudit wrote on the UTC day of day.
func (m *Store) AuditEvents(ctx context.Context, day time.Time) ([]keyserver.AuditEvent, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []keyserver.AuditEvent
	for _, ev := range m.audit {
		if ev.Time.UTC().Format(time.DateOnly) == day.UTC().Format(time.DateOnly) {
			out = append(out, ev)
		}
	}
	return out, nil
}

// StoredKey returns a copy of the registered key keyID.
func (m *Store) StoredKey(keyID string) (keyserver.Key, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.keys[keyID]
	if !ok {
		return keyserver.Key{}, false
	}
	return *cloneKey(k), true
}

// ChangeKey changes the registered key keyID behind the service's back, as
// another process would; it reports whether the key exists.
func (m *Store) ChangeKey(keyID string, change func(*keyserver.Key)) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.keys[keyID]
	if ok {
		change(k)
	}
	return ok
}

// ChangeSubject changes the registration of p behind the service's back; it
// reports whether p is registered.
func (m *Store) ChangeSubject(p keyserver.Principal, change func(*keyserver.Subject)) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.subjects[p]
	if ok {
		change(s)
	}
	return ok
}
