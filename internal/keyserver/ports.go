package keyserver

import (
	"context"
	"crypto"
	"time"
)

// AuditEvent records who did what, when, with which token issuer, and how it ended.
type AuditEvent struct {
	Time        time.Time `json:"time"`
	Actor       Principal `json:"actor"`
	Action      string    `json:"action"`
	OperationID string    `json:"operationid,omitempty"`
	KeyID       string    `json:"keyid,omitempty"`
	Target      string    `json:"target,omitempty"`
	Digest      string    `json:"digest,omitempty"`
	Result      string    `json:"result"`
	Detail      string    `json:"detail,omitempty"`
}

// Audit actions.
const (
	ActionCreate  = "operation.create"
	ActionApprove = "operation.approve"
	ActionReject  = "operation.reject"
	ActionCancel  = "operation.cancel"
	ActionExpire  = "operation.expire"
	ActionRemind  = "operation.remind"
	ActionExhaust = "operation.exhaust"
	ActionSign    = "sign"
	// ActionAuditKey introduces a certificate of the audit key.
	ActionAuditKey = "audit.key"
	ActionAdmin    = "admin" // admin changes' event before it named what changed
	// Admin changes, by what they change.
	ActionAdminKey     = "admin.key"
	ActionAdminSubject = "admin.subject"
	ActionAdminPolicy  = "admin.policy"
)

// Update is what a change to an operation writes besides the operation row:
// new approvals, one audit event and the events it emits, all in one
// transaction.
type Update struct {
	Approvals []NewApproval
	Audit     AuditEvent
	Events    []*Event
}

// NewApproval is an approval recorded for one key.
type NewApproval struct {
	KeyID    string
	Approval Approval
}

// Reservation is one use of a key, held between reservation and signing.
type Reservation struct {
	OperationID string
	KeyID       string
	// Seq numbers the reservation among the uses of KeyID in the
	// operation; a number is never given twice.
	Seq int
	// Token is the store's own handle, if it needs one.
	Token string
	// AuditRecord is set by CompleteUse to the id of the record it wrote.
	AuditRecord string
}

// OperationFilter narrows ListOperations. The store may return more than
// asked; the service filters again.
type OperationFilter struct {
	OpenAt       time.Time // only operations not closed and not expired at this time
	CreatedSince time.Time // only operations created at or after this time
	// KeyIDs, when not nil, keeps operations naming one of these keys.
	KeyIDs []string
}

// OperationStore keeps operations, their approvals, uses, audit events and
// outbox, one consistency unit per operation.
type OperationStore interface {
	// CreateOperation writes op with its audit event and events.
	CreateOperation(ctx context.Context, op *Operation, ev AuditEvent, events []*Event) error
	// Operation returns ENOTFOUND when id does not exist.
	Operation(ctx context.Context, id string) (*Operation, error)
	ListOperations(ctx context.Context, f OperationFilter) ([]*Operation, error)
	// UpdateOperation loads the operation, lets fn change it and writes the
	// result and fn's Update atomically, retrying a bounded number of times
	// when another writer got there first. An error from fn writes nothing.
	// An update that closes the operation (rejects or cancels it) revokes
	// its outstanding reservations atomically with the change: no use
	// reserved before it commits can be completed after.
	UpdateOperation(ctx context.Context, id string, fn func(*Operation) (*Update, error)) (*Operation, error)
	// ReserveUse takes one use of keyID, never letting the uses (reserved
	// and spent) pass max. It returns EEXHAUSTED when none is left and
	// ECLOSED when the operation is closed or being closed.
	ReserveUse(ctx context.Context, opID, keyID string, max int) (*Reservation, error)
	// CompleteUse marks a reserved use spent and writes ev in the same
	// transaction. A reservation no longer held gets ECLOSED when the
	// operation is closed (closing revoked it) and ECONFLICT otherwise (it
	// was completed or released); both write nothing.
	CompleteUse(ctx context.Context, r *Reservation, ev AuditEvent) error
	// ReleaseUse gives a reserved use back and writes ev in the same
	// transaction; it fails as CompleteUse does and then writes nothing.
	ReleaseUse(ctx context.Context, r *Reservation, ev AuditEvent) error
	// RecordEvent writes an audit event into the operation's partition.
	RecordEvent(ctx context.Context, opID string, ev AuditEvent) error
	// MarkPublished records that events of operation opID reached the
	// topic; marking one twice, or one already gone, is not an error.
	MarkPublished(ctx context.Context, opID string, eventIDs []string) error
	// ClaimIdempotencyKey stores rec unless rec.Requester already used
	// rec.Key; it returns the stored record, and fresh is true when that is rec.
	ClaimIdempotencyKey(ctx context.Context, rec IdempotencyRecord) (stored *IdempotencyRecord, fresh bool, err error)
}

