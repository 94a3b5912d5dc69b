package keyserver_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"keyserver/internal/keyserver"
)

// This file holds memStore's KeyStore, SubjectStore and AuditLog, and the
// recording Publisher.

func (m *memStore) Key(ctx context.Context, keyID string) (*keyserver.Key, error) {
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

func (m *memStore) Keys(ctx context.Context) ([]*keyserver.Key, error) {
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

func (m *memStore) PutKey(ctx context.Context, k *keyserver.Key) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault("PutKey"); err != nil {
		return err
	}
	m.keys[k.KeyID] = cloneKey(k)
	return nil
}

func (m *memStore) DeleteKey(ctx context.Context, keyID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.keys[keyID]; !ok {
		return keyserver.Errorf(keyserver.ENOTFOUND, "memstore has no key %s", keyID)
	}
	delete(m.keys, keyID)
	return nil
}

func (m *memStore) Subject(ctx context.Context, p keyserver.Principal) (*keyserver.Subject, error) {
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

func (m *memStore) SubjectsByID(ctx context.Context, subject string) ([]*keyserver.Subject, error) {
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

func (m *memStore) PutSubject(ctx context.Context, s *keyserver.Subject) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := *s
	c.Roles = slices.Clone(s.Roles)
	m.subjects[s.Principal] = &c
	return nil
}

func (m *memStore) DeleteSubject(ctx context.Context, p keyserver.Principal) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.subjects[p]; !ok {
		return keyserver.Errorf(keyserver.ENOTFOUND, "memstore has no subject %s", p)
	}
	delete(m.subjects, p)
	return nil
}

func (m *memStore) RecordAudit(ctx context.Context, ev keyserver.AuditEvent) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault("RecordAudit"); err != nil {
		return err
	}
	m.audit = append(m.audit, ev)
	return nil
}

// AuditEvents lets storetest read the events RecordAudit wrote on the UTC day of day.
func (m *memStore) AuditEvents(ctx context.Context, day time.Time) ([]keyserver.AuditEvent, error) {
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

// recordingPublisher keeps every event it publishes; while err is set it
// fails instead.
type recordingPublisher struct {
	mu   sync.Mutex
	sent []keyserver.Event
	err  error
}

func (p *recordingPublisher) Publish(ctx context.Context, ev *keyserver.Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	p.sent = append(p.sent, *ev)
	return nil
}

func (p *recordingPublisher) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.err = err
}

// events returns "<type> <operation id>" of every event published.
func (p *recordingPublisher) events() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, x := range p.sent {
		out = append(out, x.Type+" "+x.Operation.ID)
	}
	return out
}

// published returns the events published, in order.
func (p *recordingPublisher) published() []keyserver.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.sent)
}
