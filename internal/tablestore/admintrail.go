package tablestore

import (
	"context"
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"keyserver/internal/auditlog"
	"keyserver/internal/keyserver"
)

// An admin change's record is a row of the partition the change writes
// (docs/AUDIT.md, "Chains"): the keys' chain in the keys partition of the
// keys table, the policies' chain in the policy partition of the policies
// table, and one chain per subject id in that subject's partition of the
// subjects table. The change and its record are one entity-group
// transaction, so neither is ever stored without the other.

// notRecords keeps a query of a partition that holds records to the rows
// that are not records: none of "x~..." (records, and plain audit rows of
// the bench's unchained mode), which no key id, encoded subject issuer or
// encoded policy id can start with.
var notRecords = "(RowKey lt " + quote(historyPrefix) + " or RowKey ge " + quote(prefixEnd(historyPrefix)) + ")"

// historyPrefix starts the row key of every record or audit row.
const historyPrefix = "x~"

// adminChain returns the table and partition of an admin chain; ok is
// false for a name that is none.
func (s *Store) adminChain(chain string) (c *aztables.Client, pk string, ok bool) {
	switch chain {
	case auditlog.KeysChain:
		return s.keys, keysPartition, true
	case auditlog.PoliciesChain:
		return s.policies, policyPartition, true
	}
	if subject, ok := auditlog.SubjectOfChain(chain); ok {
		return s.subjects, encodeKey(subject), true
	}
	return nil, "", false
}

// adminWrite makes change, an action on partition pk of table c, and
// writes ev, unless it is empty, as the next record of chain in the same
// transaction. A change that fails writes no record; one whose record's
// place another writer took is made again after the chain's new head.
func (s *Store) adminWrite(ctx context.Context, c *aztables.Client, pk, chain string, change aztables.TransactionAction, ev keyserver.AuditEvent, doing string) error {
	if ev == (keyserver.AuditEvent{}) {
		_, err := c.SubmitTransaction(ctx, []aztables.TransactionAction{change}, nil)
		return classify(err, doing)
	}
	if !s.Unchained {
		if err := s.markChain(ctx, chain); err != nil { // lists it for sealing (sealindex.go)
			return err
		}
	}
	_, err := s.chained(ctx, c, pk, chain, ev, func(rec *row) (bool, error) {
		_, err := c.SubmitTransaction(ctx, []aztables.TransactionAction{change, {ActionType: aztables.TransactionTypeAdd, Entity: rec.marshal()}}, nil)
		if err != nil && s.committed(ctx, c, rec) {
			return false, nil
		}
		i, status := failedAction(err)
		return status == http.StatusConflict && i == 1, classify(err, doing)
	})
	return err
}

// committed reports whether record rec is stored as it is: a transaction
// that failed after an earlier try of it committed (the client retries a
// request whose answer it did not get) was in fact made, once.
func (s *Store) committed(ctx context.Context, c *aztables.Client, rec *row) bool {
	mine, err := parseRow(rec.marshal())
	if err != nil {
		return false
	}
	resp, err := c.GetEntity(ctx, rec.PartitionKey, rec.RowKey, nil)
	if err != nil {
		return false
	}
	stored, err := parseRow(resp.Value)
	if err != nil {
		return false
	}
	a, b := storedOfRow(stored), storedOfRow(mine)
	return a.Record.LeafHash() == b.Record.LeafHash()
}

func upsertAction(r *row) aztables.TransactionAction {
	return aztables.TransactionAction{ActionType: aztables.TransactionTypeInsertReplace, Entity: r.marshal()}
}

func deleteAction(pk, rk string) aztables.TransactionAction {
	return aztables.TransactionAction{ActionType: aztables.TransactionTypeDelete, Entity: newRow(pk, rk).marshal()}
}

// adminRecordTables are the tables and filters that list the admin chains' records
// in the keys, policies and subjects tables.
func (s *Store) adminRecordTables() []recordTable {
	records := "RowKey ge " + quote(recordPrefix) + " and RowKey lt " + quote(prefixEnd(recordPrefix))
	return []recordTable{
		{s.keys, "PartitionKey eq " + quote(keysPartition) + " and " + records},
		{s.policies, "PartitionKey eq " + quote(policyPartition) + " and " + records},
		{s.subjects, records},
	}
}

// recordTable is a table and the filter of its record rows.
type recordTable struct {
	c      *aztables.Client
	filter string
}
