package tablestore

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"keyserver/internal/keyserver"
)

// grantRow is what the op row keeps of a grant: the approvals are rows of
// their own, of which the op row keeps the number, so that signing reads
// the op row alone.
type grantRow struct {
	KeyID             string `json:"keyid"`
	MaxUsageCount     int    `json:"maxusagecount"`
	RequiredApprovals int    `json:"requiredapprovals"`
	HSMKey            string `json:"hsmkey,omitempty"`
	// ApprovalCount is nil in rows written before it was kept.
	ApprovalCount *int `json:"approvalcount,omitempty"`
}

// closureRow is how the op row keeps a rejection or cancellation.
type closureRow struct {
	By struct {
		Issuer  string         `json:"issuer"`
		Subject string         `json:"subject"`
		Kind    keyserver.Kind `json:"kind"` // absent (an app) in rows written before people
	} `json:"by"`
	Time   time.Time `json:"time"`
	Reason string    `json:"reason,omitempty"`
}

func closureRowOf(c *keyserver.Closure) closureRow {
	var r closureRow
	r.By.Issuer, r.By.Subject, r.By.Kind, r.Time, r.Reason = c.By.Issuer, c.By.Subject, c.By.Kind, c.Time, c.Reason
	return r
}

// useCount is what the op row keeps of one key's uses: N reserved or spent,
// S spent, and the number of the last reservation.
type useCount struct {
	N   int `json:"n"`
	S   int `json:"s"`
	Seq int `json:"seq"`
}

// opHead is what the op row says about uses and closing: all a reservation
// needs to know, and what it changes, under the row's ETag.
type opHead struct {
	etag azcore.ETag
	uses map[string]useCount // by key id
	max  map[string]int      // by key id
	open bool
	// closing is the end of a closer's fence: until then no use is reserved.
	closing time.Time
	// legacy marks a row written before uses were counted in it;
	// legacyReserved then counts its use rows still reserved, by key.
	legacy         bool
	legacyReserved map[string]int
	// spentUnknown marks a row that counts uses but not yet the spent ones.
	spentUnknown bool
	// at is when the row was read or written: what was true then.
	at time.Time
	// entity is the rest of the row as read; it does not change with uses.
	entity *opEntity
}

// Op row properties besides the operation's own.
const (
	usesProperty    = "Uses"
	closingProperty = "Closing"
)

// opEntity is the op row as Table Storage returns it, decoded without the
// generic entity's maps: the sign path reads it for every signature.
type opEntity struct {
	PartitionKey     string
	RowKey           string
	ETag             string `json:"odata.etag"`
	RequesterIssuer  string
	RequesterSubject string
	RequesterKind    string
	Description      string
	Created          string
	Expires          string
	Keys             string
	Uses             string
	Open             bool
	Reminded         bool
	ExpiryNoted      bool
	ExhaustedNoted   bool
	Closing          string
	Rejected         string
	Cancelled        string
	BuildContext     string

	grants []grantRow
	// created, expires and closing are Created, Expires and Closing parsed
	// once, when the row is read: the sign path reads them for every
	// signature.
	created, expires, closing time.Time
}

func parseOpEntity(b []byte) (*opEntity, error) {
	e := &opEntity{}
	if err := json.Unmarshal(b, e); err != nil {
		return nil, fmt.Errorf("decoding an op row: %w", err)
	}
	if err := jsonField(e, "Keys", e.Keys, &e.grants); err != nil {
		return nil, err
	}
	e.created, e.expires, e.closing = entityTime(e.Created), entityTime(e.Expires), entityTime(e.Closing)
	return e, nil
}

func jsonField(e *opEntity, name, s string, v any) error {
	if s == "" {
		return nil
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return fmt.Errorf("decoding %s of the op row of %s: %w", name, e.PartitionKey, err)
	}
	return nil
}

// entityPrincipal is row.principal for an opEntity.
func entityPrincipal(issuer, subject, kind string) keyserver.Principal {
	p := keyserver.Principal{Issuer: issuer, Subject: subject}
	if kind == keyserver.KindPerson.String() {
		p.Kind = keyserver.KindPerson
	}
	return p
}

func entityTime(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t.UTC()
}

func headOf(e *opEntity) (*opHead, error) {
	h := &opHead{etag: azcore.ETag(e.ETag), uses: map[string]useCount{}, max: map[string]int{}, open: e.Open, closing: e.closing, at: time.Now(), entity: e}
	for _, g := range e.grants {
		h.max[g.KeyID] = g.MaxUsageCount
	}
	if e.Uses == "" {
		h.legacy = true
		return h, nil
	}
	if err := jsonField(e, usesProperty, e.Uses, &h.uses); err != nil {
		return nil, err
	}
	h.spentUnknown = !strings.Contains(e.Uses, `"s":`)
	return h, nil
}

// allSpent reports whether every use of every key is spent.
func (h *opHead) allSpent() bool {
	for k, m := range h.max {
		if h.uses[k].S < m {
			return false
		}
	}
	return len(h.max) > 0
}

