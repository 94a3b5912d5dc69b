package tablestore

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"keyserver/internal/auditlog"
	"keyserver/internal/keyserver"
)

// The sealer's rows live in partition "seal" of the audit table:
// "cp~<MaxInt64-n>" for checkpoint n (the latest first), the segments and
// tiles of the tree and its mark (sealtree.go), and "certificate" for the
// audit key's certificate as it was stored before certificates were
// recorded (auditcerts.go). ("head~<chain>" rows, where each chain stood
// before segments, are no longer read.)
const (
	sealPartition  = "seal"
	checkpointPfx  = "cp~"
	certificateRow = "certificate"
)

var _ keyserver.AuditTrail = (*Store)(nil)

func checkpointRowKey(n uint64) string {
	return latestFirstKey(checkpointPfx, n)
}

// leafJSON is a leaf as a checkpoint row lists it.
type leafJSON struct {
	C string `json:"c"`
	S uint64 `json:"s"`
	T string `json:"t"`
	H string `json:"h"`
}

func checkpointRow(s *auditlog.Sealed) *row {
	leaves := make([]leafJSON, len(s.Leaves))
	for i, l := range s.Leaves {
		leaves[i] = leafJSON{l.Chain, l.Seq, l.Time.UTC().Format(recordTime), l.Hash.String()}
	}
	r := newRow(sealPartition, checkpointRowKey(s.Checkpoint.N)).
		set("Body", string(s.Checkpoint.Body())).
		set("Signature", base64.StdEncoding.EncodeToString(s.Signature))
	setLong(r, "Leaves", leaves)
	return r
}

// maxPropertyChars is the most characters a string property holds
// (64 KiB of UTF-16), less a margin.
const maxPropertyChars = 30000

// setLong writes v as JSON in property name and, when it is longer than a
// property holds, the rest in name1, name2, ….
func setLong(r *row, name string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic("tablestore: encoding " + name + ": " + err.Error())
	}
	for i, s := 0, string(b); i == 0 || s != ""; i++ {
		k := name
		if i > 0 {
			k = fmt.Sprintf("%s%d", name, i)
		}
		n := min(len(s), maxPropertyChars)
		r.set(k, s[:n])
		s = s[n:]
	}
}

// long reads what setLong wrote.
func long(r *row, name string, v any) error {
	var b strings.Builder
	b.WriteString(r.str(name))
	for i := 1; r.str(fmt.Sprintf("%s%d", name, i)) != ""; i++ {
		b.WriteString(r.str(fmt.Sprintf("%s%d", name, i)))
	}
	if b.Len() == 0 {
		return nil
	}
	if err := json.Unmarshal([]byte(b.String()), v); err != nil {
		return fmt.Errorf("decoding %s of row %s/%s: %w", name, r.PartitionKey, r.RowKey, err)
	}
	return nil
}

func sealedOfRow(r *row) (*auditlog.Sealed, error) {
	cp, err := auditlog.ParseBody([]byte(r.str("Body")))
	if err != nil {
		return nil, fmt.Errorf("checkpoint row %s: %w", r.RowKey, err)
	}
	sig, err := base64.StdEncoding.DecodeString(r.str("Signature"))
	if err != nil {
		return nil, fmt.Errorf("checkpoint %d: signature: %w", cp.N, err)
	}
	var leaves []leafJSON
	if err := long(r, "Leaves", &leaves); err != nil {
		return nil, err
	}
	s := &auditlog.Sealed{Checkpoint: *cp, Signature: sig, Leaves: make([]auditlog.Leaf, len(leaves))}
	for i, l := range leaves {
		h, err := auditlog.ParseHash(l.H)
		if err != nil {
			return nil, fmt.Errorf("checkpoint %d, leaf %d: %w", cp.N, i, err)
		}
		t, _ := time.Parse(recordTime, l.T)
		s.Leaves[i] = auditlog.Leaf{Chain: l.C, Seq: l.S, Time: t, Hash: h}
	}
	return s, nil
}

