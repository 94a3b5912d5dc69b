package keyserver_test

import (
	"context"
	"sync"

	"keyserver/internal/keyserver"
)

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