func (h *opHead) clone() *opHead {
	c := *h
	c.uses = make(map[string]useCount, len(h.uses))
	for k, u := range h.uses {
		c.uses[k] = u
	}
	return &c
}

// fenced reports whether a closer's fence stands at now.
func (h *opHead) fenced(now time.Time) bool { return now.Before(h.closing) }

// usesRow is the merge of the op row that records h's uses.
func (h *opHead) usesRow(opID string) *row {
	return newRow(opID, opRow).setJSON(usesProperty, h.uses)
}

// newUses is the uses record of a new operation.
func newUses(op *keyserver.Operation) map[string]useCount {
	m := make(map[string]useCount, len(op.Keys))
	for _, g := range op.Keys {
		m[g.KeyID] = useCount{}
	}
	return m
}

func opRowOf(op *keyserver.Operation) (*row, error) {
	grants := make([]grantRow, len(op.Keys))
	for i, g := range op.Keys {
		if err := keyserver.ValidateKeyID(g.KeyID); err != nil {
			return nil, err
		}
		n := max(len(g.Approvals), g.ApprovalCount)
		grants[i] = grantRow{KeyID: g.KeyID, MaxUsageCount: g.MaxUsageCount, RequiredApprovals: g.RequiredApprovals, HSMKey: g.HSMKey, ApprovalCount: &n}
	}
	r := newRow(op.ID, opRow).
		setPrincipal("Requester", op.Requester).
		set("Description", op.Description).
		setTime("Created", op.Created).
		setTime("Expires", op.Expires).
		setJSON("Keys", grants).
		set("Open", !op.Closed()).
		set("Reminded", op.Reminded).
		set("ExpiryNoted", op.ExpiryNoted).
		set("ExhaustedNoted", op.ExhaustedNoted)
	if op.Rejected != nil {
		r.setJSON("Rejected", closureRowOf(op.Rejected))
	}
	if op.Cancelled != nil {
		r.setJSON("Cancelled", closureRowOf(op.Cancelled))
	}
	if op.BuildContext != nil {
		r.setJSON("BuildContext", buildContextRowOf(op.BuildContext))
	}
	return r, nil
}

// opFromRow reads the operation in an op row. Usage counts come from h;
// approvals only as counts (ApprovalCount), and counted reports whether the
// row had every count.
func opFromRow(e *opEntity, h *opHead) (op *keyserver.Operation, counted bool, err error) {
	op = &keyserver.Operation{
		ID:          e.PartitionKey,
		Requester:   entityPrincipal(e.RequesterIssuer, e.RequesterSubject, e.RequesterKind),
		Description: e.Description,
		Created:     e.created,
		Expires:     e.expires,

		Reminded:       e.Reminded,
		ExpiryNoted:    e.ExpiryNoted,
		ExhaustedNoted: e.ExhaustedNoted,
	}
	counted = true
	for _, g := range e.grants {
		kg := &keyserver.KeyGrant{KeyID: g.KeyID, MaxUsageCount: g.MaxUsageCount, RequiredApprovals: g.RequiredApprovals,
			HSMKey: g.HSMKey, Approvals: []keyserver.Approval{}, UsageCount: h.uses[g.KeyID].N}
		if g.ApprovalCount != nil {
			kg.ApprovalCount = *g.ApprovalCount
		} else {
			counted = false
		}
		op.Keys = append(op.Keys, kg)
	}
	if e.BuildContext != "" {
		var bc buildContextRow
		if err := jsonField(e, "BuildContext", e.BuildContext, &bc); err != nil {
			return nil, false, err
		}
		op.BuildContext = bc.domain()
	}
	for _, c := range []struct {
		name, s string
		to      **keyserver.Closure
	}{{"Rejected", e.Rejected, &op.Rejected}, {"Cancelled", e.Cancelled, &op.Cancelled}} {
		if c.s == "" {
			continue
		}
		var cr closureRow
		if err := jsonField(e, c.name, c.s, &cr); err != nil {
			return nil, false, err
		}
		*c.to = &keyserver.Closure{By: keyserver.Principal{Issuer: cr.By.Issuer, Subject: cr.By.Subject, Kind: cr.By.Kind}, Time: cr.Time, Reason: cr.Reason}
	}
	return op, counted, nil
}

func approvalRow(opID string, a keyserver.NewApproval) *row {
	return newRow(opID, approvalRowKey(a.KeyID, a.Approval.Approver)).
		set("KeyID", a.KeyID).
		setPrincipal("Approver", a.Approval.Approver).
		set("Name", a.Approval.Name).
		setTime("Time", a.Approval.Time).
		set("Comment", a.Approval.Comment)
}

func approvalFromRow(r *row) keyserver.Approval {
	return keyserver.Approval{
		Approver: r.principal("Approver"),
		Name:     r.str("Name"),
		Time:     r.time("Time"),
		Comment:  r.str("Comment"),
	}
}
