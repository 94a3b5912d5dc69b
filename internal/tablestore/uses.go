package tablestore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"keyserver/internal/auditlog"
	"keyserver/internal/keyserver"
)

// How uses are kept. The op row counts, per key, the uses reserved or spent
// (N), those spent (S) and the reservations ever made (Seq). A reservation
// raises N and Seq under the op row's ETag and inserts a reservation row, in
// one transaction, so the count can never pass the maximum. Completing a use
// deletes its reservation row with the audit event and raises S under the
// ETag, so the completion that spends the operation's last use knows it and
// writes usage.exhausted with it; releasing one lowers N.
// Closing the operation deletes every reservation row left (see close.go),
// so that a use reserved before the closing can never be completed after.
// Each step reads at most the op row, whatever the number of uses.

// maxUseAttempts bounds the transactions one batch of reservations (or one
// release) tries when other processes keep changing the op row.
const maxUseAttempts = 10

// useTimeout bounds one batch; it runs apart from any one caller's context,
// since it serves several.
const useTimeout = 15 * time.Second

func reservationRowKey(keyID string, seq int) string {
	var buf [64]byte
	b := append(append(append(buf[:0], reservationPrefix...), keyID...), '~')
	return string(appendZeroPadded(b, int64(seq), 10))
}

// ReserveUse takes one use of keyID. Concurrent reservations of an operation
// in this process share one transaction.
func (s *Store) ReserveUse(ctx context.Context, opID, keyID string, maxUses int) (*keyserver.Reservation, error) {
	if !keyserver.ValidID(opID) {
		return nil, opNotFound(opID)
	}
	if err := keyserver.ValidateKeyID(keyID); err != nil {
		return nil, err
	}
	return s.queueUse(ctx, opID, &useRequest{keyID: keyID})
}

// ReleaseUse gives a reserved use back and writes ev, in one transaction.
func (s *Store) ReleaseUse(ctx context.Context, res *keyserver.Reservation, ev keyserver.AuditEvent) error {
	if err := checkReservation(res); err != nil {
		return err
	}
	_, err := s.queueUse(ctx, res.OperationID, &useRequest{keyID: res.KeyID, release: res, ev: ev})
	return err
}

// queueUse hands r to the operation's leader and waits for the answer, or
// leads: a caller that finds no leader writes its own batch (with whatever
// was queued meanwhile, which is nothing) and hands the lead on to a
// goroutine if others queued since. Batches run apart from any one caller's
// context, within useTimeout: a caller that hangs up still gets its
// reservation, which the domain then releases.
func (s *Store) queueUse(_ context.Context, opID string, r *useRequest) (*keyserver.Reservation, error) {
	r.done, r.since = make(chan struct{}), time.Now()
	ol := s.ledger.of(opID)
	if ol.enqueue(r) {
		s.runBatch(opID, ol, ol.next())
		if ol.handOn() {
			go s.lead(opID, ol)
		}
	}
	<-r.done
	return r.res, r.err
}

// lead runs batches until nobody waits.
func (s *Store) lead(opID string, ol *opLedger) {
	for batch := ol.next(); batch != nil; batch = ol.next() {
		s.runBatch(opID, ol, batch)
	}
}

func (s *Store) runBatch(opID string, ol *opLedger, batch []*useRequest) {
	ctx, cancel := context.WithTimeout(context.Background(), useTimeout)
	defer cancel()
	if batch[0].release != nil {
		batch[0].err = s.release(ctx, opID, ol, batch[0])
	} else {
		s.commit(ctx, opID, ol, batch)
	}
	finish(batch)
}

// head returns the op row ol knows, reading it when unknown.
func (s *Store) head(ctx context.Context, opID string, ol *opLedger) (*opHead, error) {
	if h := ol.current(); h != nil {
		return h, nil
	}
	_, h, err := s.readHead(ctx, opID)
	return h, err
}

