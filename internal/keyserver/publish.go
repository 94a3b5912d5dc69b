package keyserver

import (
	"context"
	"time"
)

// PublishTimeout bounds publishing after a change: what is not published by
// then stays unsent, and upkeep publishes it.
const PublishTimeout = 5 * time.Second

// newEvent returns the event of a change to op at now, by c (nil for what
// upkeep finds), for the subjects who may approve.
func (s *Service) newEvent(op *Operation, typ string, now time.Time, c *Caller, comment string, subjects []*Subject) *Event {
	ev := &Event{ID: NewID(), Type: typ, Time: now, Comment: comment, Operation: Summarize(op, now),
		Link: s.PublicURL + OperationPath(op.ID)}
	if c != nil {
		ev.Actor, ev.ActorName = c.Principal, c.Name
	}
	ev.Approvers = approversOf(op, subjects, ev.Operation.Status == StatusPending)
	return ev
}

// allSubjects returns every registered subject, cached for CacheTTL, or
// none when the store cannot list them.
func (s *Service) allSubjects(ctx context.Context) ([]*Subject, error) {
	l, ok := s.Subjects.(SubjectLister)
	if !ok {
		return nil, nil
	}
	return s.everyone.get(struct{}{}, s.CacheTTL, s.now(), func() ([]*Subject, error) {
		return l.Subjects(ctx)
	})
}

// publish sends events just committed and marks those sent. What fails stays
// unsent for upkeep; the change itself has happened, so the caller is not
// told.
func (s *Service) publish(ctx context.Context, opID string, events []*Event) int {
	if s.Publisher == nil || len(events) == 0 {
		return 0
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), PublishTimeout)
	defer cancel()
	var sent []string
	for _, ev := range events {
		if err := s.Publisher.Publish(ctx, ev); err != nil {
			s.log().WarnContext(ctx, "publishing an event; upkeep will publish it", "event", ev.ID, "type", ev.Type, "operation", opID, "err", err)
			break // keep their order: upkeep publishes the rest, oldest first
		}
		sent = append(sent, ev.ID)
	}
	if len(sent) > 0 {
		if err := s.Ops.MarkPublished(ctx, opID, sent); err != nil {
			s.log().WarnContext(ctx, "marking events published; upkeep will publish them again", "operation", opID, "err", err)
		}
	}
	return len(sent)
}
