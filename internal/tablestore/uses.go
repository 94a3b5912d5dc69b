package tablestore

import (
	"context"
	"math/rand/v2"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"keyserver/internal/keyserver"
)

// Use row states.
const (
	useReserved = "reserved"
	useSpent    = "used"
)

// ReserveUse inserts a use row in the first free slot, trying hint+1..maxUses and
// then 1..hint. A slot taken by someone else makes the insert fail, so
// reservations never share a slot and never pass max.
func (s *Store) ReserveUse(ctx context.Context, opID, keyID string, maxUses, hint int) (*keyserver.Reservation, error) {
	if !keyserver.ValidID(opID) {
		return nil, opNotFound(opID)
	}
	if err := keyserver.ValidateKeyID(keyID); err != nil {
		return nil, err
	}
	hint = min(max(hint, 0), maxUses)
	for _, slot := range slotOrder(maxUses, hint) {
		r := s.useRow(opID, keyID, slot, useReserved)
		resp, err := s.ops.AddEntity(ctx, r.marshal(), nil)
		if err == nil {
			return &keyserver.Reservation{OperationID: opID, KeyID: keyID, Slot: slot, Token: string(resp.ETag)}, nil
		}
		if status, _ := statusOf(err); status != http.StatusConflict {
			return nil, classify(err, "reserving a use of key "+keyID+" in operation "+opID)
		}
	}
	return nil, keyserver.Errorf(keyserver.EEXHAUSTED, "All %d uses of key %q in operation %s are spent.", maxUses, keyID, opID)
}

// slotSpread is how many free slots after the hint concurrent reservations
// spread over, so that they rarely collide on the same slot.
const slotSpread = 32

// slotOrder lists every slot 1..max once, starting at a random one of the
// first slotSpread free slots after hint and wrapping around.
func slotOrder(maxUses, hint int) []int {
	start := hint
	if free := maxUses - hint; free > 0 {
		start += rand.IntN(min(free, slotSpread))
	}
	slots := make([]int, 0, maxUses)
	for i := range maxUses {
		slots = append(slots, (start+i)%maxUses+1)
	}
	return slots
}

// CompleteUse marks the reserved use spent and writes ev, in one transaction.
func (s *Store) CompleteUse(ctx context.Context, res *keyserver.Reservation, ev keyserver.AuditEvent) error {
	etag := azcore.ETag(res.Token)
	actions := []aztables.TransactionAction{{
		ActionType: aztables.TransactionTypeUpdateReplace,
		Entity:     s.useRow(res.OperationID, res.KeyID, res.Slot, useSpent).marshal(),
		IfMatch:    &etag,
	}}
	return s.finishUse(ctx, res, actions, ev, "completing")
}

// ReleaseUse deletes the reserved use and writes ev, in one transaction.
func (s *Store) ReleaseUse(ctx context.Context, res *keyserver.Reservation, ev keyserver.AuditEvent) error {
	etag := azcore.ETag(res.Token)
	actions := []aztables.TransactionAction{{
		ActionType: aztables.TransactionTypeDelete,
		Entity:     newRow(res.OperationID, useRowKey(res.KeyID, res.Slot)).marshal(),
		IfMatch:    &etag,
	}}
	return s.finishUse(ctx, res, actions, ev, "releasing")
}

func (s *Store) finishUse(ctx context.Context, res *keyserver.Reservation, actions []aztables.TransactionAction, ev keyserver.AuditEvent, doing string) error {
	if !keyserver.ValidID(res.OperationID) || keyserver.ValidateKeyID(res.KeyID) != nil || res.Slot < 1 {
		return keyserver.Errorf(keyserver.EINVALID, "The reservation is malformed.")
	}
	actions, err := s.appendEvents(actions, res.OperationID, ev, nil)
	if err != nil {
		return err
	}
	_, err = s.ops.SubmitTransaction(ctx, actions, nil)
	if status, _ := statusOf(err); status == http.StatusPreconditionFailed || status == http.StatusNotFound {
		return keyserver.Errorf(keyserver.ECONFLICT, "Use %d of key %q in operation %s is no longer reserved.", res.Slot, res.KeyID, res.OperationID)
	}
	return classify(err, doing+" a use of key "+res.KeyID+" in operation "+res.OperationID)
}

func (s *Store) useRow(opID, keyID string, slot int, state string) *row {
	return newRow(opID, useRowKey(keyID, slot)).
		set("KeyID", keyID).
		set("Slot", int32(slot)).
		set("State", state).
		setTime("Time", s.now())
}
