package tablestore

import (
	"context"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"keyserver/internal/auditlog"
	"keyserver/internal/keyserver"
)

// How chained audit records are kept (docs/AUDIT.md, "Storage"). A record
// is a row in its chain's partition: an operation's records in the
// operation's partition of the operations table, an admin change's in the
// partition it changes (admintrail.go), the callers' chains (and the admin
// chain of earlier versions) in partitions "chain~caller~<hex>" and
// "chain~admin" of the audit table. Its row key holds MaxInt64 - seq, so that a chain's
// latest record is the first row of its range. Inserting the row decides:
// two writers can never both take a place in a chain.
const (
	recordPrefix    = "x~chain~"
	chainPartPrefix = "chain~"
	recordTime      = "2006-01-02T15:04:05.000000Z"
	// maxChainAttempts bounds the tries of one record when other processes
	// keep writing the same chain.
	maxChainAttempts = 8
)

func recordRowKey(seq uint64) string { return latestFirstKey(recordPrefix, seq) }

// latestFirstKey is prefix and n counted down from MaxInt64 in 19 digits,
// so that a range read returns the highest n first.
func latestFirstKey(prefix string, n uint64) string {
	var buf [64]byte // on the stack for the usual prefixes
	return string(appendZeroPadded(append(buf[:0], prefix...), math.MaxInt64-int64(n), 19))
}

// rowOfRecordKey is the chain position a record row key holds; 0 when
// the key is not one a record would have.
func rowOfRecordKey(rk string) uint64 {
	n, err := strconv.ParseInt(strings.TrimPrefix(rk, recordPrefix), 10, 64)
	if err != nil || !strings.HasPrefix(rk, recordPrefix) || len(rk) != len(recordPrefix)+19 || n < 0 {
		return 0
	}
	return uint64(math.MaxInt64 - n)
}

// chainPartition is the audit table partition of a chain that belongs to
// no operation.
func chainPartition(chain string) string {
	return chainPartPrefix + strings.ReplaceAll(chain, "/", "~")
}

func recordRow(pk string, r *auditlog.Record) *row {
	return newRow(pk, recordRowKey(r.Seq)).
		set("Chain", r.Chain).
		set("Seq", aztables.EDMInt64(r.Seq)).
		set("Prev", r.Prev.String()).
		set("Time", r.Time.UTC().Format(recordTime)).
		set("Event", r.Event).
		set("ActorIssuer", r.ActorIssuer).
		set("ActorSubject", r.ActorSubject).
		set("ActorKind", r.ActorKind).
		set("OperationID", r.OperationID).
		set("KeyID", r.KeyID).
		set("Target", r.Target).
		set("Digest", r.Digest).
		set("Result", r.Result).
		set("Detail", r.Detail)
}

// storedOfRow reads a record row as it is, tampered or not: the verifier
// judges it.
func storedOfRow(r *row) auditlog.Stored {
	rec := auditlog.Record{Chain: r.str("Chain"), Seq: uint64(r.num("Seq")), Event: r.str("Event"),
		ActorIssuer: r.str("ActorIssuer"), ActorSubject: r.str("ActorSubject"), ActorKind: r.str("ActorKind"),
		OperationID: r.str("OperationID"), KeyID: r.str("KeyID"), Target: r.str("Target"), Digest: r.str("Digest"),
		Result: r.str("Result"), Detail: r.str("Detail")}
	rec.Prev, _ = auditlog.ParseHash(r.str("Prev"))
	rec.Time, _ = time.Parse(recordTime, r.str("Time"))
	return auditlog.Stored{Row: rowOfRecordKey(r.RowKey), Record: rec}
}

// chainHeads remembers where the chains this process wrote stand, so that a
// record costs no read while this process is the chain's only writer, and
// serialises this process's writers of one chain (and only of that chain).
type chainHeads struct {
	mu      sync.Mutex
	heads   map[string]auditlog.Head
	writers map[string]*chainWriter
}

type chainWriter struct {
	mu      sync.Mutex
	waiting int // guarded by chainHeads.mu
}

const maxHeads = 8192

// lock waits until this process writes chain alone; the returned func ends it.
func (c *chainHeads) lock(chain string) func() {
	c.mu.Lock()
	if c.writers == nil {
		c.writers = map[string]*chainWriter{}
	}
	w := c.writers[chain]
	if w == nil {
		w = &chainWriter{}
		c.writers[chain] = w
	}
	w.waiting++
	c.mu.Unlock()
	w.mu.Lock()
	return func() {
		w.mu.Unlock()
		c.mu.Lock()
		if w.waiting--; w.waiting == 0 {
			delete(c.writers, chain)
		}
		c.mu.Unlock()
	}
}

func (c *chainHeads) get(chain string) (auditlog.Head, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	h, ok := c.heads[chain]
	return h, ok
}

