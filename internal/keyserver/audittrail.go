package keyserver

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"keyserver/internal/auditlog"
)

// Match reports whether r passes f's filters (not its page).
func (f *AuditFilter) Match(r *auditlog.Record) bool {
	switch {
	case !f.From.IsZero() && r.Time.Before(f.From), !f.To.IsZero() && !r.Time.Before(f.To):
		return false
	case f.OperationID != "" && r.OperationID != f.OperationID:
		return false
	case f.KeyID != "" && r.KeyID != f.KeyID:
		return false
	case f.Subject != "" && r.ActorSubject != f.Subject && r.Target != f.Subject:
		return false
	case f.Event != "" && r.Event != f.Event:
		return false
	}
	return true
}

// MemTrail is an in-memory AuditTrail and AuditLog, for tests and the
// handler's unit tests.
type MemTrail struct {
	*auditlog.MemStore
	mu    sync.Mutex
	certs []AuditCertificate
}

// NewMemTrail returns an empty trail.
func NewMemTrail(now func() time.Time) *MemTrail {
	return &MemTrail{MemStore: auditlog.NewMemStore(now)}
}

// AuditCertificates returns the certificates stored, oldest first.
func (m *MemTrail) AuditCertificates(context.Context) ([]AuditCertificate, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.certs), nil
}

// AddAuditCertificate stores c with ev as the next record of the auditkey
// chain: both or neither.
func (m *MemTrail) AddAuditCertificate(ctx context.Context, c AuditCertificate, ev AuditEvent) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cert, err := parseCertificate(c.PEM)
	if err != nil {
		return "", err
	}
	for _, have := range m.certs {
		if hc, _ := parseCertificate(have.PEM); have.Record != "" && hc != nil && samePublicKey(hc.PublicKey, cert.PublicKey) {
			return "", auditlog.ErrConflict
		}
	}
	s, err := m.Append(ctx, ev.Record(auditlog.AuditKeyChain))
	if err != nil {
		return "", err
	}
	c.Record = s.Record.ID()
	for i, have := range m.certs {
		if have.SHA256 == c.SHA256 {
			m.certs[i] = c // one stored before certificates were recorded
			return c.Record, nil
		}
	}
	m.certs = append(m.certs, c)
	return c.Record, nil
}

// PutLegacyCertificate stores a certificate as versions before this one
// did: without its version or record.
func (m *MemTrail) PutLegacyCertificate(pemText, sha256 string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.certs = append(m.certs, AuditCertificate{PEM: pemText, SHA256: sha256})
}

// RecordAudit appends ev to the admin chain or its caller's chain.
func (m *MemTrail) RecordAudit(ctx context.Context, ev AuditEvent) error {
	_, err := m.Append(ctx, ev.Record(ev.Chain()))
	return err
}

// RecordOperationEvent appends ev to the chain of operation opID and
// returns the record's id.
func (m *MemTrail) RecordOperationEvent(ctx context.Context, opID string, ev AuditEvent) (string, error) {
	s, err := m.Append(ctx, ev.Record(auditlog.OperationChain(opID)))
	return s.Record.ID(), err
}

// ListAudit pages through every record matching f; the page token is the
// number of records already skipped.
func (m *MemTrail) ListAudit(_ context.Context, f AuditFilter) ([]auditlog.Stored, string, error) {
	skip, _ := strconv.Atoi(f.Page)
	var out []auditlog.Stored
	for _, s := range m.All() {
		if !f.Match(&s.Record) {
			continue
		}
		if skip > 0 {
			skip--
			continue
		}
		if len(out) == f.Limit {
			n, _ := strconv.Atoi(f.Page)
			return out, strconv.Itoa(n + len(out)), nil
		}
		out = append(out, s)
	}
	return out, "", nil
}
