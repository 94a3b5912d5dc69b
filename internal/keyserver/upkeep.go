package keyserver

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// UpkeepReport says what one upkeep run did.
type UpkeepReport struct {
	Republished int
	Expired     int
	Reminded    int
	Deleted     int
	Sealed      int // audit checkpoints written
}

func (r UpkeepReport) String() string {
	return fmt.Sprintf("republished %d, expired %d, reminded %d, deleted %d, sealed %d", r.Republished, r.Expired, r.Reminded, r.Deleted, r.Sealed)
}

// Upkeep limits: one run does at most this much of each kind of work; the
// next run, a minute later, does the rest.
const (
	upkeepBatch = 200
	// UnsentGrace is how old an unsent event must be before upkeep publishes
	// it, so that upkeep does not race the request that is publishing it.
	UnsentGrace = 30 * time.Second
)

// errNothingDue tells tend's update that there was nothing to write.
var errNothingDue = errors.New("nothing due")

// Upkeep is the periodic work of the upkeep function (a timer, every
// minute): it publishes events left unsent, expires operations past their
// expiry, sends the reminder of operations pending at half their validity,
// and deletes operations finished longer than Retention ago, keeping their
// audit events. It reads the store's indexes only, never the whole history.
func (s *Service) Upkeep(ctx context.Context) (UpkeepReport, error) {
	var r UpkeepReport
	up, ok := s.Ops.(UpkeepStore)
	if !ok {
		return r, Errorf(EINTERNAL, "The operation store keeps no upkeep indexes.")
	}
	now := s.now()
	var errs []error
	n, err := s.republish(ctx, up, now)
	r.Republished += n
	errs = append(errs, err)
	r.Expired, r.Reminded, err = s.tendDue(ctx, up, now)
	errs = append(errs, err)
	if s.Retention > 0 {
		r.Deleted, err = s.deleteFinished(ctx, up, now.Add(-s.Retention))
		errs = append(errs, err)
	}
	// Sealing comes last, so that it seals what this run wrote too.
	if s.Trail != nil && s.AuditKey != "" {
		r.Sealed, err = s.SealAudit(ctx)
		errs = append(errs, err)
	}
	return r, errors.Join(errs...)
}

// republish publishes what was committed but not marked published: the
// publish after a change failed, or the process stopped in between.
func (s *Service) republish(ctx context.Context, up UpkeepStore, now time.Time) (int, error) {
	if s.Publisher == nil {
		return 0, nil
	}
	events, err := up.UnsentEvents(ctx, now.Add(-UnsentGrace), upkeepBatch)
	if err != nil {
		return 0, fmt.Errorf("reading unsent events: %w", err)
	}
	sent := 0
	for _, ev := range events {
		if err := s.Publisher.Publish(ctx, ev); err != nil {
			return sent, fmt.Errorf("republishing event %s: %w", ev.ID, err)
		}
		if err := s.Ops.MarkPublished(ctx, ev.Operation.ID, []string{ev.ID}); err != nil {
			return sent, fmt.Errorf("marking event %s published: %w", ev.ID, err)
		}
		sent++
	}
	return sent, nil
}

// tendDue expires and reminds the operations whose upkeep is due.
func (s *Service) tendDue(ctx context.Context, up UpkeepStore, now time.Time) (expired, reminded int, err error) {
	ids, err := up.DueOperations(ctx, now, upkeepBatch)
	if err != nil {
		return 0, 0, fmt.Errorf("reading due operations: %w", err)
	}
	var errs []error
	for _, id := range ids {
		typ, err := s.tend(ctx, up, id, now)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("operation %s: %w", id, err))
		case typ == EventExpired:
			expired++
		case typ == EventReminder:
			reminded++
		}
	}
	return expired, reminded, errors.Join(errs...)
}

// tend writes the one event due for operation id, if any: operation.expired
// once it is past its expiry, or operation.reminder once at half its
// validity. The flag it sets on the operation, under its ETag, makes each
// happen once however many upkeep runs race. An operation that expires with
// all its uses spent and no usage.exhausted written yet gets that event too
// (see exhausted.go).
func (s *Service) tend(ctx context.Context, up UpkeepStore, id string, now time.Time) (string, error) {
	subjects, err := s.allSubjects(ctx)
	if err != nil {
		return "", err
	}
	typ := ""
	_, events, err := s.update(ctx, id, func(op *Operation) (*Update, error) {
		typ = ""
		switch {
		case op.Closed() || op.ExpiryNoted:
			return nil, errNothingDue
		case !now.Before(op.Expires):
			op.ExpiryNoted, typ = true, EventExpired
		case !op.Reminded && !now.Before(op.ReminderAt()) && op.Status(now) == StatusPending:
			op.Reminded, typ = true, EventReminder
		default:
			return nil, errNothingDue
		}
		action := map[string]string{EventExpired: ActionExpire, EventReminder: ActionRemind}[typ]
		u := &Update{Audit: AuditEvent{Time: now, Action: action, OperationID: op.ID, Result: "ok"}}
		if typ == EventExpired && !op.ExhaustedNoted && op.Exhausted() {
			op.ExhaustedNoted = true
			u.Events = append(u.Events, s.newEvent(op, EventExhausted, now, nil, "", subjects))
		}
		u.Events = append(u.Events, s.newEvent(op, typ, now, nil, "", subjects))
		return u, nil
	})
	if errors.Is(err, errNothingDue) || ErrorCode(err) == ENOTFOUND {
		// Closed meanwhile, not yet due, or never created: the index only
		// needs to catch up.
		return "", up.Settle(ctx, id, now)
	}
	if err != nil {
		return "", err
	}
	s.publish(ctx, id, events)
	return typ, nil
}

// deleteFinished deletes operations that finished before cutoff.
func (s *Service) deleteFinished(ctx context.Context, up UpkeepStore, cutoff time.Time) (int, error) {
	done, err := up.FinishedBefore(ctx, cutoff, upkeepBatch)
	if err != nil {
		return 0, fmt.Errorf("reading finished operations: %w", err)
	}
	for i, f := range done {
		if err := up.DeleteOperation(ctx, f); err != nil {
			return i, fmt.Errorf("deleting operation %s: %w", f.ID, err)
		}
	}
	return len(done), nil
}
