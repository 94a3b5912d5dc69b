package tablestore

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"keyserver/internal/auditlog"
	"keyserver/internal/keyserver"
)

// The sealer reads only the chains that may hold records not yet sealed,
// which the index partition of the operations table lists:
//
//	o~<operation id>     an open operation (index.go): its chain grows with no
//	                     further index write, a signature's record riding in
//	                     the transaction that spends the use
//	s~<chain, base64url> any other chain that may hold unsealed records (Chain)
//
// An s~ row is written before a record goes to a chain whose owner is not
// known open (knownOpen): a refusal, event, release or update on an
// operation finished or maybe finished (closed, expired, exhausted), a caller's
// chain, the admin chain, any chain of another table. Finishing an operation writes
// its s~ row with its d~ row, in one transaction, before its o~ row goes.
// The sealer removes an s~ row, If-Match its ETag, only once, when it was
// listed, the row had been quiet and the operation's o~ row gone for longer
// than orphanGrace, and the sealer then found the chain sealed to its head:
// every writer that saw the chain listed or the operation open has written
// by then, and a writer that touched the row since keeps it.
const (
	chainIndexPfx = "s~"
	// indexedRow, in the seal partition, says that the chains with records
	// from before the index was kept were listed (sealupgrade.go).
	indexedRow = "indexed"
	// indexingRow, in the seal partition, says when they were first listed
	// and from which time on (sealupgrade.go).
	indexingRow = "indexing"
)

func chainIndexRowKey(chain string) string { return chainIndexPfx + encodeKey(chain) }

// markChain lists chain in the index, before a record is written to it,
// unless this process listed it less than orphanGrace/2 ago: the sealer
// removes only an s~ row that has been quiet for orphanGrace, so that row is
// still there, and a record written now is sealed before it can go. (A
// refusal hammering a finished operation then costs no index write.)
func (s *Store) markChain(ctx context.Context, chain string) error {
	now := s.now()
	if s.marked.fresh(chain, now) {
		return nil
	}
	r := newRow(indexPartition, chainIndexRowKey(chain)).set("Chain", chain)
	_, err := s.ops.UpsertEntity(ctx, r.marshal(), &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace})
	if err != nil {
		return classify(err, "listing audit chain "+chain+" for sealing")
	}
	s.marked.note(chain, now)
	return nil
}

// markedChains remembers when this process last listed each chain (the
// time taken before the write, so never later than the row's).
type markedChains struct {
	mu sync.Mutex
	at map[string]time.Time
}

// maxMarked bounds what markedChains holds; past it, stale entries go.
const maxMarked = 10000

func (m *markedChains) fresh(chain string, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.at[chain]
	return ok && !now.Before(t) && now.Sub(t) < orphanGrace/2
}

func (m *markedChains) note(chain string, at time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.at == nil {
		m.at = map[string]time.Time{}
	}
	if len(m.at) >= maxMarked {
		for c, t := range m.at {
			if at.Sub(t) >= orphanGrace/2 || at.Before(t) {
				delete(m.at, c)
			}
		}
	}
	if len(m.at) < maxMarked {
		m.at[chain] = at
	}
}

// operationChainRow is the s~ row of an operation's chain, written with
// the operation's d~ row when it finishes.
func operationChainRow(opID string) *row {
	chain := auditlog.OperationChain(opID)
	return newRow(indexPartition, chainIndexRowKey(chain)).set("Chain", chain)
}

// knownOpen reports whether this process saw operation opID unfinished in
// every way recently enough that its o~ row, or the s~ row written when it
// finished, keeps its chain listed until a record written now is in. An
// operation known only in part (no op row read) is not known open.
func (s *Store) knownOpen(opID string) bool {
	h := s.ledger.of(opID).current()
	return h != nil && h.unfinished() && time.Since(h.at) < orphanGrace/2
}

// unfinished reports whether the op row h was read from said the operation
// was going on: not closed nor being closed, its expiry neither noted nor
// passed, its uses not all taken. The op row's Open flag alone says only that
// it was not closed: an expired operation keeps it, and its o~ row goes when
// upkeep notes the expiry.
func (h *opHead) unfinished() bool {
	e := h.entity
	if e == nil || !h.open || !e.Open || e.Rejected != "" || e.Cancelled != "" || e.ExpiryNoted || e.ExhaustedNoted {
		return false
	}
	if !h.closing.IsZero() && h.at.Before(h.closing) {
		return false
	}
	if exp := e.expires; exp.IsZero() || !h.at.Before(exp) {
		return false
	}
	for k, m := range h.max {
		if h.uses[k].N < m {
			return true
		}
	}
	return false
}

