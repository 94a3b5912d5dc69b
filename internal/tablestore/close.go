package tablestore

import (
	"context"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"keyserver/internal/keyserver"
)

// Closing an operation (rejecting or cancelling it) must revoke every use
// reserved before it commits, so that no signature the HSM is making then is
// handed out. It takes two writes:
//
//  1. the fence: the op row gets a Closing time, written whatever its ETag,
//     so that a stream of reservations cannot starve the closer. A
//     reservation that read the row before fails its own write (the ETag
//     moved) and then sees the fence; none is made while it stands.
//  2. the closing itself, under the ETag read behind the fence: the op row,
//     the audit event, the notification and the deletion of every
//     reservation row left, in one transaction. A use completed before it
//     commits deleted its own row (the closing retries); one completed
//     after finds its row gone and gets ECLOSED.
//
// A closer that dies between the two leaves a fence that lapses after
// closeFence.

// closeFence is how long a fence holds reservations off.
const closeFence = 15 * time.Second

// maxActions is the most actions an entity-group transaction takes.
const maxActions = 100

// fence writes the Closing time into the op row of operation id.
func (s *Store) fence(ctx context.Context, id string) error {
	r := newRow(id, opRow).setTime(closingProperty, s.now().Add(closeFence))
	whatever := azcore.ETagAny
	_, err := s.ops.UpdateEntity(ctx, r.marshal(), &aztables.UpdateEntityOptions{UpdateMode: aztables.UpdateModeMerge, IfMatch: &whatever})
	s.ledger.forget(id)
	if isNotFound(err) {
		return opNotFound(id)
	}
	return classify(err, "fencing operation "+id+" for closing")
}

// revoke lists the reservation rows of operation id and returns the
// deletions of up to room of them, with the head whose counts leave them out
// (under the ETag to write it with). Rows beyond room are deleted first, in
// transactions of their own that lower the counts as they go.
func (s *Store) revoke(ctx context.Context, id string, h *opHead, room int) (*opHead, []aztables.TransactionAction, error) {
	rows, err := querySelect(ctx, s.ops, rangeFilter(id, reservationPrefix), "RowKey", "reading the reservations of operation "+id)
	if err != nil {
		return nil, nil, err
	}
	for len(rows) > room {
		n := min(len(rows)-room, maxActions-1)
		next, dels := without(id, h, rows[:n])
		etags, err := s.submit(ctx, append([]aztables.TransactionAction{{ActionType: aztables.TransactionTypeUpdateMerge, Entity: next.usesRow(id).marshal(), IfMatch: &h.etag}}, dels...))
		if err != nil {
			return nil, nil, err
		}
		if next.etag = etags[0]; next.etag == "" {
			return nil, nil, keyserver.Errorf(keyserver.EUNAVAILABLE, "Table Storage did not say what it wrote while revoking the uses of operation %s.", id)
		}
		h, rows = next, rows[n:]
	}
	next, dels := without(id, h, rows)
	next.etag = h.etag
	return next, dels, nil
}

// without returns h with the reservations of rows taken off its counts and
// the deletions of those rows.
func without(id string, h *opHead, rows []*row) (*opHead, []aztables.TransactionAction) {
	next := h.clone()
	dels := make([]aztables.TransactionAction, len(rows))
	for i, r := range rows {
		k := keyIDOfRow(r.RowKey, reservationPrefix)
		u := next.uses[k]
		u.N = max(u.N-1, 0)
		next.uses[k] = u
		dels[i] = aztables.TransactionAction{ActionType: aztables.TransactionTypeDelete, Entity: newRow(id, r.RowKey).marshal()}
	}
	return next, dels
}
