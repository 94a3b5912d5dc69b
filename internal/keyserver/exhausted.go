package keyserver

import (
	"context"
	"errors"
)

// The usage.exhausted event is written once every use of every key of an
// operation is spent. Whether they all are takes a read of every use row,
// which the sign path otherwise avoids, so a signature looks only when the
// store believes no use of its key is left (FreeUseHinter); that is always
// so after the last signature on a single instance. Two backstops cover the
// rest (another instance's uses the store did not know of, or a crash right
// after the signature): a signature refused for want of uses, and upkeep
// when the operation expires. The flag ExhaustedNoted, written under the
// operation's ETag with the event, makes it happen once.

// afterUse looks for exhaustion after c spent a use of keyID in operation id.
func (s *Service) afterUse(ctx context.Context, c Caller, id, keyID string) {
	if h, ok := s.Ops.(FreeUseHinter); ok {
		if free, known := h.FreeUses(id, keyID); known && free > 0 {
			return
		}
	}
	s.noteExhausted(ctx, &c, id)
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