// PendingChains lists the open operations' chains and the s~ rows: two
// range reads of the index partition, whatever the tables hold.
func (s *Store) PendingChains(ctx context.Context) ([]auditlog.Pending, error) {
	if err := s.listOldChains(ctx); err != nil {
		return nil, err
	}
	opens, err := querySelect(ctx, s.ops, rangeFilter(indexPartition, openPrefix), "RowKey", "reading the open operations")
	if err != nil {
		return nil, err
	}
	marks, err := querySelect(ctx, s.ops, rangeFilter(indexPartition, chainIndexPfx), "RowKey,Chain,Timestamp", "reading the audit chains to seal")
	if err != nil {
		return nil, err
	}
	open := map[string]bool{}
	out := make([]auditlog.Pending, 0, len(opens)+len(marks))
	for _, r := range opens {
		id := strings.TrimPrefix(r.RowKey, openPrefix)
		open[auditlog.OperationChain(id)] = true
		out = append(out, auditlog.Pending{Chain: auditlog.OperationChain(id)})
	}
	now := s.now()
	for _, r := range marks {
		c := r.str("Chain")
		if c == "" || r.RowKey != chainIndexRowKey(c) {
			continue // not a row this store wrote
		}
		quiet := now.Sub(time.Time(r.Timestamp)) > orphanGrace
		out = append(out, auditlog.Pending{Chain: c, Idle: quiet && !open[c], Mark: r.ETag})
	}
	return out, nil
}

// ReleaseChains deletes the s~ rows of the chains given, each only if its
// ETag is still the one listed.
func (s *Store) ReleaseChains(ctx context.Context, chains []auditlog.Pending) error {
	for _, p := range chains {
		if p.Mark == "" {
			continue
		}
		etag := azcore.ETag(p.Mark)
		_, err := s.ops.DeleteEntity(ctx, indexPartition, chainIndexRowKey(p.Chain), &aztables.DeleteEntityOptions{IfMatch: &etag})
		if status, _ := statusOf(err); err != nil && status != http.StatusNotFound && status != http.StatusPreconditionFailed {
			return classify(err, "removing audit chain "+p.Chain+" from the sealing index")
		}
	}
	return nil
}

// UnsealedRecords returns the records of chain after head after. It reads
// the chain's head row; the records before it come from what this process
// wrote when that reaches back to after, else from one range read.
func (s *Store) UnsealedRecords(ctx context.Context, chain string, after auditlog.Head) ([]auditlog.Stored, error) {
	c, pk, err := s.chainClient(chain)
	if keyserver.ErrorCode(err) == keyserver.ENOTFOUND {
		return nil, nil // a row naming no chain there can be: nothing to seal
	}
	if err != nil {
		return nil, err
	}
	hr, err := firstRow(ctx, c, rangeFilter(pk, recordPrefix), "reading the head of audit chain "+chain)
	if err != nil {
		return nil, err
	}
	s.journal.trim(chain, after.Seq)
	if hr == nil {
		return nil, nil
	}
	head := storedOfRow(hr)
	if head.Row <= after.Seq {
		return nil, nil
	}
	if recs, ok := s.journal.span(chain, after, head); ok {
		return recs, nil
	}
	return chainRange(ctx, c, pk, chain, recordRowKey(head.Row), recordRowKey(after.Seq+1))
}

// RecordEvent writes ev as the next record of operation opID's chain,
// listing the chain first unless this process saw the operation open
// moments ago (then its o~ row, or the s~ row its finishing wrote, lists it).
func (s *Store) RecordEvent(ctx context.Context, opID string, ev keyserver.AuditEvent) error {
	if !keyserver.ValidID(opID) {
		return opNotFound(opID)
	}
	if !s.Unchained && !s.knownOpen(opID) {
		if err := s.markChain(ctx, auditlog.OperationChain(opID)); err != nil {
			return err
		}
	}
	_, err := s.queueUse(ctx, opID, &useRequest{keyID: ev.KeyID, ev: ev, record: true})
	return err
}

// RecordAudit writes ev, a refusal that concerns no operation the caller
// may read, as the next record of its caller's chain, listing the chain
// first.
func (s *Store) RecordAudit(ctx context.Context, ev keyserver.AuditEvent) error {
	chain := ev.Chain()
	if !s.Unchained {
		if err := s.markChain(ctx, chain); err != nil {
			return err
		}
	}
	_, err := s.insertRecord(ctx, s.audit, chainPartition(chain), chain, ev)
	return err
}
