package keyserver_test

import (
	"context"
	"sync"

	"keyserver/internal/keyserver"
	"keyserver/internal/keyserver/memstore"
)

// memStore is the in-memory store with the short helper names the domain
// tests use.
type memStore struct{ *memstore.Store }

func newMemStore() *memStore { return &memStore{memstore.New()} }

func (m *memStore) fail(method string, err error)                { m.Fail(method, err) }
func (m *memStore) events(opID string) []keyserver.AuditEvent    { return m.Events(opID) }
func (m *memStore) outbox(opID string) []*keyserver.Notification { return m.Outbox(opID) }
func (m *memStore) opCount() int                                 { return m.OpCount() }
func (m *memStore) heldUses(opID, keyID string) int              { return m.HeldUses(opID, keyID) }
func (m *memStore) globalAudit() []keyserver.AuditEvent          { return m.GlobalAudit() }

// recordingNotifier keeps every notification it delivers.
type recordingNotifier struct {
	mu   sync.Mutex
	sent []keyserver.Notification
	err  error
}

func (n *recordingNotifier) Notify(ctx context.Context, x *keyserver.Notification) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.err != nil {
		return n.err
	}
	n.sent = append(n.sent, *x)
	return nil
}

func (n *recordingNotifier) events() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, x := range n.sent {
		out = append(out, x.Event+" "+x.OperationID)
	}
	return out
}

// loud is the error of a request a fake does not support.
func loud(format string, args ...any) error {
	return keyserver.Errorf(keyserver.EINTERNAL, "fake: "+format, args...)
}
