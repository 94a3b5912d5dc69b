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

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"keyserver/internal/keyserver"
)

// maxUpdateAttempts bounds UpdateOperation's optimistic retries.
const maxUpdateAttempts = 8

// grantRow is what the op row keeps of a grant; approvals and uses are rows of their own.
type grantRow struct {
	KeyID             string `json:"keyid"`
	MaxUsageCount     int    `json:"maxusagecount"`
	RequiredApprovals int    `json:"requiredapprovals"`
	HSMKey            string `json:"hsmkey,omitempty"`
}

// closureRow is how the op row keeps a rejection or cancellation.
type closureRow struct {
	By struct {
		Issuer  string         `json:"issuer"`
		Subject string         `json:"subject"`
		Kind    keyserver.Kind `json:"kind"` // absent (an app) in rows written before people
	} `json:"by"`
	Time   time.Time `json:"time"`
	Reason string    `json:"reason,omitempty"`
}

func closureRowOf(c *keyserver.Closure) closureRow {
	var r closureRow
	r.By.Issuer, r.By.Subject, r.By.Kind, r.Time, r.Reason = c.By.Issuer, c.By.Subject, c.By.Kind, c.Time, c.Reason
	return r
}

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
	actions := []aztables.TransactionAction{{ActionType: aztables.TransactionTypeAdd, Entity: r.marshal()}}
	actions, err = s.appendEvents(actions, op.ID, ev, evs)
	if err != nil {
		return err
	}
	due, _ := op.NextUpkeep(op.Created)
	index := []*row{openRow(op, due), createdRow(op)}
	if err := s.intend(ctx, op.ID, index, evs); err != nil {
		return err
	}
	_, err = s.ops.SubmitTransaction(ctx, actions, nil)
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
// notification in one transaction, retrying when another writer won.
func (s *Store) UpdateOperation(ctx context.Context, id string, fn func(*keyserver.Operation) (*keyserver.Update, error)) (*keyserver.Operation, error) {
	for attempt := 1; ; attempt++ {
		op, etag, err := s.load(ctx, id)
		if err != nil {
			return nil, err
		}
		dueBefore, _ := op.NextUpkeep(s.now())
		u, err := fn(op)
		if err != nil {
			return nil, err
		}
		if u == nil {
			u = &keyserver.Update{}
		}
		actions, err := s.updateActions(op, etag, u)
		if err != nil {
			return nil, err
		}
		if err := s.intend(ctx, id, nil, u.Events); err != nil {
			return nil, err
		}
		_, err = s.ops.SubmitTransaction(ctx, actions, nil)
		if err == nil {
			addApprovals(op, u.Approvals)
			if due, open := op.NextUpkeep(s.now()); !open || !due.Equal(dueBefore) {
				// When this fails, upkeep settles it once it comes due.
				_ = s.settled(ctx, op, s.now())
			}
			return op, nil
		}
		s.retract(ctx, nil, u.Events) // nothing of this attempt committed
		if status, _ := statusOf(err); status != http.StatusPreconditionFailed && status != http.StatusConflict {
			return nil, classify(err, "updating operation "+id)
		}
		if attempt == maxUpdateAttempts {
			return nil, keyserver.Errorf(keyserver.ECONFLICT, "Operation %s is being changed by others; try again.", id)
		}
		if err := sleep(ctx, backoff(attempt)); err != nil {
			return nil, fmt.Errorf("updating operation %s: %w", id, err)
		}
	}
}

