package keyserver

import (
	"context"
	"errors"
)

// The usage.exhausted event is written once every use of every key of an
// operation is spent. A store that keeps the use counts (an
// ExhaustingCompleter) tells whether a completion spends the last use from
// the counts it writes anyway, and writes the event with that completion, in
// one transaction and with no read more: the flag ExhaustedNoted, written
// with it, makes it happen once. For a store without that ability, every
// completion is followed by a look. Upkeep's expiry is the backstop for an
// event that could not be built (the subjects could not be listed).

// complete records the use r as spent with ev, c having signed, and returns
// the usage.exhausted events written with it, if it spent the last use.
func (s *Service) complete(ctx context.Context, c Caller, r *Reservation, ev AuditEvent) ([]*Event, error) {
	ec, ok := s.Ops.(ExhaustingCompleter)
	if !ok {
		if err := s.Ops.CompleteUse(ctx, r, ev); err != nil {
			return nil, err
		}
		s.noteExhausted(ctx, &c, r.OperationID)
		return nil, nil
	}
	var noted func(*Operation) *Update
	if subjects, err := s.allSubjects(ctx); err != nil {
		s.log().ErrorContext(ctx, "listing subjects for usage.exhausted; upkeep writes it at expiry", "operation", r.OperationID, "err", err)
	} else {
		noted = func(op *Operation) *Update {
			at := s.now() // when the store writes it, after the signature's event
			if at.Before(ev.Time) {
				at = ev.Time
			}
			return &Update{
				Audit:  AuditEvent{Time: at, Actor: c.Principal, Action: ActionExhaust, OperationID: op.ID, Result: "ok"},
				Events: []*Event{s.newEvent(op, EventExhausted, at, &c, "", subjects)},
			}
		}
	}
	return ec.CompleteUseNoting(ctx, r, ev, noted)
}

// noteExhausted writes the usage.exhausted event of operation id, with c as
// its actor (nil when unknown), if all its uses are spent and the event was
// not written yet. The signature is already made, so failures are logged.
func (s *Service) noteExhausted(ctx context.Context, c *Caller, id string) {
	ctx = context.WithoutCancel(ctx)
	subjects, err := s.allSubjects(ctx)
	if err == nil {
		var events []*Event
		_, events, err = s.update(ctx, id, func(op *Operation) (*Update, error) {
			if op.ExhaustedNoted || op.Closed() || !op.Exhausted() {
				return nil, errNothingDue
			}
			now := s.now()
			op.ExhaustedNoted = true
			u := &Update{
				Audit:  AuditEvent{Time: now, Action: ActionExhaust, OperationID: op.ID, Result: "ok"},
				Events: []*Event{s.newEvent(op, EventExhausted, now, c, "", subjects)},
			}
			if c != nil {
				u.Audit.Actor = c.Principal
			}
			return u, nil
		})
		if err == nil {
			s.publish(ctx, id, events)
		}
	}
	if err != nil && !errors.Is(err, errNothingDue) {
		s.log().ErrorContext(ctx, "noting exhausted operation", "operation", id, "err", err)
	}
}
