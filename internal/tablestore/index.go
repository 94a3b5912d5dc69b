package tablestore

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"keyserver/internal/events"
	"keyserver/internal/keyserver"
)

// The index partition of the operations table holds one row per piece of
// pending work, so that upkeep and the pending list read the work, never the
// history:
//
//	o~<operation id>            an open operation: Due (its next upkeep), Expires, KeyIDs
//	u~<event id>                an event not yet published: OpID, Time
//	d~<finished time>~<op id>   a finished operation, until retention deletes it
//	c~<created time>~<op id>    an operation, for the listings of recent ones (KeyIDs)
//
// A change's index rows cannot share its transaction (another partition),
// so they are written first, as intents: an operation or event that then
// fails to commit leaves an index row that points at nothing, which readers
// skip and upkeep removes once it is older than orphanGrace. The other way
// round, a committed change whose index rows were lost, cannot happen.
const (
	indexPartition = "~idx"
	openPrefix     = "o~"
	unsentPrefix   = "u~"
	donePrefix     = "d~"
	createdPrefix  = "c~"
	// orphanGrace is how old an index row pointing at nothing must be
	// before it is removed: a transaction in flight is never that slow.
	orphanGrace = 10 * time.Minute
	// maxBatch is the most an entity-group transaction holds.
	maxBatch = 100
)

var _ keyserver.UpkeepStore = (*Store)(nil)

func eventRow(pk string, e *keyserver.Event) (*row, error) {
	if e.ID == "" {
		e.ID = keyserver.NewID()
	}
	if !safeKeyPart.MatchString(e.ID) {
		return nil, fmt.Errorf("event id %q is not usable in a row key", e.ID)
	}
	body, err := json.Marshal(events.FromDomain(e))
	if err != nil {
		return nil, fmt.Errorf("encoding event %s: %w", e.ID, err)
	}
	return newRow(pk, eventPrefix+e.ID).set("Type", e.Type).setTime("Time", e.Time).set("Event", string(body)), nil
}

func eventFromRow(r *row) (*keyserver.Event, error) {
	var b events.Body
	if err := json.Unmarshal([]byte(r.str("Event")), &b); err != nil {
		return nil, fmt.Errorf("decoding event row %s/%s: %w", r.PartitionKey, r.RowKey, err)
	}
	return b.Domain(), nil
}

// openRow is the index row of an open operation, due for upkeep at due.
func openRow(op *keyserver.Operation, due time.Time) *row {
	ids := make([]string, len(op.Keys))
	for i, g := range op.Keys {
		ids[i] = g.KeyID
	}
	return newRow(indexPartition, openPrefix+op.ID).setTime("Due", due).setTime("Expires", op.Expires).
		set("KeyIDs", strings.Join(ids, ","))
}

func doneRowKey(id string, at time.Time) string {
	return donePrefix + at.UTC().Format(auditTimeLayout) + "~" + id
}

func createdRowKey(id string, at time.Time) string {
	return createdPrefix + at.UTC().Format(auditTimeLayout) + "~" + id
}

// createdRow is the index row of an operation in the listings of recent ones.
func createdRow(op *keyserver.Operation) *row {
	r := openRow(op, op.Created)
	r.RowKey = createdRowKey(op.ID, op.Created)
	delete(r.Properties, "Due")
	return r
}

// unsentRow is the index row of an event not yet published; seq orders the
// events of one change, which share their time.
func unsentRow(e *keyserver.Event, seq int, opID string, now time.Time) *row {
	return newRow(indexPartition, unsentPrefix+e.ID).set("OpID", opID).setTime("Time", e.Time).
		set("Seq", int32(seq)).setTime("Written", now)
}

// intend writes the index rows of a change before its transaction: those
// of a new operation (open and created) and one row per event.
func (s *Store) intend(ctx context.Context, opID string, rows []*row, evs []*keyserver.Event) error {
	var actions []aztables.TransactionAction
	for _, r := range rows {
		actions = append(actions, upsert(r))
	}
	for i, e := range evs {
		if e.ID == "" {
			e.ID = keyserver.NewID()
		}
		actions = append(actions, upsert(unsentRow(e, i, opID, s.now())))
	}
	return s.submitAll(ctx, actions, "recording the index rows of operation "+opID)
}