// SigningLoader is an optional ability of an OperationStore: loading an
// operation for signing in as few reads as the store can. The operation is
// as Operation returns it, except that a grant's Approvals may be left out,
// their number then being in ApprovalCount, and its SpentCount left at 0.
type SigningLoader interface {
	OperationForSigning(ctx context.Context, id string) (*Operation, error)
}

// ExhaustingCompleter is an optional ability of an OperationStore:
// CompleteUse that also tells, from the use counts it keeps, whether the use
// it completes is the operation's last (every use of every key spent). If so
// and the operation is open and usage.exhausted not noted yet, it sets
// ExhaustedNoted and writes what noted returns for the operation (with every
// use spent and the flag set) in the same transaction as the completion, and
// returns those events, committed; otherwise it returns none. noted may be
// nil: then nothing is noted.
type ExhaustingCompleter interface {
	CompleteUseNoting(ctx context.Context, res *Reservation, ev AuditEvent, noted func(*Operation) *Update) ([]*Event, error)
}

// EventReader is an optional ability of an OperationStore: reading back the
// audit events of one operation, oldest first.
type EventReader interface {
	OperationEvents(ctx context.Context, opID string) ([]AuditEvent, error)
}

// UpkeepStore is an optional ability of an OperationStore: the indexes the
// upkeep function works from, so that its cost grows with the work pending
// (open operations, unsent events, operations due for deletion), never with
// the history the store keeps.
type UpkeepStore interface {
	// UnsentEvents returns up to limit events committed but not marked
	// published, written before before, oldest first.
	UnsentEvents(ctx context.Context, before time.Time, limit int) ([]*Event, error)
	// DueOperations returns up to limit ids of operations whose upkeep
	// (Operation.NextUpkeep) is due at now.
	DueOperations(ctx context.Context, now time.Time, limit int) ([]string, error)
	// Settle brings what the store keeps for upkeep of operation id in line
	// with the operation as it is now, including one that does not exist.
	Settle(ctx context.Context, id string, now time.Time) error
	// FinishedBefore returns up to limit operations that finished
	// (Operation.Finished) before cutoff, oldest first.
	FinishedBefore(ctx context.Context, cutoff time.Time, limit int) ([]Finished, error)
	// DeleteOperation deletes an operation that finished at finished,
	// keeping its audit events and events. Deleting one already gone is not
	// an error.
	DeleteOperation(ctx context.Context, f Finished) error
}

// Finished names an operation that ended, and when.
type Finished struct {
	ID string
	At time.Time
}

// KeyStore keeps registered keys.
type KeyStore interface {
	// Key returns ENOTFOUND when keyID is not registered.
	Key(ctx context.Context, keyID string) (*Key, error)
	Keys(ctx context.Context) ([]*Key, error)
	// PutKey writes k and, unless ev is empty, ev as the next record of
	// the keys' audit chain (auditlog.KeysChain), in one transaction.
	PutKey(ctx context.Context, k *Key, ev AuditEvent) error
	// DeleteKey returns ENOTFOUND when keyID is not registered; it writes
	// ev as PutKey does. A change that fails writes no record.
	DeleteKey(ctx context.Context, keyID string, ev AuditEvent) error
}

