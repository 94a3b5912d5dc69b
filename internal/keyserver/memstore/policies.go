package memstore

import (
	"context"
	"slices"
	"strings"

	"keyserver/internal/auditlog"
	"keyserver/internal/keyserver"
)

// This file holds the Store's PolicyStore.

func clonePolicy(p *keyserver.Policy) *keyserver.Policy {
	c := *p
	c.Conditions = slices.Clone(p.Conditions)
	c.Roles = slices.Clone(p.Roles)
	return &c
}

func (m *Store) Policies(ctx context.Context) ([]*keyserver.Policy, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault("Policies"); err != nil {
		return nil, err
	}
	out := []*keyserver.Policy{}
	for _, p := range m.policies {
		out = append(out, clonePolicy(p))
	}
	slices.SortFunc(out, func(a, b *keyserver.Policy) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

func (m *Store) Policy(ctx context.Context, id string) (*keyserver.Policy, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.policies[id]
	if !ok {
		return nil, keyserver.Errorf(keyserver.ENOTFOUND, "Policy %q does not exist.", id)
	}
	return clonePolicy(p), nil
}

func (m *Store) PutPolicy(ctx context.Context, p *keyserver.Policy, ev keyserver.AuditEvent) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fault("PutPolicy"); err != nil {
		return err
	}
	if err := m.adminRecord(ctx, auditlog.PoliciesChain, ev); err != nil {
		return err
	}
	if m.policies == nil {
		m.policies = map[string]*keyserver.Policy{}
	}
	m.policies[p.ID] = clonePolicy(p)
	return nil
}

func (m *Store) DeletePolicy(ctx context.Context, id string, ev keyserver.AuditEvent) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.policies[id]; !ok {
		return keyserver.Errorf(keyserver.ENOTFOUND, "Policy %q does not exist.", id)
	}
	if err := m.adminRecord(ctx, auditlog.PoliciesChain, ev); err != nil {
		return err
	}
	delete(m.policies, id)
	return nil
}