// retract removes the intents of a change whose transaction failed; what it
// cannot remove, upkeep removes later.
func (s *Store) retract(ctx context.Context, rows []*row, evs []*keyserver.Event) {
	keys := make([]string, 0, len(evs)+len(rows))
	for _, r := range rows {
		keys = append(keys, r.RowKey)
	}
	for _, e := range evs {
		keys = append(keys, unsentPrefix+e.ID)
	}
	_ = s.deleteIndexRows(context.WithoutCancel(ctx), keys)
}

func upsert(r *row) aztables.TransactionAction {
	return aztables.TransactionAction{ActionType: aztables.TransactionTypeInsertReplace, Entity: r.marshal()}
}

func (s *Store) submitAll(ctx context.Context, actions []aztables.TransactionAction, doing string) error {
	for len(actions) > 0 {
		n := min(len(actions), maxBatch)
		if _, err := s.ops.SubmitTransaction(ctx, actions[:n], nil); err != nil {
			return classify(err, doing)
		}
		actions = actions[n:]
	}
	return nil
}

// deleteIndexRows deletes index rows, those already gone included.
func (s *Store) deleteIndexRows(ctx context.Context, keys []string) error {
	for _, k := range keys {
		_, err := s.ops.DeleteEntity(ctx, indexPartition, k, nil)
		if err != nil && !isNotFound(err) {
			return classify(err, "removing index row "+k)
		}
	}
	return nil
}

// MarkPublished removes the unsent rows of events that reached the topic.
func (s *Store) MarkPublished(ctx context.Context, opID string, ids []string) error {
	keys := make([]string, 0, len(ids))
	for _, id := range ids {
		if !safeKeyPart.MatchString(id) {
			return keyserver.Errorf(keyserver.EINVALID, "Event id %q is malformed.", id)
		}
		keys = append(keys, unsentPrefix+id)
	}
	return s.deleteIndexRows(ctx, keys)
}

// settled brings the index rows of op in line with it after a change that
// committed: a finished operation moves from the open rows to the done rows,
// an open one gets its next due time.
func (s *Store) settled(ctx context.Context, op *keyserver.Operation, now time.Time) error {
	if at, done := op.Finished(); done {
		// The chain's s~ row rides with the d~ row: it lists the chain for
		// sealing once the o~ row is gone (sealindex.go).
		d := newRow(indexPartition, doneRowKey(op.ID, at)).set("OpID", op.ID)
		if _, err := s.ops.SubmitTransaction(ctx, []aztables.TransactionAction{upsert(d), upsert(operationChainRow(op.ID))}, nil); err != nil {
			return classify(err, "recording that operation "+op.ID+" finished")
		}
		return s.deleteIndexRows(ctx, []string{openPrefix + op.ID})
	}
	due, _ := op.NextUpkeep(now)
	_, err := s.ops.UpsertEntity(ctx, openRow(op, due).marshal(), &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace})
	return classify(err, "recording when operation "+op.ID+" is due")
}

// Settle brings the index rows of operation id in line with it; an open
// row of an operation that does not exist goes once older than orphanGrace.
func (s *Store) Settle(ctx context.Context, id string, now time.Time) error {
	op, _, err := s.load(ctx, id)
	if keyserver.ErrorCode(err) == keyserver.ENOTFOUND {
		resp, err := s.ops.GetEntity(ctx, indexPartition, openPrefix+id, nil)
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return classify(err, "reading the index row of operation "+id)
		}
		if r, err := parseRow(resp.Value); err == nil && s.now().Sub(time.Time(r.Timestamp)) < orphanGrace {
			return nil // its transaction may still be in flight
		}
		return s.deleteIndexRows(ctx, []string{openPrefix + id})
	}
	if err != nil {
		return err
	}
	return s.settled(ctx, op, now)
}

// DueOperations returns the open operations due for upkeep at now. It reads
// the open index rows only.
func (s *Store) DueOperations(ctx context.Context, now time.Time, limit int) ([]string, error) {
	filter := rangeFilter(indexPartition, openPrefix) + " and Due le " + filterTime(now)
	rows, err := querySelect(ctx, s.ops, filter, "RowKey,Due", "reading the operations due for upkeep")
	if err != nil {
		return nil, err
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].time("Due").Before(rows[j].time("Due")) })
	ids := make([]string, 0, min(len(rows), limit))
	for _, r := range rows[:min(len(rows), limit)] {
		ids = append(ids, strings.TrimPrefix(r.RowKey, openPrefix))
	}
	return ids, nil
}

