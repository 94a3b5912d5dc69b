package keyserver

import (
	"crypto/rand"
	"encoding/hex"
	"time"
	"unicode/utf8"
)

// Status is derived from an operation's fields and the current time.
type Status string

const (
	StatusPending   Status = "pending"
	StatusApproved  Status = "approved"
	StatusExpired   Status = "expired"
	StatusExhausted Status = "exhausted"
	StatusRejected  Status = "rejected"
	StatusCancelled Status = "cancelled"
)

// Approval is one approver's consent to the uses of one key.
type Approval struct {
	Approver Principal
	Name     string
	Time     time.Time
	Comment  string
}

// KeyGrant is what an operation allows for one key.
type KeyGrant struct {
	KeyID         string
	MaxUsageCount int
	// UsageCount counts the uses reserved or spent; SpentCount only those
	// spent, which a SigningLoader may leave at 0.
	UsageCount        int
	SpentCount        int
	RequiredApprovals int
	Approvals         []Approval
	// ApprovalCount is the number of approvals when a SigningLoader left
	// Approvals out; otherwise 0.
	ApprovalCount int
	// HSMKey is the HSM key the grant was opened for; approvals hold for it only.
	HSMKey string
}

// Approved reports whether the grant has the approvals it needs.
func (g *KeyGrant) Approved() bool {
	return max(len(g.Approvals), g.ApprovalCount) >= g.RequiredApprovals
}

// ApprovedBy reports whether p already approved this grant.
func (g *KeyGrant) ApprovedBy(p Principal) bool {
	for _, a := range g.Approvals {
		if a.Approver == p {
			return true
		}
	}
	return false
}

// Closure records who ended an operation, when and why.
type Closure struct {
	By     Principal
	Time   time.Time
	Reason string
}

// Operation is a ticket: a validity window, a description for approvers and
// the keys it may use.
type Operation struct {
	ID          string
	Requester   Principal
	Description string
	Created     time.Time
	Expires     time.Time
	Keys        []*KeyGrant
	Rejected    *Closure
	Cancelled   *Closure
	// BuildContext is where the operation came from, from the requester's token.
	BuildContext *BuildContext
	// Reminded is set once the reminder was sent; ExpiryNoted once upkeep
	// wrote the operation.expired event; ExhaustedNoted once the
	// usage.exhausted event was written. Each makes its event happen once.
	Reminded       bool
	ExpiryNoted    bool
	ExhaustedNoted bool
}

// Exhausted reports whether every use of every key was spent. Spent uses
// are never given back, so once true it stays true.
func (o *Operation) Exhausted() bool {
	for _, g := range o.Keys {
		if g.SpentCount < g.MaxUsageCount {
			return false
		}
	}
	return len(o.Keys) > 0
}

// ReminderAt is when a still pending operation gets its reminder: half way
// through its validity.
func (o *Operation) ReminderAt() time.Time { return o.Created.Add(o.Expires.Sub(o.Created) / 2) }

// NextUpkeep returns when upkeep must next look at the operation, as seen at
// now; false once it has nothing left to do there (closed, or its expiry
// noted).
func (o *Operation) NextUpkeep(now time.Time) (time.Time, bool) {
	switch {
	case o.Closed() || o.ExpiryNoted:
		return time.Time{}, false
	case !o.Reminded && o.Status(now) == StatusPending:
		return o.ReminderAt(), true
	}
	return o.Expires, true
}

// Finished returns when the operation ended for good (closed, or expired
// and noted), from which its retention runs.
func (o *Operation) Finished() (time.Time, bool) {
	switch {
	case o.Rejected != nil:
		return o.Rejected.Time, true
	case o.Cancelled != nil:
		return o.Cancelled.Time, true
	case o.ExpiryNoted:
		return o.Expires, true
	}
	return time.Time{}, false
}

// Grant returns the operation's grant for keyID, or nil.
func (o *Operation) Grant(keyID string) *KeyGrant {
	for _, g := range o.Keys {
		if g.KeyID == keyID {
			return g
		}
	}
	return nil
}

