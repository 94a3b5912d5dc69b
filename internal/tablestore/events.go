package tablestore

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"keyserver/internal/auditlog"
	"keyserver/internal/keyserver"
)

// appendEvents adds the audit row (unless ev is empty) and one event row
// per event to a transaction in partition pk. An event without an id gets
// one.
func (s *Store) appendEvents(actions []aztables.TransactionAction, pk string, ev keyserver.AuditEvent, evs []*keyserver.Event) ([]aztables.TransactionAction, error) {
	if ev != (keyserver.AuditEvent{}) {
		actions = append(actions, aztables.TransactionAction{ActionType: aztables.TransactionTypeAdd, Entity: s.auditRow(pk, ev).marshal()})
	}
	for _, e := range evs {
		r, err := eventRow(pk, e)
		if err != nil {
			return nil, err
		}
		actions = append(actions, aztables.TransactionAction{ActionType: aztables.TransactionTypeAdd, Entity: r.marshal()})
	}
	return actions, nil
}

func (s *Store) auditRow(pk string, ev keyserver.AuditEvent) *row {
	if ev.Time.IsZero() {
		ev.Time = s.now()
	}
	return newRow(pk, auditRowKey(ev.Time)).
		setTime("Time", ev.Time).
		setPrincipal("Actor", ev.Actor).
		set("Action", ev.Action).
		set("OperationID", ev.OperationID).
		set("KeyID", ev.KeyID).
		set("Digest", ev.Digest).
		set("Result", ev.Result).
		set("Detail", ev.Detail)
}

func auditFromRow(r *row) keyserver.AuditEvent {
	return keyserver.AuditEvent{
		Time:        r.time("Time"),
		Actor:       r.principal("Actor"),
		Action:      r.str("Action"),
		OperationID: r.str("OperationID"),
		KeyID:       r.str("KeyID"),
		Digest:      r.str("Digest"),
		Result:      r.str("Result"),
		Detail:      r.str("Detail"),
	}
}

// OperationEvents returns the audit events of operation opID, oldest
// first: its chained records and any event rows written before records were
// chained.
func (s *Store) OperationEvents(ctx context.Context, opID string) ([]keyserver.AuditEvent, error) {
	if !keyserver.ValidID(opID) {
		return nil, opNotFound(opID)
	}
	evs, err := s.events(ctx, s.ops, opID, "reading the events of operation "+opID)
	if err != nil {
		return nil, err
	}
	recs, err := s.ChainRecords(ctx, auditlog.OperationChain(opID), 1)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		evs = append(evs, keyserver.EventOf(&r.Record))
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].Time.Before(evs[j].Time) })
	return evs, nil
}

// AuditEvents returns the events of the admin chains and the callers'
// chains dated on the UTC day of day, oldest first.
func (s *Store) AuditEvents(ctx context.Context, day time.Time) ([]keyserver.AuditEvent, error) {
	from := time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, time.UTC)
	var evs []keyserver.AuditEvent
	f := keyserver.AuditFilter{From: from, To: from.AddDate(0, 0, 1), Limit: 1000, Page: pageToken{Table: 1}.String()}
	for {
		recs, next, err := s.ListAudit(ctx, f)
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			evs = append(evs, keyserver.EventOf(&r.Record))
		}
		if next == "" {
			break
		}
		f.Page = next
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].Time.Before(evs[j].Time) })
	return evs, nil
}

func (s *Store) events(ctx context.Context, c *aztables.Client, pk, doing string) ([]keyserver.AuditEvent, error) {
	rows, err := queryAll(ctx, c, rangeFilter(pk, auditPrefix), doing)
	if err != nil {
		return nil, err
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].RowKey < rows[j].RowKey })
	evs := make([]keyserver.AuditEvent, len(rows))
	for i, r := range rows {
		evs[i] = auditFromRow(r)
	}
	return evs, nil
}

func auditDay(t time.Time) string { return t.UTC().Format("2006-01-02") }

// rangeFilter selects the rows of partition pk whose RowKey starts with prefix.
func rangeFilter(pk, prefix string) string {
	return fmt.Sprintf("PartitionKey eq %s and RowKey ge %s and RowKey lt %s", quote(pk), quote(prefix), quote(prefixEnd(prefix)))
}

// prefixEnd is the least string after every string that starts with prefix,
// whose last byte is below 0x7f.
func prefixEnd(prefix string) string {
	return prefix[:len(prefix)-1] + string(prefix[len(prefix)-1]+1)
}
