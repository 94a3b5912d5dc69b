package keyserver

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"
)

// maxCommentLength bounds approval comments and rejection reasons.
const maxCommentLength = 1024

// CreateOperation opens an operation for c. c needs orderer rights on every key.
func (s *Service) CreateOperation(ctx context.Context, c Caller, req *OperationRequest) (*Operation, error) {
	op, err := s.newOperation(ctx, c, req)
	if err != nil {
		return nil, err
	}
	if err := s.storeOperation(ctx, c, op); err != nil {
		return nil, err
	}
	return op, nil
}

// newOperation checks req and c's rights and builds the operation, storing nothing.
func (s *Service) newOperation(ctx context.Context, c Caller, req *OperationRequest) (*Operation, error) {
	if err := req.Validate(s.Limits); err != nil {
		return nil, err
	}
	now := s.now()
	op := &Operation{
		ID: NewID(), Requester: c.Principal, Description: req.Description,
		Created: now, Expires: now.Add(time.Duration(req.ValidMS) * time.Millisecond),
	}
	if c.Kind == KindApp {
		op.BuildContext = BuildContextOf(c.Issuer, c.Claims)
	}
	for _, kr := range req.Keys {
		k, err := s.orderableKey(ctx, c, kr.KeyID)
		if err != nil {
			return nil, err
		}
		if !k.Enabled {
			return nil, Errorf(EINVALID, "Key %q is disabled.", k.KeyID)
		}
		op.Keys = append(op.Keys, &KeyGrant{KeyID: k.KeyID, MaxUsageCount: kr.MaxUsageCount, RequiredApprovals: k.RequiredApprovals, HSMKey: k.HSMKey})
	}
	return op, nil
}

// storeOperation writes a new operation with its audit event and its
// operation.created event, and publishes the event.
func (s *Service) storeOperation(ctx context.Context, c Caller, op *Operation) error {
	subjects, err := s.allSubjects(ctx)
	if err != nil {
		return err
	}
	now := op.Created
	ev := AuditEvent{Time: now, Actor: c.Principal, Action: ActionCreate, OperationID: op.ID, Result: "ok", Detail: op.Description}
	events := []*Event{s.newEvent(op, EventCreated, now, &c, "", subjects)}
	if err := s.Ops.CreateOperation(ctx, op, ev, events); err != nil {
		return err
	}
	s.publish(ctx, op.ID, events)
	return nil
}

// readable loads an operation c may see; anything else looks like it does not exist.
func (s *Service) readable(ctx context.Context, c Caller, id string) (*Operation, error) {
	return readableWith(ctx, c, id, s.Ops.Operation)
}

// readableWith is readable with the store's loading method given.
func readableWith(ctx context.Context, c Caller, id string, load func(context.Context, string) (*Operation, error)) (*Operation, error) {
	if !ValidID(id) {
		return nil, notFoundOperation(id)
	}
	op, err := load(ctx, id)
	if ErrorCode(err) == ENOTFOUND {
		// The store's own message would tell unknown ids from unreadable ones.
		return nil, notFoundOperation(id)
	}
	if err != nil {
		return nil, err
	}
	if !op.CanRead(c) {
		return nil, notFoundOperation(id)
	}
	return op, nil
}

// updateReadable is UpdateOperation for an operation c may see, with the
// access check on the row the update reads, so the operation is read once.
// The events of the update that committed are published.
func (s *Service) updateReadable(ctx context.Context, c Caller, id string, fn func(*Operation) (*Update, error)) (*Operation, error) {
	if !ValidID(id) {
		return nil, notFoundOperation(id)
	}
	op, events, err := s.update(ctx, id, func(op *Operation) (*Update, error) {
		if !op.CanRead(c) {
			return nil, notFoundOperation(id)
		}
		return fn(op)
	})
	if ErrorCode(err) == ENOTFOUND {
		// The store's own message would tell unknown ids from unreadable ones.
		return nil, notFoundOperation(id)
	}
	if err != nil {
		return nil, err
	}
	s.publish(ctx, id, events)
	return op, nil
}

// update is UpdateOperation that returns the events of the attempt that
// committed: fn may run more than once, and an attempt that lost to another
// writer wrote, and so emits, nothing.
func (s *Service) update(ctx context.Context, id string, fn func(*Operation) (*Update, error)) (*Operation, []*Event, error) {
	var events []*Event
	op, err := s.Ops.UpdateOperation(ctx, id, func(op *Operation) (*Update, error) {
		events = nil
		u, err := fn(op)
		if u != nil {
			events = u.Events
		}
		return u, err
	})
	if err != nil {
		return nil, nil, err
	}
	return op, events, nil
}

func notFoundOperation(id string) error {
	return Errorf(ENOTFOUND, "Operation %q does not exist.", id)
}

// Operation returns the operation id if c may read it.
func (s *Service) Operation(ctx context.Context, c Caller, id string) (*Operation, error) {
	return s.readable(ctx, c, id)
}