func (s *Store) updateActions(op *keyserver.Operation, etag azcore.ETag, u *keyserver.Update) ([]aztables.TransactionAction, error) {
	r, err := opRowOf(op)
	if err != nil {
		return nil, err
	}
	actions := []aztables.TransactionAction{{ActionType: aztables.TransactionTypeUpdateReplace, Entity: r.marshal(), IfMatch: &etag}}
	for _, a := range u.Approvals {
		if op.Grant(a.KeyID) == nil {
			return nil, fmt.Errorf("approval for key %q, which operation %s does not name", a.KeyID, op.ID)
		}
		actions = append(actions, aztables.TransactionAction{ActionType: aztables.TransactionTypeAdd, Entity: approvalRow(op.ID, a).marshal()})
	}
	return s.appendEvents(actions, op.ID, u.Audit, u.Events)
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

// OperationForSigning loads an operation and its approvals but not its
// uses, which ReserveUse finds itself: every UsageCount is 0.
func (s *Store) OperationForSigning(ctx context.Context, id string) (*keyserver.Operation, error) {
	op, _, err := s.loadRange(ctx, id, prefixEnd(approvalPrefix))
	return op, err
}

// load reads the op row, approvals and uses of an operation (its row keys
// starting with "op"), in one query.
func (s *Store) load(ctx context.Context, id string) (*keyserver.Operation, azcore.ETag, error) {
	return s.loadRange(ctx, id, prefixEnd(opRow))
}

// loadRange reads the operation's rows from the op row up to (not
// including) the row key upper.
func (s *Store) loadRange(ctx context.Context, id, upper string) (*keyserver.Operation, azcore.ETag, error) {
	if !keyserver.ValidID(id) {
		return nil, "", opNotFound(id)
	}
	filter := fmt.Sprintf("PartitionKey eq %s and RowKey ge %s and RowKey lt %s", quote(id), quote(opRow), quote(upper))
	rows, err := queryAll(ctx, s.ops, filter, "reading operation "+id)
	if err != nil {
		return nil, "", err
	}
	var head *row
	approvals := map[string][]keyserver.Approval{}
	uses, spent := map[string]int{}, map[string]int{}
	for _, r := range rows {
		switch {
		case r.RowKey == opRow:
			head = r
		case strings.HasPrefix(r.RowKey, approvalPrefix):
			k := keyIDOfRow(r.RowKey, approvalPrefix)
			approvals[k] = append(approvals[k], approvalFromRow(r))
		case strings.HasPrefix(r.RowKey, usePrefix):
			k := keyIDOfRow(r.RowKey, usePrefix)
			uses[k]++
			if r.str("State") == useSpent {
				spent[k]++
			}
		}
	}
	if head == nil {
		return nil, "", opNotFound(id)
	}
	op, err := opFromRow(head)
	if err != nil {
		return nil, "", err
	}
	for _, g := range op.Keys {
		g.Approvals = approvals[g.KeyID]
		if g.Approvals == nil {
			g.Approvals = []keyserver.Approval{}
		}
		sort.SliceStable(g.Approvals, func(i, j int) bool { return g.Approvals[i].Time.Before(g.Approvals[j].Time) })
		g.UsageCount, g.SpentCount = uses[g.KeyID], spent[g.KeyID]
	}
	return op, azcore.ETag(head.ETag), nil
}

func opNotFound(id string) error {
	return keyserver.Errorf(keyserver.ENOTFOUND, "Operation %q does not exist.", id)
}

func opRowOf(op *keyserver.Operation) (*row, error) {
	grants := make([]grantRow, len(op.Keys))
	for i, g := range op.Keys {
		if err := keyserver.ValidateKeyID(g.KeyID); err != nil {
			return nil, err
		}
		grants[i] = grantRow{KeyID: g.KeyID, MaxUsageCount: g.MaxUsageCount, RequiredApprovals: g.RequiredApprovals, HSMKey: g.HSMKey}
	}
	r := newRow(op.ID, opRow).
		setPrincipal("Requester", op.Requester).
		set("Description", op.Description).
		setTime("Created", op.Created).
		setTime("Expires", op.Expires).
		setJSON("Keys", grants).
		set("Open", !op.Closed()).
		set("Reminded", op.Reminded).
		set("ExpiryNoted", op.ExpiryNoted).
		set("ExhaustedNoted", op.ExhaustedNoted)
	if op.Rejected != nil {
		r.setJSON("Rejected", closureRowOf(op.Rejected))
	}
	if op.Cancelled != nil {
		r.setJSON("Cancelled", closureRowOf(op.Cancelled))
	}
	if op.BuildContext != nil {
		r.setJSON("BuildContext", buildContextRowOf(op.BuildContext))
	}
	return r, nil
}

func opFromRow(r *row) (*keyserver.Operation, error) {
	op := &keyserver.Operation{
		ID:             r.PartitionKey,
		Requester:      r.principal("Requester"),
		Description:    r.str("Description"),
		Created:        r.time("Created"),
		Expires:        r.time("Expires"),
		Reminded:       r.flag("Reminded"),
		ExpiryNoted:    r.flag("ExpiryNoted"),
		ExhaustedNoted: r.flag("ExhaustedNoted"),
	}
	var grants []grantRow
	if err := r.json("Keys", &grants); err != nil {
		return nil, err
	}
	for _, g := range grants {
		op.Keys = append(op.Keys, &keyserver.KeyGrant{KeyID: g.KeyID, MaxUsageCount: g.MaxUsageCount, RequiredApprovals: g.RequiredApprovals, HSMKey: g.HSMKey})
	}
	if r.str("BuildContext") != "" {
		var bc buildContextRow
		if err := r.json("BuildContext", &bc); err != nil {
			return nil, err
		}
		op.BuildContext = bc.domain()
	}
	for name, c := range map[string]**keyserver.Closure{"Rejected": &op.Rejected, "Cancelled": &op.Cancelled} {
		if r.str(name) == "" {
			continue
		}
		var cr closureRow
		if err := r.json(name, &cr); err != nil {
			return nil, err
		}
		*c = &keyserver.Closure{By: keyserver.Principal{Issuer: cr.By.Issuer, Subject: cr.By.Subject, Kind: cr.By.Kind}, Time: cr.Time, Reason: cr.Reason}
	}
	return op, nil
}

func approvalRow(opID string, a keyserver.NewApproval) *row {
	return newRow(opID, approvalRowKey(a.KeyID, a.Approval.Approver)).
		set("KeyID", a.KeyID).
		setPrincipal("Approver", a.Approval.Approver).
		set("Name", a.Approval.Name).
		setTime("Time", a.Approval.Time).
		set("Comment", a.Approval.Comment)
}

func approvalFromRow(r *row) keyserver.Approval {
	return keyserver.Approval{
		Approver: r.principal("Approver"),
		Name:     r.str("Name"),
		Time:     r.time("Time"),
		Comment:  r.str("Comment"),
	}
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
