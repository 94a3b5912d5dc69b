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
// turned out to be gone. A completion that spends the operation's last use
// notes its exhaustion in the same transaction (see noting).
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
		if len(reserves) > 0 || completing(completes) {
			h, err := s.head(ctx, opID, ol)
			if err != nil {
				fail(reserves, err)
				reserves, completes = nil, failCompletions(completes, err)
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
		var noter *useRequest
		var noted *keyserver.Update
		if next != nil {
			var err error
			if actions, owners, noter, noted, err = s.withCounts(ctx, opID, next, completes, actions, owners); err != nil {
				fail(reserves, err)
				fail(completes, err)
				return
			}
			if noted != nil {
				evs = append(evs, noted.Audit) // the chain's next record after the completions'
			}
		}
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
			if noter != nil {
				noter.events = noted.Events
			}
			return
		}
		if noted != nil {
			s.retract(ctx, nil, noted.Events) // nothing of this attempt committed
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

// completing reports whether any of batch completes a use.
func completing(batch []*useRequest) bool {
	return slices.ContainsFunc(batch, func(r *useRequest) bool { return r.complete != nil })
}

// failCompletions fails the completions of batch with err and returns the
// rest (events to record).
func failCompletions(batch []*useRequest, err error) []*useRequest {
	return slices.DeleteFunc(batch, func(r *useRequest) bool {
		if r.complete != nil {
			r.err = err
		}
		return r.complete != nil
	})
}

// withCounts counts the uses the completions of batch spend into next and,
// when next changed (reservations in actions, or uses spent), puts the op
// row's write under next's ETag first in actions. When that spends the
// operation's last use, the op row notes the exhaustion and what the noter
// (the last completion that can note it) wants written is added: its
// events' index rows are written first, as UpdateOperation does.
func (s *Store) withCounts(ctx context.Context, opID string, next *opHead, batch []*useRequest, actions []aztables.TransactionAction, owners []*useRequest) ([]aztables.TransactionAction, []*useRequest, *useRequest, *keyserver.Update, error) {
	changed := len(actions) > 0 && owners[0] == nil // a reservation row comes first
	for _, c := range batch {
		if c.complete != nil && c.err == nil {
			u := next.uses[c.keyID]
			u.S = min(u.S+1, u.N)
			next.uses[c.keyID] = u
			changed = true
		}
	}
	if !changed {
		return actions, owners, nil, nil, nil
	}
	r := next.usesRow(opID)
	noter, noted := s.noting(next, batch)
	if noted != nil {
		r.set("ExhaustedNoted", true)
		var err error
		n := len(actions)
		if actions, err = s.appendEvents(actions, opID, keyserver.AuditEvent{}, noted.Events); err != nil {
			return nil, nil, nil, nil, err
		}
		for range actions[n:] {
			owners = append(owners, noter)
		}
		if err := s.intend(ctx, opID, nil, noted.Events); err != nil {
			return nil, nil, nil, nil, err
		}
		e := *next.entity
		e.ExhaustedNoted = true
		next.entity = &e
	}
	etag := next.etag
	actions = append([]aztables.TransactionAction{{ActionType: aztables.TransactionTypeUpdateMerge, Entity: r.marshal(), IfMatch: &etag}}, actions...)
	owners = append([]*useRequest{nil}, owners...)
	return actions, owners, noter, noted, nil
}

// noting returns, when next has every use of every key spent, the operation
// is open and its exhaustion not noted yet, the last completion of batch
// that can note it and what it notes.
func (s *Store) noting(next *opHead, batch []*useRequest) (*useRequest, *keyserver.Update) {
	if !next.open || next.entity == nil || next.entity.ExhaustedNoted || next.spentUnknown || !next.allSpent() {
		return nil, nil
	}
	var noter *useRequest
	for _, c := range batch {
		if c.complete != nil && c.err == nil && c.noted != nil {
			noter = c
		}
	}
	if noter == nil {
		return nil, nil
	}
	op, _, err := opFromRow(next.entity, next)
	if err != nil {
		return nil, nil
	}
	for _, g := range op.Keys {
		g.SpentCount = next.uses[g.KeyID].S
	}
	op.ExhaustedNoted = true
	return noter, noter.noted(op)
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
// reservations (with h's ETag, under which to write it), the reservation
// rows to add, and
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
	return next, actions, stale
}
