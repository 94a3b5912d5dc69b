package keyserver_test

import (
	"context"
	"slices"
	"sync"

	"keyserver/internal/keyserver"
)

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