// readHead reads the op row and offers it to the ledger.
func (s *Store) readHead(ctx context.Context, opID string) (*opEntity, *opHead, error) {
	v := s.ledger.version(opID)
	e, err := s.getOpRow(ctx, opID)
	if err != nil {
		return nil, nil, err
	}
	h, err := s.headWithUses(ctx, e)
	if err != nil {
		return nil, nil, err
	}
	s.ledger.offer(opID, h, v)
	return e, h, nil
}

// retryUse reports whether a transaction that failed with err, because the
// op row changed, is worth trying again, after a pause.
func (s *Store) retryUse(ctx context.Context, err error, attempt int) bool {
	status, _ := statusOf(err)
	if (status != http.StatusPreconditionFailed && status != http.StatusConflict) || attempt >= maxUseAttempts {
		return false
	}
	return sleep(ctx, backoff(attempt)) == nil
}

func useError(err error, opID string) error {
	if status, _ := statusOf(err); status == http.StatusPreconditionFailed || status == http.StatusConflict {
		return keyserver.Errorf(keyserver.ECONFLICT, "Uses of operation %s are being taken by many at once; try again.", opID)
	}
	return classify(err, "reserving a use in operation "+opID)
}

func fail(batch []*useRequest, err error) {
	for _, r := range batch {
		r.res, r.err = nil, err
	}
}

func exhausted(opID, keyID string, maxUses int) error {
	return keyserver.Errorf(keyserver.EEXHAUSTED, "All %d uses of key %q in operation %s are spent.", maxUses, keyID, opID)
}

// release deletes the reservation row, lowers N and writes the event.
func (s *Store) release(ctx context.Context, opID string, ol *opLedger, r *useRequest) error {
	listed := false
	for attempt := 1; ; attempt++ {
		h, err := s.head(ctx, opID, ol)
		if err != nil {
			return err
		}
		if !h.open { // closing deleted every reservation row
			return keyserver.Errorf(keyserver.ECLOSED, "Operation %s was closed while use %d of key %q was reserved; the use was revoked.", opID, r.release.Seq, r.keyID)
		}
		if !s.Unchained && !listed && !s.knownOpen(opID) {
			// The HSM call may have outlived the operation's expiry: list
			// its chain before the record (sealindex.go).
			if err := s.markChain(ctx, auditlog.OperationChain(opID)); err != nil {
				return err
			}
			listed = true
		}
		next := h.clone()
		u := next.uses[r.keyID]
		u.N = max(u.N-1, 0)
		next.uses[r.keyID] = u
		actions := []aztables.TransactionAction{
			{ActionType: aztables.TransactionTypeDelete, Entity: newRow(opID, reservationRowKey(r.keyID, r.release.Seq)).marshal()},
			{ActionType: aztables.TransactionTypeUpdateMerge, Entity: next.usesRow(opID).marshal(), IfMatch: &h.etag},
		}
		etags, _, err := s.submitRecorded(ctx, opID, actions, r.ev)
		if err == nil {
			next.etag, next.at = etags[1], time.Now()
			if next.etag == "" {
				next = nil
			}
			ol.set(next)
			return nil
		}
		ol.set(nil)
		if i, status := failedAction(err); i == 0 && status == http.StatusNotFound {
			return s.notHeld(ctx, r.release)
		}
		if !s.retryUse(ctx, err, attempt) {
			return useError(err, opID)
		}
	}
}

// CompleteUse deletes the reservation row and writes ev, in one
// transaction. Concurrent completions and reservations of an operation in
// this process share one transaction. A caller already gone completes
// nothing: the domain then gives the use back.
func (s *Store) CompleteUse(ctx context.Context, res *keyserver.Reservation, ev keyserver.AuditEvent) error {
	_, err := s.CompleteUseNoting(ctx, res, ev, nil)
	return err
}

// CompleteUseNoting is CompleteUse that also counts the use spent in the op
// row and, when that spends the operation's last use, notes its exhaustion
// in the same transaction (keyserver.ExhaustingCompleter).
func (s *Store) CompleteUseNoting(ctx context.Context, res *keyserver.Reservation, ev keyserver.AuditEvent, noted func(*keyserver.Operation) *keyserver.Update) ([]*keyserver.Event, error) {
	if err := checkReservation(res); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("completing a use of key %s in operation %s: %w", res.KeyID, res.OperationID, err)
	}
	r := &useRequest{keyID: res.KeyID, complete: res, ev: ev, noted: noted}
	_, err := s.queueUse(ctx, res.OperationID, r)
	return r.events, err
}

