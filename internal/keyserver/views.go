package keyserver

import (
	"context"
	"time"
)

// This file holds what the read side of the API shows beyond the stored
// operation: who may do what, display names, timelines and listings.

// ListWindow bounds how far back the listings of closed operations look.
const ListWindow = 30 * 24 * time.Hour

// OperationQuery chooses what Operations lists.
type OperationQuery struct {
	Status Status
	// Mine lists the operations the caller requested, in any state.
	Mine bool
	// All lists every operation the caller may read, in any state.
	All bool
}

var allStatuses = []Status{StatusPending, StatusApproved, StatusExpired, StatusExhausted, StatusRejected, StatusCancelled}

func validStatus(st Status) bool {
	for _, s := range allStatuses {
		if s == st {
			return true
		}
	}
	return false
}

// history lists the operations of the last ListWindow that c may read and
// that q selects, in any state.
func (s *Service) history(ctx context.Context, c Caller, q OperationQuery) ([]*Operation, error) {
	if q.Mine && q.All {
		return nil, Errorf(EINVALID, "Use mine or all, not both.")
	}
	if q.Status != "" && !validStatus(q.Status) {
		return nil, Errorf(EINVALID, "status must be one of pending, approved, expired, exhausted, rejected or cancelled.").On("status")
	}
	now := s.now()
	all, err := s.Ops.ListOperations(ctx, OperationFilter{CreatedSince: now.Add(-ListWindow)})
	if err != nil {
		return nil, err
	}
	out := []*Operation{}
	for _, op := range all {
		switch {
		case op.Created.Before(now.Add(-ListWindow)), !op.CanRead(c):
		case q.Mine && !op.IsRequester(c.Principal):
		case q.Status != "" && op.Status(now) != q.Status:
		default:
			out = append(out, op)
		}
	}
	return out, nil
}

// ApproveRefusal says why c may not approve op at now, or returns nil.
func (op *Operation) ApproveRefusal(c Caller, now time.Time) error {
	if err := usable(op, now); err != nil {
		return err
	}
	if op.IsRequester(c.Principal) {
		return Errorf(EFORBIDDEN, "You requested this operation; the requester of an operation may not approve it.")
	}
	if !op.CanApproveAny(c) {
		return Errorf(EFORBIDDEN, "You are not an approver of any key of operation %s.", op.ID)
	}
	if len(approvableGrants(op, c)) > 0 {
		return nil
	}
	for _, g := range op.Keys {
		if g.ApprovedBy(c.Principal) {
			return Errorf(ECONFLICT, "You already approved operation %s.", op.ID)
		}
	}
	return Errorf(ECONFLICT, "Operation %s needs no further approval from you.", op.ID)
}

// RejectRefusal says why c may not reject op at now, or returns nil.
func (op *Operation) RejectRefusal(c Caller, now time.Time) error {
	if !op.CanApproveAny(c) {
		if op.IsRequester(c.Principal) {
			return Errorf(EFORBIDDEN, "You requested this operation; cancel it instead of rejecting it.")
		}
		return Errorf(EFORBIDDEN, "Only an approver of one of its keys may reject operation %s.", op.ID)
	}
	return usable(op, now)
}

// CancelRefusal says why c may not cancel op at now, or returns nil.
func (op *Operation) CancelRefusal(c Caller, now time.Time) error {
	if !op.IsRequester(c.Principal) && !c.IsAdmin() {
		return Errorf(EFORBIDDEN, "Only the requester or an admin may cancel operation %s.", op.ID)
	}
	return usable(op, now)
}

// DisplayName returns the registered name of p, or "" when p is not
// registered or the name cannot be read now.
func (s *Service) DisplayName(ctx context.Context, p Principal) string {
	sub, err := s.subjects.get(p, s.CacheTTL, s.now(), func() (*Subject, error) {
		return s.Subjects.Subject(ctx, p)
	})
	if err != nil {
		return ""
	}
	return sub.Name
}

// GrantKey returns the registered key behind a grant of an operation c may
// read, for its description and algorithm; nil when it is gone.
func (s *Service) GrantKey(ctx context.Context, keyID string) *Key {
	k, err := s.key(ctx, keyID)
	if err != nil {
		return nil
	}
	return k
}

// OperationEvents returns the audit timeline of an operation c may read.
func (s *Service) OperationEvents(ctx context.Context, c Caller, id string) ([]AuditEvent, error) {
	r, ok := s.Ops.(EventReader)
	if !ok {
		return nil, Errorf(EINTERNAL, "The operation store cannot read audit events.")
	}
	if _, err := s.readable(ctx, c, id); err != nil {
		return nil, err
	}
	return r.OperationEvents(ctx, id)
}

// ListSubjects lists every registered subject; admin only.
func (s *Service) ListSubjects(ctx context.Context, c Caller) ([]*Subject, error) {
	if err := requireAdmin(c); err != nil {
		return nil, err
	}
	l, ok := s.Subjects.(SubjectLister)
	if !ok {
		return nil, Errorf(EINTERNAL, "The subject store cannot list subjects.")
	}
	return l.Subjects(ctx)
}

// AdminKeys lists every registered key with its HSM key and state; admin only.
func (s *Service) AdminKeys(ctx context.Context, c Caller) ([]*Key, error) {
	if err := requireAdmin(c); err != nil {
		return nil, err
	}
	return s.Keys.Keys(ctx)
}
