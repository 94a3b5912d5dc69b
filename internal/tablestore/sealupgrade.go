package tablestore

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"keyserver/internal/auditlog"
)

// A store whose records were written before the index was kept has no
// indexed row. The first seal of a process that keeps the index lists every
// chain with a record dated from the latest checkpoint's scan start (less
// orphanGrace) on, by the records' Time, and notes when and from when in
// the indexing row. Processes of the earlier version, which list no chain,
// may still be writing then: an upgrade does not replace every instance at
// once. So the first seal at least upgradeSettle later lists the chains
// again, from the same time on, which takes in the records those processes
// wrote meanwhile, and only then writes the indexed row. From then on the
// tables are never read again; a process of the earlier version still
// writing then is not provided for.
const upgradeSettle = orphanGrace

// listOldChains lists the chains written before the index, twice, as
// above. Once the indexed row exists it reads that row alone, once per
// process; before, the indexing row once per process until it is due.
func (s *Store) listOldChains(ctx context.Context) error {
	if s.indexed.Load() {
		return nil
	}
	if at := s.indexing.Load(); at != nil && s.now().Sub(*at) < upgradeSettle {
		return nil
	}
	_, err := s.audit.GetEntity(ctx, sealPartition, indexedRow, nil)
	if err == nil {
		s.indexed.Store(true)
		return nil
	}
	if !isNotFound(err) {
		return classify(err, "reading whether the audit chains are indexed")
	}
	resp, err := s.audit.GetEntity(ctx, sealPartition, indexingRow, nil)
	if err != nil && !isNotFound(err) {
		return classify(err, "reading when the audit chains were first indexed")
	}
	if err == nil {
		r, err := parseRow(resp.Value)
		if err != nil {
			return err
		}
		at := r.time("Time")
		if s.now().Sub(at) < upgradeSettle {
			s.indexing.Store(&at)
			return nil // processes of the earlier version may still be writing
		}
		if err := s.listChainsSince(ctx, r.str("Since")); err != nil {
			return err
		}
		return s.noteIndexed(ctx)
	}
	since, err := s.oldChainsSince(ctx)
	if err != nil {
		return err
	}
	if err := s.listChainsSince(ctx, since); err != nil {
		return err
	}
	at := s.now()
	_, err = s.audit.AddEntity(ctx, newRow(sealPartition, indexingRow).setTime("Time", at).set("Since", since).marshal(), nil)
	if status, _ := statusOf(err); err != nil && status != http.StatusConflict {
		return classify(err, "noting that the audit chains were first indexed")
	} else if err == nil {
		s.indexing.Store(&at)
	}
	return nil
}

// oldChainsSince is the filter on the records' Time of the listing: from
// the latest checkpoint's scan start less orphanGrace on; empty (every
// record) when there is no checkpoint.
func (s *Store) oldChainsSince(ctx context.Context) (string, error) {
	cp, err := s.latestCheckpointRow(ctx)
	if errors.Is(err, auditlog.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	// Checkpoints of that time kept where their scan started.
	from, perr := time.Parse(recordTime, cp.str("ScanFrom"))
	if perr != nil {
		body, err := auditlog.ParseBody([]byte(cp.str("Body")))
		if err != nil {
			return "", fmt.Errorf("the latest checkpoint row: %w", err)
		}
		from = body.Time
	}
	return " and Time ge " + quote(from.Add(-orphanGrace).UTC().Format(recordTime)), nil
}

// listChainsSince writes an s~ row for every chain with a record matching
// since, in the operations and audit tables and the admin chains' tables.
func (s *Store) listChainsSince(ctx context.Context, since string) error {
	tables := append([]recordTable{
		{s.ops, fmt.Sprintf("RowKey ge %s and RowKey lt %s", quote(recordPrefix), quote(prefixEnd(recordPrefix)))},
		{s.audit, fmt.Sprintf("PartitionKey ge %s and PartitionKey lt %s and RowKey ge %s and RowKey lt %s",
			quote(chainPartPrefix), quote(prefixEnd(chainPartPrefix)), quote(recordPrefix), quote(prefixEnd(recordPrefix)))},
	}, s.adminRecordTables()...)
	chains := map[string]bool{}
	var actions []aztables.TransactionAction
	for _, t := range tables {
		rows, err := querySelect(ctx, t.c, t.filter+since, "Chain", "listing the audit chains written before the index")
		if err != nil {
			return err
		}
		for _, r := range rows {
			if ch := r.str("Chain"); ch != "" && !chains[ch] {
				chains[ch] = true
				actions = append(actions, upsert(newRow(indexPartition, chainIndexRowKey(ch)).set("Chain", ch)))
			}
		}
	}
	return s.submitAll(ctx, actions, "listing the audit chains written before the index")
}

// noteIndexed writes the indexed row: the tables are not read again.
func (s *Store) noteIndexed(ctx context.Context) error {
	_, err := s.audit.AddEntity(ctx, newRow(sealPartition, indexedRow).setTime("Time", s.now()).marshal(), nil)
	if status, _ := statusOf(err); err != nil && status != http.StatusConflict {
		return classify(err, "noting that the audit chains are indexed")
	}
	s.indexed.Store(true)
	return nil
}
