package ksfake

import (
	"slices"
	"strings"
	"time"
)

// Op is an operation in the fake, opened through POST /api/operations.
type Op struct {
	ID          string
	Requester   string // the subject that opened it
	Description string
	Created     time.Time
	Expires     time.Time
	Keys        []OpKey
	RejectedBy  string
	CancelledBy string
	Reason      string
}

// OpKey is one key of an Op.
type OpKey struct {
	KeyID     string
	Max       int
	Used      int
	Required  int
	Approvers []string
}

// opBook is the fake's operations, guarded by Fake.mu.
type opBook struct {
	byID    map[string]*Op
	idem    map[string]idemEntry // token + "\x00" + Idempotency-Key
	tokens  map[string]string    // accepted besides Token: token -> subject
	revoked map[string]bool
	creates int
	reads   int
}

type idemEntry struct {
	opID string
	body string
}

func (f *Fake) now() time.Time {
	if f.Now != nil {
		return f.Now()
	}
	return time.Now()
}

// Subject is who Token (and AcceptToken's tokens) authenticate.
const Subject = "requester"

// AcceptToken makes tok a valid bearer token too, for the same Subject as
// Token (a renewed token).
func (f *Fake) AcceptToken(tok string) { f.AcceptTokenFor(tok, Subject) }

// AcceptTokenFor makes tok a valid bearer token for subject.
func (f *Fake) AcceptTokenFor(tok, subject string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ops.tokens == nil {
		f.ops.tokens = map[string]string{}
	}
	f.ops.tokens[tok] = subject
}

// RevokeToken makes tok answer 401.
func (f *Fake) RevokeToken(tok string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ops.revoked == nil {
		f.ops.revoked = map[string]bool{}
	}
	f.ops.revoked[tok] = true
}

// authorized returns the subject of a valid Authorization header.
func (f *Fake) authorized(header string) (string, bool) {
	tok, ok := strings.CutPrefix(header, "Bearer ")
	f.mu.Lock()
	defer f.mu.Unlock()
	if !ok || f.ops.revoked[tok] {
		return "", false
	}
	if tok == f.Token {
		return Subject, true
	}
	subject, ok := f.ops.tokens[tok]
	return subject, ok
}

// Operation returns a copy of an operation, or nil.
func (f *Fake) Operation(id string) *Op {
	f.mu.Lock()
	defer f.mu.Unlock()
	op := f.ops.byID[id]
	if op == nil {
		return nil
	}
	c := *op
	c.Keys = slices.Clone(op.Keys)
	return &c
}

// OperationCalls returns how many operations were created and read.
func (f *Fake) OperationCalls() (creates, reads int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ops.creates, f.ops.reads
}

// Approve adds an approval by name to every key of the operation that needs one.
func (f *Fake) Approve(id, name string) {
	f.change(id, func(op *Op) {
		for i := range op.Keys {
			if len(op.Keys[i].Approvers) < op.Keys[i].Required {
				op.Keys[i].Approvers = append(op.Keys[i].Approvers, name)
			}
		}
	})
}

// Reject ends the operation as rejected by name.
func (f *Fake) Reject(id, name, reason string) {
	f.change(id, func(op *Op) { op.RejectedBy, op.Reason = name, reason })
}

// Cancel ends the operation as cancelled by name.
func (f *Fake) Cancel(id, name string) {
	f.change(id, func(op *Op) { op.CancelledBy = name })
}

func (f *Fake) change(id string, fn func(*Op)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if op := f.ops.byID[id]; op != nil {
		fn(op)
	}
}

func (op *Op) status(now time.Time) string {
	switch {
	case op.RejectedBy != "":
		return "rejected"
	case op.CancelledBy != "":
		return "cancelled"
	case !now.Before(op.Expires):
		return "expired"
	}
	exhausted, approved := true, true
	for _, k := range op.Keys {
		exhausted = exhausted && k.Used >= k.Max
		approved = approved && len(k.Approvers) >= k.Required
	}
	switch {
	case exhausted:
		return "exhausted"
	case approved:
		return "approved"
	}
	return "pending"
}
