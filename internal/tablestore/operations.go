package tablestore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"keyserver/internal/auditlog"
	"keyserver/internal/keyserver"
)

// maxUpdateAttempts bounds UpdateOperation's optimistic retries.
const maxUpdateAttempts = 8

// CreateOperation writes op, its audit event and its events in one
// transaction, after their index rows (index.go).
func (s *Store) CreateOperation(ctx context.Context, op *keyserver.Operation, ev keyserver.AuditEvent, evs []*keyserver.Event) error {
	if !keyserver.ValidID(op.ID) {
		return keyserver.Errorf(keyserver.EINVALID, "Operation id %q is malformed.", op.ID)
	}
	r, err := opRowOf(op)
	if err != nil {
		return err
	}
	r.setJSON(usesProperty, newUses(op))
	actions := []aztables.TransactionAction{{ActionType: aztables.TransactionTypeAdd, Entity: r.marshal()}}
	actions, err = s.appendEvents(actions, op.ID, keyserver.AuditEvent{}, evs)
	if err != nil {
		return err
	}
	due, _ := op.NextUpkeep(op.Created)
	index := []*row{openRow(op, due), createdRow(op)}
	if err := s.intend(ctx, op.ID, index, evs); err != nil {
		return err
	}
	_, _, err = s.submitRecorded(ctx, op.ID, actions, ev)
	if status, _ := statusOf(err); status == http.StatusConflict {
		s.retract(ctx, nil, evs) // the index rows are the existing operation's
		return keyserver.Errorf(keyserver.ECONFLICT, "Operation %s already exists.", op.ID)
	}
	if err != nil {
		s.retract(ctx, index, evs)
	}
	return classify(err, "creating operation "+op.ID)
}

// Operation loads an operation with its approvals and use counts.
func (s *Store) Operation(ctx context.Context, id string) (*keyserver.Operation, error) {
	op, _, err := s.load(ctx, id)
	return op, err
}

