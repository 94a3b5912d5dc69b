package tablestore

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"keyserver/internal/keyserver"
)

// Use row states.
const (
	useReserved = "reserved"
	useSpent    = "used"
)

// ReserveUse inserts a use row in a free slot. The slots this process knows
// to be taken are skipped; a slot taken by someone else makes the insert
// fail, so reservations never share a slot and never pass maxUses. The use
// rows are read again when no slot looks free or other instances took
// several; EEXHAUSTED comes only when none is free in rows read since the
// call began. hint is not needed: the store remembers the slots.
func (s *Store) ReserveUse(ctx context.Context, opID, keyID string, maxUses, hint int) (*keyserver.Reservation, error) {
	if !keyserver.ValidID(opID) {
		return nil, opNotFound(opID)
	}
	if err := keyserver.ValidateKeyID(keyID); err != nil {
		return nil, err
	}
	if maxUses < 1 {
		return nil, exhausted(opID, keyID, maxUses)
	}
	st := s.slots.state(opID, keyID, maxUses)
	gen := s.slots.generation(st)
	conflicts := 0
	for attempt := 0; attempt <= 2*maxUses; attempt++ {
		fresh := s.slots.generation(st) != gen
		if !fresh && (gen == 0 || conflicts == conflictsBeforeReading) {
			if err := s.loadSlots(ctx, opID, keyID, st, gen); err != nil {
				return nil, err
			}
			fresh = true
		}
		slot := s.slots.claim(st)
		if slot == 0 {
			if fresh {
				return nil, exhausted(opID, keyID, maxUses)
			}
			if err := s.loadSlots(ctx, opID, keyID, st, gen); err != nil {
				return nil, err
			}
			continue
		}
		r := s.useRow(opID, keyID, slot, useReserved)
		resp, err := s.ops.AddEntity(ctx, r.marshal(), nil)
		if err == nil {
			s.slots.set(st, slot, slotTaken)
			return &keyserver.Reservation{OperationID: opID, KeyID: keyID, Slot: slot, Token: string(resp.ETag)}, nil
		}
		if status, _ := statusOf(err); status != http.StatusConflict {
			s.slots.set(st, slot, slotFree)
			return nil, classify(err, "reserving a use of key "+keyID+" in operation "+opID)
		}
		s.slots.set(st, slot, slotTaken) // by another instance
		conflicts++
	}
	return nil, keyserver.Errorf(keyserver.ECONFLICT, "Uses of key %q in operation %s are being reserved by many at once; try again.", keyID, opID)
}

// conflictsBeforeReading is how many slots found taken by other instances
// make ReserveUse read the use rows again rather than try more.
const conflictsBeforeReading = 4

func exhausted(opID, keyID string, maxUses int) error {
	return keyserver.Errorf(keyserver.EEXHAUSTED, "All %d uses of key %q in operation %s are spent.", maxUses, keyID, opID)
}

// loadSlots reads the taken slots into st unless another caller did so
// since st was at generation gen.
func (s *Store) loadSlots(ctx context.Context, opID, keyID string, st *slotState, gen int) error {
	st.loadMu.Lock()
	defer st.loadMu.Unlock()
	if s.slots.generation(st) != gen {
		return nil
	}
	taken, err := s.takenSlots(ctx, opID, keyID)
	if err != nil {
		return err
	}
	s.slots.load(st, taken)
	return nil
}

// takenSlots reads the slots of keyID's use rows in operation opID.
func (s *Store) takenSlots(ctx context.Context, opID, keyID string) ([]int, error) {
	prefix := usePrefix + keyID + "~"
	rows, err := querySelect(ctx, s.ops, rangeFilter(opID, prefix), "RowKey", "reading the uses of key "+keyID+" in operation "+opID)
	if err != nil {
		return nil, err
	}
	slots := make([]int, 0, len(rows))
	for _, r := range rows {
		if n, err := strconv.Atoi(strings.TrimPrefix(r.RowKey, prefix)); err == nil {
			slots = append(slots, n)
		}
	}
	return slots, nil
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

// FreeUses tells, without I/O, how many uses of keyID in operation opID this
// process believes free (keyserver.FreeUseHinter): the slots it has not seen
// taken since it last read the use rows.
func (s *Store) FreeUses(opID, keyID string) (int, bool) {
	st := s.slots.lookup(opID, keyID)
	if st == nil || s.slots.generation(st) == 0 {
		return 0, false
	}
	return s.slots.free(st), true
}

// ReleaseUse deletes the reserved use and writes ev, in one transaction.
func (s *Store) ReleaseUse(ctx context.Context, res *keyserver.Reservation, ev keyserver.AuditEvent) error {
	etag := azcore.ETag(res.Token)
	actions := []aztables.TransactionAction{{
		ActionType: aztables.TransactionTypeDelete,
		Entity:     newRow(res.OperationID, useRowKey(res.KeyID, res.Slot)).marshal(),
		IfMatch:    &etag,
	}}
	if err := s.finishUse(ctx, res, actions, ev, "releasing"); err != nil {
		return err
	}
	s.slots.set(s.slots.lookup(res.OperationID, res.KeyID), res.Slot, slotFree)
	return nil
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