// UnsentEvents returns the events committed and not yet published, written
// before before, oldest first. It reads the unsent index rows and the event
// rows they point at; an index row whose event never committed is skipped,
// and removed once older than orphanGrace.
func (s *Store) UnsentEvents(ctx context.Context, before time.Time, limit int) ([]*keyserver.Event, error) {
	filter := rangeFilter(indexPartition, unsentPrefix) + " and Time lt " + filterTime(before)
	rows, err := queryAll(ctx, s.ops, filter, "reading the unsent events")
	if err != nil {
		return nil, err
	}
	sort.Slice(rows, func(i, j int) bool {
		if ti, tj := rows[i].time("Time"), rows[j].time("Time"); !ti.Equal(tj) {
			return ti.Before(tj)
		}
		return rows[i].num("Seq") < rows[j].num("Seq")
	})
	var out []*keyserver.Event
	for _, r := range rows {
		if len(out) == limit {
			break
		}
		id := strings.TrimPrefix(r.RowKey, unsentPrefix)
		resp, err := s.ops.GetEntity(ctx, r.str("OpID"), eventPrefix+id, nil)
		if isNotFound(err) {
			if s.now().Sub(r.time("Written")) > orphanGrace {
				_ = s.deleteIndexRows(ctx, []string{r.RowKey})
			}
			continue
		}
		if err != nil {
			return nil, classify(err, "reading event "+id)
		}
		er, err := parseRow(resp.Value)
		if err != nil {
			return nil, err
		}
		ev, err := eventFromRow(er)
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, nil
}

// FinishedBefore returns the operations that finished before cutoff, oldest
// first: a range of the done index rows.
func (s *Store) FinishedBefore(ctx context.Context, cutoff time.Time, limit int) ([]keyserver.Finished, error) {
	filter := fmt.Sprintf("PartitionKey eq %s and RowKey ge %s and RowKey lt %s", quote(indexPartition), quote(donePrefix), quote(donePrefix+cutoff.UTC().Format(auditTimeLayout)))
	opts := &aztables.ListEntitiesOptions{Filter: &filter, Top: ptrInt32(int32(limit))}
	page, err := s.ops.NewListEntitiesPager(opts).NextPage(ctx)
	if err != nil {
		return nil, classify(err, "reading the finished operations")
	}
	var out []keyserver.Finished
	for _, b := range page.Entities {
		r, err := parseRow(b)
		if err != nil {
			return nil, err
		}
		rest := strings.TrimPrefix(r.RowKey, donePrefix)
		stamp, id, _ := strings.Cut(rest, "~")
		at, err := time.Parse(auditTimeLayout, stamp)
		if err != nil {
			return nil, fmt.Errorf("index row %s: %w", r.RowKey, err)
		}
		out = append(out, keyserver.Finished{ID: id, At: at})
	}
	return out, nil
}

// DeleteOperation deletes every row of a finished operation but its audit
// events, events and deliveries (the x~ rows), then its done index row.
func (s *Store) DeleteOperation(ctx context.Context, f keyserver.Finished) error {
	if !keyserver.ValidID(f.ID) {
		return opNotFound(f.ID)
	}
	filter := fmt.Sprintf("PartitionKey eq %s and RowKey lt %s", quote(f.ID), quote("x~"))
	rows, err := querySelect(ctx, s.ops, filter, "RowKey,Created", "reading the rows of operation "+f.ID)
	if err != nil {
		return err
	}
	index := []string{doneRowKey(f.ID, f.At)}
	for _, r := range rows {
		if r.RowKey == opRow {
			index = append(index, createdRowKey(f.ID, r.time("Created")))
		}
	}
	// The op row goes last, so that a deletion cut short is found again.
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].RowKey != opRow && rows[j].RowKey == opRow })
	var actions []aztables.TransactionAction
	for _, r := range rows {
		etag := azcore.ETagAny
		actions = append(actions, aztables.TransactionAction{ActionType: aztables.TransactionTypeDelete,
			Entity: newRow(f.ID, r.RowKey).marshal(), IfMatch: &etag})
	}
	if err := s.submitAll(ctx, actions, "deleting operation "+f.ID); err != nil {
		if status, _ := statusOf(err); status != http.StatusNotFound {
			return err
		}
	}
	return s.deleteIndexRows(ctx, index)
}

func ptrInt32(n int32) *int32 { return &n }