// Status derives the operation's state at now. Terminal states win over
// expiry, expiry over exhaustion, exhaustion over approval.
func (o *Operation) Status(now time.Time) Status {
	switch {
	case o.Rejected != nil:
		return StatusRejected
	case o.Cancelled != nil:
		return StatusCancelled
	case !now.Before(o.Expires):
		return StatusExpired
	}
	exhausted, approved := true, true
	for _, g := range o.Keys {
		if g.UsageCount < g.MaxUsageCount {
			exhausted = false
		}
		if !g.Approved() {
			approved = false
		}
	}
	switch {
	case exhausted:
		return StatusExhausted
	case approved:
		return StatusApproved
	}
	return StatusPending
}

// Approved reports whether every key has its approvals and the operation is
// still usable.
func (o *Operation) Approved(now time.Time) bool { return o.Status(now) == StatusApproved }

// Closed reports whether the operation was rejected or cancelled.
func (o *Operation) Closed() bool { return o.Rejected != nil || o.Cancelled != nil }

// IsRequester reports whether p opened the operation.
func (o *Operation) IsRequester(p Principal) bool { return o.Requester == p }

// CanApproveAny reports whether c may approve at least one of the operation's keys.
func (o *Operation) CanApproveAny(c Caller) bool {
	if o.IsRequester(c.Principal) {
		return false
	}
	for _, g := range o.Keys {
		if c.CanApprove(g.KeyID) {
			return true
		}
	}
	return false
}

// CanRead reports whether c may see the operation: its requester, an
// approver of one of its keys, an admin or an auditor.
func (o *Operation) CanRead(c Caller) bool {
	if o.IsRequester(c.Principal) || c.IsAdmin() || c.IsAuditor() {
		return true
	}
	for _, g := range o.Keys {
		if c.CanApprove(g.KeyID) {
			return true
		}
	}
	return false
}

// NewID returns an unguessable operation id of 160 random bits.
func NewID() string {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		panic("keyserver: reading random bytes: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// ValidID reports whether id has the shape NewID produces, so that a
// malformed id never reaches storage.
func ValidID(id string) bool {
	if len(id) != 40 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// Limits bound what an operation may ask for.
type Limits struct {
	MaxValidity      time.Duration
	MaxUsageCount    int
	MinDescription   int
	MaxDescription   int
	MaxKeysPerTicket int
}

// DefaultLimits are the limits used when configuration sets none.
var DefaultLimits = Limits{
	MaxValidity:      24 * time.Hour,
	MaxUsageCount:    1000,
	MinDescription:   8,
	MaxDescription:   1024,
	MaxKeysPerTicket: 32,
}

// KeyRequest is one key an operation asks for, and how many uses.
type KeyRequest struct {
	KeyID         string
	MaxUsageCount int
}

// OperationRequest is what POST /api/operations asks for.
type OperationRequest struct {
	ValidMS     int64
	Description string
	Keys        []KeyRequest
}

// Validate checks the request's shape against l, without looking keys up.
func (r *OperationRequest) Validate(l Limits) error {
	if r.ValidMS <= 0 {
		return Errorf(EINVALID, "validms must be a positive number of milliseconds.")
	}
	if time.Duration(r.ValidMS)*time.Millisecond > l.MaxValidity || r.ValidMS > l.MaxValidity.Milliseconds() {
		return Errorf(EINVALID, "validms must not exceed %d (%s).", l.MaxValidity.Milliseconds(), l.MaxValidity)
	}
	n := utf8.RuneCountInString(r.Description)
	if n < l.MinDescription || n > l.MaxDescription {
		return Errorf(EINVALID, "description must be between %d and %d characters long; it is %d.", l.MinDescription, l.MaxDescription, n)
	}
	if len(r.Keys) == 0 {
		return Errorf(EINVALID, "new-keyusagerestrictions must name at least one key.")
	}
	if len(r.Keys) > l.MaxKeysPerTicket {
		return Errorf(EINVALID, "new-keyusagerestrictions may name at most %d keys.", l.MaxKeysPerTicket)
	}
	seen := map[string]bool{}
	for _, k := range r.Keys {
		if err := ValidateKeyID(k.KeyID); err != nil {
			return err
		}
		if seen[k.KeyID] {
			return Errorf(EINVALID, "Key %q is named more than once.", k.KeyID)
		}
		seen[k.KeyID] = true
		if k.MaxUsageCount < 1 || k.MaxUsageCount > l.MaxUsageCount {
			return Errorf(EINVALID, "maxusagecount for key %q must be between 1 and %d.", k.KeyID, l.MaxUsageCount)
		}
	}
	return nil
}
