package tablestore

import (
	"sync"
	"time"

	"keyserver/internal/keyserver"
)

// A ledger serialises, per operation, this process's writes of the op row's
// use counts, and remembers the last op row it knows, so that:
//   - a process never races itself: concurrent reservations of one
//     operation wait while one of them (the leader) writes, then the leader
//     reserves for all of them in one transaction;
//   - the leader writes under the ETag of the freshest op row known (read by
//     OperationForSigning just before, or left by its own last write), and
//     reads the op row again only when another process changed it.
//
// The op row's ETag alone decides: a stale memory costs one read, never a
// use too many.
type ledger struct {
	mu  sync.Mutex
	ops map[string]*opLedger
}

// maxLedgers bounds the operations a ledger remembers; idle ones are
// forgotten first, and are simply read again when needed.
const maxLedgers = 4096

type opLedger struct {
	mu      sync.Mutex
	head    *opHead // the op row last known; nil when unknown
	version uint64  // counts changes of head, so that late reads are not taken
	queue   []*useRequest
	leading bool
}

// useRequest is one reservation, completion, release or audit event
// waiting for the leader: a reservation when no other is set.
type useRequest struct {
	keyID string
	since time.Time // when it was asked
	// complete or release is the reservation to finish, with its event.
	complete, release *keyserver.Reservation
	ev                keyserver.AuditEvent
	record            bool // ev alone is to be written
	// noted, for a completion, gives what to write with it if it spends the
	// operation's last use; events is what was written then.
	noted  func(*keyserver.Operation) *keyserver.Update
	events []*keyserver.Event

	res  *keyserver.Reservation
	err  error
	done chan struct{}
}

func (l *ledger) of(opID string) *opLedger {
	l.mu.Lock()
	defer l.mu.Unlock()
	if ol := l.ops[opID]; ol != nil {
		return ol
	}
	if l.ops == nil {
		l.ops = map[string]*opLedger{}
	}
	if len(l.ops) >= maxLedgers {
		l.forgetIdle()
	}
	ol := &opLedger{}
	l.ops[opID] = ol
	return ol
}

// forgetIdle drops half the ledgers that nobody waits on; l.mu is held.
func (l *ledger) forgetIdle() {
	for id, ol := range l.ops {
		if len(l.ops) < maxLedgers/2 {
			return
		}
		ol.mu.Lock()
		idle := !ol.leading && len(ol.queue) == 0
		ol.mu.Unlock()
		if idle {
			delete(l.ops, id)
		}
	}
}

// version returns the version of opID's head, to be given to offer after
// reading the op row.
func (l *ledger) version(opID string) uint64 {
	ol := l.of(opID)
	ol.mu.Lock()
	defer ol.mu.Unlock()
	return ol.version
}

// offer records an op row read when the head was at version v, unless the
// head changed since: a read that began before a write may carry an older
// ETag than the one the write left.
func (l *ledger) offer(opID string, h *opHead, v uint64) {
	ol := l.of(opID)
	ol.mu.Lock()
	defer ol.mu.Unlock()
	if ol.version == v {
		ol.head = h
		ol.version++
	}
}

// forget marks opID's op row unknown, after this process changed it in a
// way the ledger does not follow or found it changed.
func (l *ledger) forget(opID string) {
	l.of(opID).set(nil)
}

func (ol *opLedger) current() *opHead {
	ol.mu.Lock()
	defer ol.mu.Unlock()
	return ol.head
}

func (ol *opLedger) set(h *opHead) {
	ol.mu.Lock()
	defer ol.mu.Unlock()
	ol.head = h
	ol.version++
}

// enqueue adds r and reports whether the caller must lead.
func (ol *opLedger) enqueue(r *useRequest) bool {
	ol.mu.Lock()
	defer ol.mu.Unlock()
	ol.queue = append(ol.queue, r)
	if ol.leading {
		return false
	}
	ol.leading = true
	return true
}

// next takes the next batch: one release alone, or the reservations and
// completions that fit one transaction. An empty batch ends the lead.
func (ol *opLedger) next() []*useRequest {
	ol.mu.Lock()
	defer ol.mu.Unlock()
	n := 0
	switch {
	case len(ol.queue) == 0:
		ol.leading = false
		return nil
	case ol.queue[0].release != nil:
		n = 1
	default:
		for actions := 1; n < len(ol.queue) && ol.queue[n].release == nil; n++ { // 1: the op row
			if actions += ol.queue[n].actions(); actions > maxActions {
				break
			}
		}
	}
	batch := ol.queue[:n:n]
	ol.queue = ol.queue[n:]
	return batch
}

// actions is how many transaction actions r takes at most.
func (r *useRequest) actions() int {
	if r.complete != nil {
		// the reservation row's deletion and the audit event, and with the
		// last use, the exhaustion's audit event and event
		return 4
	}
	return 1
}

// handOn reports whether requests wait for a next leader; if not, the
// caller's lead ends.
func (ol *opLedger) handOn() bool {
	ol.mu.Lock()
	defer ol.mu.Unlock()
	if len(ol.queue) == 0 {
		ol.leading = false
		return false
	}
	return true
}

func finish(batch []*useRequest) {
	for _, r := range batch {
		close(r.done)
	}
}