// notHeld explains a reservation whose row is gone: revoked by closing the
// operation, or already completed or released.
func (s *Store) notHeld(ctx context.Context, res *keyserver.Reservation) error {
	e, err := s.getOpRow(ctx, res.OperationID)
	if err != nil {
		return err
	}
	if !e.Open {
		return keyserver.Errorf(keyserver.ECLOSED, "Operation %s was closed while use %d of key %q was reserved; the use was revoked.", res.OperationID, res.Seq, res.KeyID)
	}
	return keyserver.Errorf(keyserver.ECONFLICT, "Use %d of key %q in operation %s is no longer reserved.", res.Seq, res.KeyID, res.OperationID)
}

// nonce is a random value that tells one row from another written alike.
func nonce() string { return strconv.FormatUint(rand.Uint64(), 36) }

func checkReservation(res *keyserver.Reservation) error {
	if !keyserver.ValidID(res.OperationID) || keyserver.ValidateKeyID(res.KeyID) != nil || res.Seq < 1 {
		return keyserver.Errorf(keyserver.EINVALID, "The reservation is malformed.")
	}
	return nil
}

func (s *Store) reservationRow(res *keyserver.Reservation) *row {
	return newRow(res.OperationID, reservationRowKey(res.KeyID, res.Seq)).
		set("KeyID", res.KeyID).
		set("Seq", int32(res.Seq)).
		setTime("Time", s.now()).
		set("Txn", nonce()) // tells this row from one another process could have added instead
}

// getOpRow reads the op row alone.
func (s *Store) getOpRow(ctx context.Context, opID string) (*opEntity, error) {
	b, err := s.wire.get(ctx, s.names[2], opID, opRow)
	if isNotFound(err) {
		return nil, opNotFound(opID)
	}
	if err != nil {
		return nil, classify(err, "reading operation "+opID)
	}
	return parseOpEntity(b)
}

// headWithUses parses the head of an op row. For a row written before uses
// (or spent uses) were counted in it, the use (or reservation) rows of that
// time are counted once: the next write of the counts keeps them.
func (s *Store) headWithUses(ctx context.Context, e *opEntity) (*opHead, error) {
	h, err := headOf(e)
	if err != nil || (!h.legacy && !h.spentUnknown) {
		return h, err
	}
	if !h.legacy {
		return h, s.countSpent(ctx, e.PartitionKey, h)
	}
	rows, err := querySelect(ctx, s.ops, rangeFilter(e.PartitionKey, usePrefix), "RowKey,State", "counting the uses of operation "+e.PartitionKey)
	if err != nil {
		return nil, err
	}
	for k := range h.max {
		h.uses[k] = useCount{}
	}
	h.legacyReserved = map[string]int{}
	for _, u := range rows {
		k := keyIDOfRow(u.RowKey, usePrefix)
		c := h.uses[k]
		c.N++
		if u.str("State") != "used" {
			h.legacyReserved[k]++
		} else {
			c.S++
		}
		h.uses[k] = c
	}
	return h, nil
}

// countSpent sets the spent counts of h, whose row keeps none yet: the uses
// counted less those still reserved.
func (s *Store) countSpent(ctx context.Context, opID string, h *opHead) error {
	rows, err := querySelect(ctx, s.ops, rangeFilter(opID, reservationPrefix), "RowKey", "counting the reservations of operation "+opID)
	if err != nil {
		return err
	}
	reserved := map[string]int{}
	for _, r := range rows {
		reserved[keyIDOfRow(r.RowKey, reservationPrefix)]++
	}
	for k, u := range h.uses {
		u.S = max(u.N-reserved[k], 0)
		h.uses[k] = u
	}
	h.spentUnknown = false
	return nil
}
