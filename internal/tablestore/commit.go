package tablestore

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"keyserver/internal/keyserver"
)

// commit writes a batch of reservations, completions and audit events of
// one operation in one transaction: the op row's new counts under its ETag
// and the new reservation rows, for each completion the deletion of its
// reservation row and its audit event, and the events to record. It tries
// again when the op row changed, and without a completion whose reservation
// turned out to be gone.
//
// A reservation needs no fresh op row: the write's ETag checks it. A refusal
// does: one decided on a row known from before the request was asked is
// decided again on the row read anew.
func (s *Store) commit(ctx context.Context, opID string, ol *opLedger, batch []*useRequest) {
	reserves, completes, again := splitBatch(batch)
	if len(again) > 0 {
		defer s.commit(ctx, opID, ol, again)
	}
	reread := false
	for attempt := 1; ; {
		var next *opHead
		var actions []aztables.TransactionAction
		if len(reserves) > 0 {
			h, err := s.head(ctx, opID, ol)
			if err != nil {
				fail(reserves, err)
				reserves = nil
				continue
			}
			var stale bool
			if next, actions, stale = s.grant(opID, h, reserves); stale && !reread {
				reread = true
				ol.set(nil)
				continue
			}
		}
		owners := make([]*useRequest, len(actions)) // the request each action finishes, if any
		actions, owners = finishing(opID, completes, actions, owners)
		evs, recorded := auditEvents(completes)
		if len(actions) == 0 && len(evs) == 0 {
			return
		}
		etags, ids, err := s.submitRecorded(ctx, opID, actions, evs...)
		if err == nil {
			for i, c := range recorded {
				if c.complete != nil {
					c.complete.AuditRecord = ids[i]
				}
			}
			if next != nil && len(owners) > 0 && owners[0] == nil { // the op row was written
				if next.etag, next.at = etags[0], time.Now(); next.etag == "" {
					next = nil // not known: read before the next write
				}
				ol.set(next)
			}
			return
		}
		if i, status := failedAction(err); i >= 0 && i < len(owners) && owners[i] != nil && owners[i].complete != nil && status == http.StatusNotFound {
			c := owners[i] // its reservation is gone: the rest is tried again as it was
			c.err = s.notHeld(ctx, c.complete)
			completes = slices.DeleteFunc(completes, func(r *useRequest) bool { return r == c })
			continue
		}
		ol.set(nil)
		if !s.retryUse(ctx, err, attempt) {
			fail(reserves, useError(err, opID))
			fail(completes, classify(err, "completing uses or recording events in operation "+opID))
			return
		}
		attempt++
	}
}

// splitBatch sorts a batch into reservations and the rest (completions and
// events); a second completion of one reservation waits for a transaction
// of its own, since a transaction names an entity once.
func splitBatch(batch []*useRequest) (reserves, completes, again []*useRequest) {
	deleting := map[string]bool{}
	for _, r := range batch {
		switch {
		case r.record:
			completes = append(completes, r)
		case r.complete == nil:
			reserves = append(reserves, r)
		case deleting[reservationRowKey(r.keyID, r.complete.Seq)]:
			again = append(again, r)
		default:
			deleting[reservationRowKey(r.keyID, r.complete.Seq)] = true
			completes = append(completes, r)
		}
	}
	return reserves, completes, again
}

// finishing appends the deletion of each completed use's reservation row;
// owners records the request of each action. The completions' audit records
// follow every action (see auditEvents).
func finishing(opID string, completes []*useRequest, actions []aztables.TransactionAction, owners []*useRequest) ([]aztables.TransactionAction, []*useRequest) {
	for _, c := range completes {
		if c.complete != nil {
			actions = append(actions, aztables.TransactionAction{ActionType: aztables.TransactionTypeDelete, Entity: newRow(opID, reservationRowKey(c.keyID, c.complete.Seq)).marshal()})
			owners = append(owners, c)
		}
	}
	return actions, owners
}

// auditEvents returns the audit events of completions and recorded events, in
// order, and the request of each: they become consecutive records of the
// operation's chain in the transaction.
func auditEvents(completes []*useRequest) ([]keyserver.AuditEvent, []*useRequest) {
	var evs []keyserver.AuditEvent
	var owners []*useRequest
	for _, c := range completes {
		if c.ev != (keyserver.AuditEvent{}) {
			evs = append(evs, c.ev)
			owners = append(owners, c)
		}
	}
	return evs, owners
}

// grant decides each request of batch on h: a reservation, or a refusal
// for a closed or exhausted operation. It returns the head after the
// reservations, the actions writing them (the op row's counts under h's
// ETag, then the reservation rows; none when nothing is reserved), and
// whether a refusal that may not last (exhausted, fenced) was decided on a
// row older than its request.
func (s *Store) grant(opID string, h *opHead, batch []*useRequest) (next *opHead, actions []aztables.TransactionAction, stale bool) {
	next = h.clone()
	now := s.now()
	for _, r := range batch {
		r.res, r.err = nil, nil
		max, named := h.max[r.keyID]
		u := next.uses[r.keyID]
		switch {
		case !h.open:
			r.err = keyserver.Errorf(keyserver.ECLOSED, "Operation %s is closed.", opID)
		case h.fenced(now):
			r.err = keyserver.Errorf(keyserver.ECLOSED, "Operation %s is being closed.", opID)
			stale = stale || h.at.Before(r.since)
		case !named:
			r.err = keyserver.Errorf(keyserver.EINVALID, "Operation %s does not name key %q.", opID, r.keyID)
		case u.N >= max:
			r.err = exhausted(opID, r.keyID, max)
			stale = stale || h.at.Before(r.since)
		default:
			u.N++
			u.Seq++
			next.uses[r.keyID] = u
			r.res = &keyserver.Reservation{OperationID: opID, KeyID: r.keyID, Seq: u.Seq}
			actions = append(actions, aztables.TransactionAction{ActionType: aztables.TransactionTypeAdd, Entity: s.reservationRow(r.res).marshal()})
		}
	}
	if len(actions) > 0 {
		actions = append([]aztables.TransactionAction{{ActionType: aztables.TransactionTypeUpdateMerge, Entity: next.usesRow(opID).marshal(), IfMatch: &h.etag}}, actions...)
	}
	return next, actions, stale
}