// ListOperations returns operations ordered by creation time, reading an
// index, never the whole table. With f.CreatedSince set it reads the
// operations created since then, in any state; otherwise the open
// operations, with f.OpenAt set only those unexpired then. With f.KeyIDs,
// only those naming one of them. Closed operations whose index row is not
// settled yet are returned too; the service filters them.
func (s *Store) ListOperations(ctx context.Context, f keyserver.OperationFilter) ([]*keyserver.Operation, error) {
	prefix, filter := openPrefix, rangeFilter(indexPartition, openPrefix)
	if !f.OpenAt.IsZero() {
		filter += " and Expires gt " + filterTime(f.OpenAt)
	}
	if !f.CreatedSince.IsZero() {
		prefix = createdPrefix
		filter = fmt.Sprintf("PartitionKey eq %s and RowKey ge %s and RowKey lt %s", quote(indexPartition),
			quote(createdPrefix+f.CreatedSince.UTC().Format(auditTimeLayout)), quote(prefixEnd(createdPrefix)))
	}
	heads, err := querySelect(ctx, s.ops, filter, "RowKey,KeyIDs,Timestamp", "listing operations")
	if err != nil {
		return nil, err
	}
	var ids []string
	var rows []*row
	for _, h := range heads {
		if f.KeyIDs == nil || slices.ContainsFunc(strings.Split(h.str("KeyIDs"), ","), func(k string) bool { return slices.Contains(f.KeyIDs, k) }) {
			id := strings.TrimPrefix(h.RowKey, prefix)
			ids, rows = append(ids, id[strings.LastIndex(id, "~")+1:]), append(rows, h)
		}
	}
	ops := make([]*keyserver.Operation, len(ids))
	errs := make([]error, len(ids))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			ops[i], _, errs[i] = s.load(ctx, id)
		}()
	}
	wg.Wait()
	var out []*keyserver.Operation
	for i, err := range errs {
		switch {
		case keyserver.ErrorCode(err) == keyserver.ENOTFOUND: // an intent whose operation never committed
			if s.now().Sub(time.Time(rows[i].Timestamp)) > orphanGrace {
				_ = s.deleteIndexRows(ctx, []string{rows[i].RowKey})
			}
		case err != nil:
			return nil, err
		default:
			out = append(out, ops[i])
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// UpdateOperation loads the operation, lets fn change it, and writes the op
// row (if its ETag still matches), the new approvals, the audit event and the
// notification in one transaction, retrying when another writer won. An
// update that closes the operation first fences it (see close.go) and then
// revokes its reservations in that transaction.
func (s *Store) UpdateOperation(ctx context.Context, id string, fn func(*keyserver.Operation) (*keyserver.Update, error)) (*keyserver.Operation, error) {
	for attempt := 1; ; attempt++ {
		op, h, err := s.load(ctx, id)
		if err != nil {
			return nil, err
		}
		wasClosed := op.Closed()
		_, wasFinished := op.Finished()
		dueBefore, _ := op.NextUpkeep(s.now())
		u, err := fn(op)
		if err != nil {
			return nil, err
		}
		if u == nil {
			u = &keyserver.Update{}
		}
		if wasFinished && u.Audit != (keyserver.AuditEvent{}) && !s.Unchained {
			// A record to a finished operation's chain, which the index
			// may no longer list: list it first (sealindex.go).
			if err := s.markChain(ctx, auditlog.OperationChain(id)); err != nil {
				return nil, err
			}
		}
		closing := !wasClosed && op.Closed()
		if closing && !h.fenced(s.now()) {
			if err := s.fence(ctx, id); err != nil {
				return nil, err
			}
			continue // read again behind the fence
		}
		addApprovals(op, u.Approvals) // the op row counts them
		if err := s.intend(ctx, id, nil, u.Events); err != nil {
			return nil, err
		}
		err = s.update(ctx, op, h, u, closing)
		if err == nil {
			if due, open := op.NextUpkeep(s.now()); !open || !due.Equal(dueBefore) {
				// When this fails, upkeep settles it once it comes due.
				_ = s.settled(ctx, op, s.now())
			}
			return op, nil
		}
		s.retract(ctx, nil, u.Events) // nothing of this attempt committed
		if status, _ := statusOf(err); status != http.StatusPreconditionFailed && status != http.StatusConflict && status != http.StatusNotFound {
			return nil, classify(err, "updating operation "+id)
		}
		if attempt >= maxUpdateAttempts {
			return nil, keyserver.Errorf(keyserver.ECONFLICT, "Operation %s is being changed by others; try again.", id)
		}
		if err := sleep(ctx, backoff(attempt)); err != nil {
			return nil, fmt.Errorf("updating operation %s: %w", id, err)
		}
	}
}

// update writes op's row under h's ETag, with u's rows and, when closing,
// the revocation of every reservation left, in one transaction.
func (s *Store) update(ctx context.Context, op *keyserver.Operation, h *opHead, u *keyserver.Update, closing bool) error {
	r, err := opRowOf(op)
	if err != nil {
		return err
	}
	var revoked []aztables.TransactionAction
	if closing {
		room := maxActions - 2 - len(u.Approvals) - len(u.Events) // the op row, audit, approvals and events
		if h, revoked, err = s.revoke(ctx, op.ID, h, room); err != nil {
			return err
		}
		r.setJSON(usesProperty, h.uses)
		for _, g := range op.Keys {
			g.UsageCount = h.uses[g.KeyID].N
		}
	}
	actions := []aztables.TransactionAction{{ActionType: aztables.TransactionTypeUpdateMerge, Entity: r.marshal(), IfMatch: &h.etag}}
	for _, a := range u.Approvals {
		if op.Grant(a.KeyID) == nil {
			return fmt.Errorf("approval for key %q, which operation %s does not name", a.KeyID, op.ID)
		}
		actions = append(actions, aztables.TransactionAction{ActionType: aztables.TransactionTypeAdd, Entity: approvalRow(op.ID, a).marshal()})
	}
	if actions, err = s.appendEvents(append(actions, revoked...), op.ID, keyserver.AuditEvent{}, u.Events); err != nil {
		return err
	}
	_, _, err = s.submitRecorded(ctx, op.ID, actions, u.Audit)
	s.ledger.forget(op.ID)
	return err
}

// addApprovals puts approvals written by an update into op, when fn did not.
func addApprovals(op *keyserver.Operation, approvals []keyserver.NewApproval) {
	for _, a := range approvals {
		g := op.Grant(a.KeyID)
		if g == nil || g.ApprovedBy(a.Approval.Approver) {
			continue
		}
		g.Approvals = append(g.Approvals, a.Approval)
		sort.SliceStable(g.Approvals, func(i, j int) bool { return g.Approvals[i].Time.Before(g.Approvals[j].Time) })
	}
}

// OperationForSigning reads the op row alone: it holds the use counts and
// the number of approvals of each grant. The row is kept for ReserveUse.
//
// An op row this process wrote or read less than reuseHead ago is used as
// it is when the operation could sign with every key then: approvals are
// never withdrawn and the grants never change, and any other change since
// (a use taken elsewhere, a fence, a closing) moved its ETag, which the
// reservation's write checks. A row that would refuse is read again.
func (s *Store) OperationForSigning(ctx context.Context, id string) (*keyserver.Operation, error) {
	if !keyserver.ValidID(id) {
		return nil, opNotFound(id)
	}
	if op := s.reusableOp(id); op != nil {
		return op, nil
	}
	e, h, err := s.readHead(ctx, id)
	if err != nil {
		return nil, err
	}
	op, counted, err := opFromRow(e, h)
	if err != nil {
		return nil, err
	}
	if !counted { // a row from before approvals were counted in it
		op, _, err = s.load(ctx, id)
	}
	return op, err
}

// reuseHead is how long a known op row serves OperationForSigning.
const reuseHead = 2 * time.Second

// reusableOp returns the operation of a recent op row that would let every
// key sign now, or nil.
func (s *Store) reusableOp(id string) *keyserver.Operation {
	h := s.ledger.of(id).current()
	if h == nil || h.entity == nil || time.Since(h.at) >= reuseHead {
		return nil
	}
	op, counted, err := opFromRow(h.entity, h)
	if err != nil || !counted || op.Status(s.now()) != keyserver.StatusApproved || h.fenced(s.now()) {
		return nil
	}
	for _, g := range op.Keys {
		if g.UsageCount >= g.MaxUsageCount {
			return nil
		}
	}
	return op
}

// load reads the op row, the approvals and the uses still reserved of an
// operation in one query: what is not reserved of the op row's count is spent.
func (s *Store) load(ctx context.Context, id string) (*keyserver.Operation, *opHead, error) {
	if !keyserver.ValidID(id) {
		return nil, nil, opNotFound(id)
	}
	filter := fmt.Sprintf("PartitionKey eq %s and RowKey ge %s and RowKey lt %s", quote(id), quote(opRow), quote(prefixEnd(reservationPrefix)))
	entities, err := queryEntities(ctx, s.ops, filter, "", "reading operation "+id)
	if err != nil {
		return nil, nil, err
	}
	if len(entities) == 0 { // the op row sorts first
		return nil, nil, opNotFound(id)
	}
	head, err := parseOpEntity(entities[0])
	if err != nil {
		return nil, nil, err
	}
	if head.RowKey != opRow {
		return nil, nil, opNotFound(id)
	}
	approvals, reserved := map[string][]keyserver.Approval{}, map[string]int{}
	for _, b := range entities[1:] {
		r, err := parseRow(b)
		if err != nil {
			return nil, nil, fmt.Errorf("reading operation %s: %w", id, err)
		}
		switch {
		case strings.HasPrefix(r.RowKey, approvalPrefix):
			k := keyIDOfRow(r.RowKey, approvalPrefix)
			approvals[k] = append(approvals[k], approvalFromRow(r))
		case strings.HasPrefix(r.RowKey, reservationPrefix):
			reserved[keyIDOfRow(r.RowKey, reservationPrefix)]++
		}
	}
	h, err := s.headWithUses(ctx, head)
	if err != nil {
		return nil, nil, err
	}
	op, _, err := opFromRow(head, h)
	if err != nil {
		return nil, nil, err
	}
	for _, g := range op.Keys {
		g.ApprovalCount = 0
		g.SpentCount = max(g.UsageCount-reserved[g.KeyID]-h.legacyReserved[g.KeyID], 0)
		if a := approvals[g.KeyID]; a != nil {
			g.Approvals = a
		}
		sort.SliceStable(g.Approvals, func(i, j int) bool { return g.Approvals[i].Time.Before(g.Approvals[j].Time) })
	}
	return op, h, nil
}

func opNotFound(id string) error {
	return keyserver.Errorf(keyserver.ENOTFOUND, "Operation %q does not exist.", id)
}

// backoff is a jittered, growing pause before retry attempt+1.
func backoff(attempt int) time.Duration {
	ceiling := min(10*time.Millisecond<<attempt, 500*time.Millisecond)
	return ceiling/4 + rand.N(ceiling*3/4)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