func (c *chainHeads) set(chain string, h auditlog.Head, known bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !known {
		delete(c.heads, chain)
		return
	}
	if c.heads == nil || len(c.heads) >= maxHeads {
		c.heads = map[string]auditlog.Head{}
	}
	c.heads[chain] = h
}

// readHead reads the latest record of a chain: the first row of its range.
func readHead(ctx context.Context, c *aztables.Client, pk string) (auditlog.Head, error) {
	filter := rangeFilter(pk, recordPrefix)
	pager := c.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter, Top: to.Ptr[int32](1)})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return auditlog.Head{}, classify(err, "reading the head of audit chain "+pk)
		}
		if len(page.Entities) == 0 {
			continue
		}
		r, err := parseRow(page.Entities[0])
		if err != nil {
			return auditlog.Head{}, err
		}
		st := storedOfRow(r)
		return auditlog.Head{Seq: st.Row, Hash: st.Record.LeafHash()}, nil
	}
	return auditlog.Head{}, nil
}

// chained writes ev as the next record of chain, in partition pk of table
// c. write makes the write that carries the record's row (a lone insert or a
// transaction with the change it records) and reports whether it failed
// because the record's place was taken; then the head is read again and the
// record rebuilt. It returns the record's id.
func (s *Store) chained(ctx context.Context, c *aztables.Client, pk, chain string, ev keyserver.AuditEvent, write func(record *row) (taken bool, err error)) (string, error) {
	ids, err := s.chainedN(ctx, c, pk, chain, []keyserver.AuditEvent{ev}, func(recs []*row) (bool, error) { return write(recs[0]) })
	if err != nil {
		return "", err
	}
	return ids[0], nil
}

// chainedN is chained for several events, which become consecutive records
// in the order given.
func (s *Store) chainedN(ctx context.Context, c *aztables.Client, pk, chain string, evs []keyserver.AuditEvent, write func(records []*row) (taken bool, err error)) ([]string, error) {
	for i := range evs {
		if evs[i].Time.IsZero() {
			evs[i].Time = s.now()
		}
	}
	if s.Unchained {
		rows := make([]*row, len(evs))
		for i, ev := range evs {
			rows[i] = s.auditRow(pk, ev)
		}
		_, err := write(rows)
		return make([]string, len(evs)), err
	}
	defer s.heads.lock(chain)()
	for attempt := 1; ; attempt++ {
		head, ok := s.heads.get(chain)
		if !ok {
			var err error
			if head, err = readHead(ctx, c, pk); err != nil {
				return nil, err
			}
		}
		rows, ids, recs := make([]*row, len(evs)), make([]string, len(evs)), make([]auditlog.Record, len(evs))
		for i, ev := range evs {
			recs[i], head = head.Chain(ev.Record(chain))
			if err := recs[i].Check(); err != nil {
				return nil, keyserver.Errorf(keyserver.EINVALID, "The audit record cannot be written: %v.", err)
			}
			rows[i], ids[i] = recordRow(pk, &recs[i]), recs[i].ID()
		}
		taken, err := write(rows)
		s.heads.set(chain, head, err == nil)
		if err == nil {
			s.journal.add(chain, recs)
			return ids, nil
		}
		if !taken || attempt == maxChainAttempts {
			return nil, err
		}
	}
}

// insertRecord writes ev as a lone record of chain.
func (s *Store) insertRecord(ctx context.Context, c *aztables.Client, pk, chain string, ev keyserver.AuditEvent) (string, error) {
	return s.chained(ctx, c, pk, chain, ev, func(rec *row) (bool, error) {
		_, err := c.AddEntity(ctx, rec.marshal(), nil)
		status, _ := statusOf(err)
		return status == http.StatusConflict, classify(err, "writing audit record "+chain)
	})
}

// submitRecorded submits actions, in operation opID's partition, with evs as
// the next records of the operation's chain, added last so that the other
// actions keep their places. It returns the ETags of the actions and the
// records' ids. A transaction that fails for another reason returns the
// submit's error as it is; one whose records' place was taken by another
// process is built again on the chain's new head.
func (s *Store) submitRecorded(ctx context.Context, opID string, actions []aztables.TransactionAction, evs ...keyserver.AuditEvent) ([]azcore.ETag, []string, error) {
	evs = slices.DeleteFunc(slices.Clone(evs), func(ev keyserver.AuditEvent) bool { return ev == (keyserver.AuditEvent{}) })
	if len(evs) == 0 {
		etags, err := s.submit(ctx, actions)
		return etags, nil, err
	}
	var etags []azcore.ETag
	ids, err := s.chainedN(ctx, s.ops, opID, auditlog.OperationChain(opID), evs, func(recs []*row) (bool, error) {
		all := slices.Clip(actions)
		for _, r := range recs {
			all = append(all, aztables.TransactionAction{ActionType: aztables.TransactionTypeAdd, Entity: r.marshal()})
		}
		var err error
		etags, err = s.submit(ctx, all)
		i, status := failedAction(err)
		return status == http.StatusConflict && i >= len(actions), err
	})
	return etags, ids, err
}