// Operations lists operations c may read. Without Mine or All it lists open
// operations with the given status, and for "pending" those c may approve and
// has not approved yet; with Mine or All, those of the last ListWindow in any state.
func (s *Service) Operations(ctx context.Context, c Caller, q OperationQuery) ([]*Operation, error) {
	if q.Mine || q.All {
		return s.history(ctx, c, q)
	}
	status := q.Status
	switch status {
	case "", StatusPending, StatusApproved, StatusExhausted:
	default:
		return nil, Errorf(EINVALID, "status must be pending, approved or exhausted; closed and expired operations are not listed.")
	}
	now := s.now()
	f := OperationFilter{OpenAt: now}
	if status == StatusPending {
		f.KeyIDs = approvableKeys(c)
	}
	all, err := s.Ops.ListOperations(ctx, f)
	if err != nil {
		return nil, err
	}
	out := []*Operation{}
	for _, op := range all {
		st := op.Status(now)
		switch {
		case status == StatusPending && (st != StatusPending || len(approvableGrants(op, c)) == 0):
		case status != "" && status != StatusPending && st != status:
		case !op.CanRead(c), st == StatusExpired, op.Closed():
		default:
			out = append(out, op)
		}
	}
	return out, nil
}

// approvableKeys returns the keys c may approve, for narrowing a listing:
// nil means every key.
func approvableKeys(c Caller) []string {
	if c.IsAdmin() || c.has(RoleApprover+":*") {
		return nil
	}
	keys := []string{}
	for _, r := range c.Roles {
		if k, ok := strings.CutPrefix(r, RoleApprover+":"); ok {
			keys = append(keys, k)
		}
	}
	return keys
}

// approvableGrants returns the grants c may still approve.
func approvableGrants(op *Operation, c Caller) []*KeyGrant {
	if op.IsRequester(c.Principal) {
		return nil
	}
	var gs []*KeyGrant
	for _, g := range op.Keys {
		if c.CanApprove(g.KeyID) && !g.Approved() && !g.ApprovedBy(c.Principal) {
			gs = append(gs, g)
		}
	}
	return gs
}

// usable refuses changes to an operation that has ended.
func usable(op *Operation, now time.Time) error {
	switch op.Status(now) {
	case StatusExpired:
		return Errorf(ECONFLICT, "Operation %s has expired.", op.ID)
	case StatusRejected:
		return Errorf(ECONFLICT, "Operation %s was rejected.", op.ID)
	case StatusCancelled:
		return Errorf(ECONFLICT, "Operation %s was cancelled.", op.ID)
	}
	return nil
}

func checkComment(field, s string) error {
	if utf8.RuneCountInString(s) > maxCommentLength {
		return Errorf(EINVALID, "%s must be at most %d characters long.", field, maxCommentLength)
	}
	return nil
}

// Approve records one approval by c on every key of the operation c may
// approve and that still needs approvals.
func (s *Service) Approve(ctx context.Context, c Caller, id, comment string) (*Operation, error) {
	if err := checkComment("comment", comment); err != nil {
		return nil, err
	}
	subjects, err := s.allSubjects(ctx)
	if err != nil {
		return nil, err
	}
	return s.updateReadable(ctx, c, id, func(op *Operation) (*Update, error) {
		now := s.now()
		if err := op.ApproveRefusal(c, now); err != nil {
			return nil, err
		}
		grants := approvableGrants(op, c)
		u := &Update{Audit: AuditEvent{Time: now, Actor: c.Principal, Action: ActionApprove, OperationID: op.ID, Result: "ok", Detail: comment}}
		for _, g := range grants {
			a := Approval{Approver: c.Principal, Name: c.Name, Time: now, Comment: comment}
			g.Approvals = append(g.Approvals, a)
			u.Approvals = append(u.Approvals, NewApproval{KeyID: g.KeyID, Approval: a})
		}
		typ := EventApproval
		if op.Status(now) == StatusApproved {
			typ = EventApproved
		}
		u.Events = []*Event{s.newEvent(op, typ, now, &c, comment, subjects)}
		return u, nil
	})
}

// Reject ends the operation; c must be able to approve one of its keys.
func (s *Service) Reject(ctx context.Context, c Caller, id, reason string) (*Operation, error) {
	if utf8.RuneCountInString(reason) == 0 {
		return nil, Errorf(EINVALID, "reason is required to reject an operation.")
	}
	if err := checkComment("reason", reason); err != nil {
		return nil, err
	}
	return s.close(ctx, c, id, reason, ActionReject, EventRejected, (*Operation).RejectRefusal)
}

// Cancel ends the operation; c must be its requester or an admin.
func (s *Service) Cancel(ctx context.Context, c Caller, id string) (*Operation, error) {
	return s.close(ctx, c, id, "", ActionCancel, EventCancelled, (*Operation).CancelRefusal)
}

func (s *Service) close(ctx context.Context, c Caller, id, reason, action, event string, refusal func(*Operation, Caller, time.Time) error) (*Operation, error) {
	subjects, err := s.allSubjects(ctx)
	if err != nil {
		return nil, err
	}
	return s.updateReadable(ctx, c, id, func(op *Operation) (*Update, error) {
		now := s.now()
		if err := refusal(op, c, now); err != nil {
			return nil, err
		}
		cl := &Closure{By: c.Principal, Time: now, Reason: reason}
		if action == ActionReject {
			op.Rejected = cl
		} else {
			op.Cancelled = cl
		}
		return &Update{
			Audit:  AuditEvent{Time: now, Actor: c.Principal, Action: action, OperationID: op.ID, Result: "ok", Detail: reason},
			Events: []*Event{s.newEvent(op, event, now, &c, reason, subjects)},
		}, nil
	})
}