// chainClient returns the table and partition of a chain's records: the
// one place that maps a chain's name to where it is kept. A new kind of
// chain needs a case here and, before each of its records is written, the
// index row that lists it for sealing (markChain, sealindex.go), unless
// something else lists it (an open operation's o~ row).
func (s *Store) chainClient(chain string) (*aztables.Client, string, error) {
	if id, ok := strings.CutPrefix(chain, "op/"); ok {
		if !keyserver.ValidID(id) {
			return nil, "", keyserver.Errorf(keyserver.ENOTFOUND, "Audit chain %q does not exist.", chain)
		}
		return s.ops, id, nil
	}
	if c, pk, ok := s.adminChain(chain); ok {
		return c, pk, nil
	}
	return s.audit, chainPartition(chain), nil
}

// ChainRecords returns the records of chain from position from on, by row.
func (s *Store) ChainRecords(ctx context.Context, chain string, from uint64) ([]auditlog.Stored, error) {
	c, pk, err := s.chainClient(chain)
	if err != nil {
		return nil, err
	}
	return chainRange(ctx, c, pk, chain, recordPrefix, recordRowKey(max(from, 1)))
}

// chainRange reads the records of chain whose row keys lie from hi to lo
// (row keys fall as positions rise), in chain order.
func chainRange(ctx context.Context, c *aztables.Client, pk, chain, hi, lo string) ([]auditlog.Stored, error) {
	filter := fmt.Sprintf("PartitionKey eq %s and RowKey ge %s and RowKey le %s", quote(pk), quote(hi), quote(lo))
	rows, err := queryAll(ctx, c, filter, "reading audit chain "+chain)
	if err != nil {
		return nil, err
	}
	out := make([]auditlog.Stored, len(rows))
	for i, r := range rows {
		out[len(rows)-1-i] = storedOfRow(r) // rows come latest first
	}
	return out, nil
}

// Record reads record chain#seq by a point read, or ErrNotFound.
func (s *Store) Record(ctx context.Context, chain string, seq uint64) (auditlog.Stored, error) {
	c, pk, err := s.chainClient(chain)
	if keyserver.ErrorCode(err) == keyserver.ENOTFOUND {
		return auditlog.Stored{}, auditlog.ErrNotFound
	}
	if err != nil {
		return auditlog.Stored{}, err
	}
	resp, err := c.GetEntity(ctx, pk, recordRowKey(seq), nil)
	if isNotFound(err) {
		return auditlog.Stored{}, auditlog.ErrNotFound
	}
	if err != nil {
		return auditlog.Stored{}, classify(err, fmt.Sprintf("reading audit record %s#%d", chain, seq))
	}
	r, err := parseRow(resp.Value)
	if err != nil {
		return auditlog.Stored{}, err
	}
	return storedOfRow(r), nil
}

// LatestCheckpoint reads the first checkpoint row: the latest.
func (s *Store) LatestCheckpoint(ctx context.Context) (*auditlog.Sealed, error) {
	r, err := s.latestCheckpointRow(ctx)
	if err != nil {
		return nil, err
	}
	return sealedOfRow(r)
}

func (s *Store) latestCheckpointRow(ctx context.Context) (*row, error) {
	r, err := firstRow(ctx, s.audit, rangeFilter(sealPartition, checkpointPfx), "reading the latest checkpoint")
	if err == nil && r == nil {
		err = auditlog.ErrNotFound
	}
	return r, err
}

// firstRow reads the first row matching filter; nil when none does.
func firstRow(ctx context.Context, c *aztables.Client, filter, doing string) (*row, error) {
	pager := c.NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter, Top: to.Ptr[int32](1)})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, classify(err, doing)
		}
		if len(page.Entities) > 0 {
			return parseRow(page.Entities[0])
		}
	}
	return nil, nil
}

// Checkpoints reads up to limit checkpoints from number from on.
func (s *Store) Checkpoints(ctx context.Context, from uint64, limit int) ([]auditlog.Sealed, error) {
	from = max(from, 1)
	last := from + uint64(limit) - 1
	filter := fmt.Sprintf("PartitionKey eq %s and RowKey ge %s and RowKey le %s", quote(sealPartition), quote(checkpointRowKey(last)), quote(checkpointRowKey(from)))
	rows, err := queryAll(ctx, s.audit, filter, "reading checkpoints")
	if err != nil {
		return nil, err
	}
	out := make([]auditlog.Sealed, 0, len(rows))
	for i := len(rows) - 1; i >= 0; i-- {
		sealed, err := sealedOfRow(rows[i])
		if err != nil {
			return nil, err
		}
		out = append(out, *sealed)
	}
	return out, nil
}