// SubjectStore keeps registered subjects.
type SubjectStore interface {
	// Subject returns ENOTFOUND when p is not registered.
	Subject(ctx context.Context, p Principal) (*Subject, error)
	// SubjectsByID returns every registration of a subject id, across issuers and kinds.
	SubjectsByID(ctx context.Context, subject string) ([]*Subject, error)
	// PutSubject writes s and, unless ev is empty, ev as the next record
	// of the chain of s's subject id (auditlog.SubjectChain), in one
	// transaction.
	PutSubject(ctx context.Context, s *Subject, ev AuditEvent) error
	// DeleteSubject returns ENOTFOUND when p is not registered; it writes
	// ev as PutSubject does. A change that fails writes no record.
	DeleteSubject(ctx context.Context, p Principal, ev AuditEvent) error
}

// PolicyStore keeps trust policies.
type PolicyStore interface {
	// Policies returns every policy, ordered by id.
	Policies(ctx context.Context) ([]*Policy, error)
	// Policy returns ENOTFOUND when id does not exist.
	Policy(ctx context.Context, id string) (*Policy, error)
	// PutPolicy writes p and, unless ev is empty, ev as the next record of
	// the policies' audit chain (auditlog.PoliciesChain), in one transaction.
	PutPolicy(ctx context.Context, p *Policy, ev AuditEvent) error
	// DeletePolicy returns ENOTFOUND when id does not exist; it writes ev
	// as PutPolicy does. A change that fails writes no record.
	DeletePolicy(ctx context.Context, id string, ev AuditEvent) error
}

// SubjectLister is an optional ability of a SubjectStore: listing every
// registered subject (the admin list, and the approvers an event should reach).
type SubjectLister interface {
	Subjects(ctx context.Context) ([]*Subject, error)
}

// AuditLog keeps the refusals that concern no operation the caller may
// read, each in its caller's chain.
type AuditLog interface {
	RecordAudit(ctx context.Context, ev AuditEvent) error
}

// Publisher publishes an event to those who should hear of it (Service Bus).
// Publishing an event twice is harmless: receivers drop a duplicate id.
type Publisher interface {
	Publish(ctx context.Context, ev *Event) error
}

// TokenVerifier turns a bearer token into the identity of its bearer, or
// fails with EUNAUTHENTICATED.
type TokenVerifier interface {
	Verify(ctx context.Context, token string) (Identity, error)
}

// ContextSigner is a crypto.Signer whose I/O takes a context. ECDSA
// signatures are ASN.1 DER, as with crypto.Signer; opts is a crypto.Hash or
// an *rsa.PSSOptions.
type ContextSigner interface {
	Public() crypto.PublicKey
	SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error)
}

// KeyBackend opens HSM keys by reference. Failures carry ERATELIMITED or
// EUNAVAILABLE when the HSM is in trouble, ENOTFOUND when the key is gone.
type KeyBackend interface {
	Open(ctx context.Context, hsmKey string) (ContextSigner, error)
}

// KeyPinner is an optional ability of a KeyBackend whose keys have versions:
// Pin resolves a reference to the reference of one version, read from the
// HSM now, whose key never changes. Keys are registered pinned, so that every
// instance signs with the version the key's certificate carries.
type KeyPinner interface {
	Pin(ctx context.Context, hsmKey string) (string, error)
}

// AttributedSigner is an optional ability of a ContextSigner whose key has
// versions: SignAttributed also returns the public key of the version that
// made the signature, as the HSM's answer names it.
type AttributedSigner interface {
	SignAttributed(ctx context.Context, digest []byte, opts crypto.SignerOpts) (sig []byte, signedBy crypto.PublicKey, err error)
}

// HealthChecker is implemented by adapters that can report their health.
type HealthChecker interface {
	Health(ctx context.Context) error
}
