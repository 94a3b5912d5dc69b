package tablestore

import (
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

// useCount is what the op row keeps of one key's uses: N reserved or spent,
// and the number of the last reservation.
type useCount struct {
	N   int `json:"n"`
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
	// legacy marks a row written before uses were counted in it.
	legacy bool
	// at is when the row was read or written: what was true then.
	at time.Time
}

// Op row properties besides the operation's own.
const (
	usesProperty    = "Uses"
	closingProperty = "Closing"
)

func headOf(r *row) (*opHead, error) {
	var grants []grantRow
	if err := r.json("Keys", &grants); err != nil {
		return nil, err
	}
	h := &opHead{etag: azcore.ETag(r.ETag), uses: map[string]useCount{}, max: map[string]int{}, open: r.flag("Open"), closing: r.time(closingProperty), at: time.Now()}
	for _, g := range grants {
		h.max[g.KeyID] = g.MaxUsageCount
	}
	if r.str(usesProperty) == "" {
		h.legacy = true
		return h, nil
	}
	if err := r.json(usesProperty, &h.uses); err != nil {
		return nil, err
	}
	return h, nil
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
		set("RequesterIssuer", op.Requester.Issuer).
		set("RequesterSubject", op.Requester.Subject).
		set("Description", op.Description).
		setTime("Created", op.Created).
		setTime("Expires", op.Expires).
		setJSON("Keys", grants).
		set("Open", !op.Closed())
	if op.Rejected != nil {
		r.setJSON("Rejected", op.Rejected)
	}
	if op.Cancelled != nil {
		r.setJSON("Cancelled", op.Cancelled)
	}
	return r, nil
}

// opFromRow reads the operation in an op row. Usage counts come from h;
// approvals only as counts (ApprovalCount), and counted reports whether the
// row had every count.
func opFromRow(r *row, h *opHead) (op *keyserver.Operation, counted bool, err error) {
	op = &keyserver.Operation{
		ID:          r.PartitionKey,
		Requester:   keyserver.Principal{Issuer: r.str("RequesterIssuer"), Subject: r.str("RequesterSubject")},
		Description: r.str("Description"),
		Created:     r.time("Created"),
		Expires:     r.time("Expires"),
	}
	var grants []grantRow
	if err := r.json("Keys", &grants); err != nil {
		return nil, false, err
	}
	counted = true
	for _, g := range grants {
		kg := &keyserver.KeyGrant{KeyID: g.KeyID, MaxUsageCount: g.MaxUsageCount, RequiredApprovals: g.RequiredApprovals,
			HSMKey: g.HSMKey, Approvals: []keyserver.Approval{}, UsageCount: h.uses[g.KeyID].N}
		if g.ApprovalCount != nil {
			kg.ApprovalCount = *g.ApprovalCount
		} else {
			counted = false
		}
		op.Keys = append(op.Keys, kg)
	}
	for name, c := range map[string]**keyserver.Closure{"Rejected": &op.Rejected, "Cancelled": &op.Cancelled} {
		if r.str(name) == "" {
			continue
		}
		*c = &keyserver.Closure{}
		if err := r.json(name, *c); err != nil {
			return nil, false, err
		}
	}
	return op, counted, nil
}

func approvalRow(opID string, a keyserver.NewApproval) *row {
	return newRow(opID, approvalRowKey(a.KeyID, a.Approval.Approver)).
		set("KeyID", a.KeyID).
		set("ApproverIssuer", a.Approval.Approver.Issuer).
		set("ApproverSubject", a.Approval.Approver.Subject).
		set("Name", a.Approval.Name).
		setTime("Time", a.Approval.Time).
		set("Comment", a.Approval.Comment)
}

func approvalFromRow(r *row) keyserver.Approval {
	return keyserver.Approval{
		Approver: keyserver.Principal{Issuer: r.str("ApproverIssuer"), Subject: r.str("ApproverSubject")},
		Name:     r.str("Name"),
		Time:     r.time("Time"),
		Comment:  r.str("Comment"),
	}
}