// pageToken is where a listing stopped: the table (0 operations, 1 audit,
// 2 keys, 3 policies, 4 subjects) and Table Storage's continuation.
type pageToken struct {
	Table int    `json:"t"`
	PK    string `json:"p,omitempty"`
	RK    string `json:"r,omitempty"`
}

// ListAudit lists the records matching f: one partition when f names an
// operation, else every table that holds records.
func (s *Store) ListAudit(ctx context.Context, f keyserver.AuditFilter) ([]auditlog.Stored, string, error) {
	var tok pageToken
	if f.Page != "" {
		b, err := base64.RawURLEncoding.DecodeString(f.Page)
		if err != nil || json.Unmarshal(b, &tok) != nil || tok.Table < 0 || tok.Table > lastRecordTable {
			return nil, "", keyserver.Errorf(keyserver.EINVALID, "page is not a token a previous page gave.")
		}
	}
	if f.OperationID != "" && !keyserver.ValidID(f.OperationID) {
		return nil, "", nil
	}
	var out []auditlog.Stored
	for len(out) < f.Limit && tok.Table <= lastRecordTable {
		c, filter := s.auditListFilter(f, tok.Table)
		if c == nil {
			tok = pageToken{Table: tok.Table + 1}
			continue
		}
		opts := &aztables.ListEntitiesOptions{Filter: &filter, Top: to.Ptr(int32(f.Limit - len(out)))}
		if tok.PK != "" {
			opts.NextPartitionKey, opts.NextRowKey = &tok.PK, &tok.RK
		}
		page, err := c.NewListEntitiesPager(opts).NextPage(ctx)
		if err != nil {
			return nil, "", classify(err, "listing audit records")
		}
		for _, b := range page.Entities {
			r, err := parseRow(b)
			if err != nil {
				return nil, "", err
			}
			out = append(out, storedOfRow(r))
		}
		if page.NextPartitionKey != nil {
			tok = pageToken{Table: tok.Table, PK: *page.NextPartitionKey}
			if page.NextRowKey != nil {
				tok.RK = *page.NextRowKey
			}
		} else {
			tok = pageToken{Table: tok.Table + 1}
		}
	}
	if tok.Table > lastRecordTable {
		return out, "", nil
	}
	return out, tok.String(), nil
}

func (t pageToken) String() string {
	b, _ := json.Marshal(t)
	return base64.RawURLEncoding.EncodeToString(b)
}

// lastRecordTable is the last table a listing reads (pageToken).
const lastRecordTable = 4

// auditListFilter is the OData filter of f on table t (pageToken); a nil
// client when t can hold no match.
func (s *Store) auditListFilter(f keyserver.AuditFilter, t int) (*aztables.Client, string) {
	var parts []string
	c := s.ops
	switch {
	case t == 0 && f.OperationID != "":
		parts = append(parts, "PartitionKey eq "+quote(f.OperationID))
	case t > 0 && f.OperationID != "":
		return nil, ""
	case t == 1:
		c = s.audit
		parts = append(parts, "PartitionKey ge "+quote(chainPartPrefix), "PartitionKey lt "+quote(prefixEnd(chainPartPrefix)))
	case t > 1:
		rt := s.adminRecordTables()[t-2]
		c = rt.c
		parts = append(parts, rt.filter)
	}
	if t <= 1 {
		parts = append(parts, "RowKey ge "+quote(recordPrefix), "RowKey lt "+quote(prefixEnd(recordPrefix)))
	}
	if !f.From.IsZero() {
		parts = append(parts, "Time ge "+quote(auditlog.Normalize(f.From).Format(recordTime)))
	}
	if !f.To.IsZero() {
		parts = append(parts, "Time lt "+quote(auditlog.Normalize(f.To).Format(recordTime)))
	}
	for name, v := range map[string]string{"KeyID": f.KeyID, "Event": f.Event} {
		if v != "" {
			parts = append(parts, name+" eq "+quote(v))
		}
	}
	if f.Subject != "" {
		parts = append(parts, "(ActorSubject eq "+quote(f.Subject)+" or Target eq "+quote(f.Subject)+")")
	}
	return c, strings.Join(parts, " and ")
}
