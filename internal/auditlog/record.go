// Package auditlog is the tamper-evident audit trail: records chained by
// hash, an RFC 6962 Merkle tree over them, signed checkpoints, proofs, and
// an offline verifier. It imports no Azure SDK and no other package of the
// Keyserver; docs/AUDIT.md specifies every byte it hashes or signs.
package auditlog

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Hash is a SHA-256 value.
type Hash [32]byte

func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// IsZero reports whether h is all zeros (the Prev of a chain's first record).
func (h Hash) IsZero() bool { return h == Hash{} }

// ParseHash reads 64 lowercase or uppercase hex digits.
func ParseHash(s string) (Hash, error) {
	var h Hash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, fmt.Errorf("%q is not a SHA-256 hash in hex", s)
	}
	copy(h[:], b)
	return h, nil
}

// MarshalText writes h as hex.
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText reads h from hex.
func (h *Hash) UnmarshalText(b []byte) error {
	v, err := ParseHash(string(b))
	if err == nil {
		*h = v
	}
	return err
}

// Record is one audit event in its chain. Every field is hashed.
type Record struct {
	Chain        string    // the chain: "op/<operation id>", "admin/keys", "caller/<hash>", ... (docs/AUDIT.md)
	Seq          uint64    // 1 for a chain's first record, then one more each time
	Prev         Hash      // the LeafHash of record Seq-1 of the chain; zero for Seq 1
	Time         time.Time // kept to the microsecond, UTC
	Event        string    // what happened: see the Event* constants
	ActorIssuer  string    // who did it: the token issuer
	ActorSubject string    // and the subject
	ActorKind    string    // "person" or "app"
	OperationID  string
	KeyID        string
	Target       string // for admin changes: the key, subject or policy changed
	Digest       string // for signatures: the signed digest, hex
	Result       string // "ok", "refused: <code>" or "failed: <code>"
	Detail       string
}

// Event types.
const (
	EventCreate       = "operation.create"
	EventApprove      = "operation.approve"
	EventReject       = "operation.reject"
	EventCancel       = "operation.cancel"
	EventExpire       = "operation.expire"
	EventSign         = "sign"
	EventAdminKey     = "admin.key"
	EventAdminSubject = "admin.subject"
	EventAdminPolicy  = "admin.policy"
	EventAuditKey     = "audit.key"
	// AdminChain held every admin change before each change was recorded
	// in its own partition; its records stay readable and verifiable.
	AdminChain = "admin"
	// KeysChain and PoliciesChain hold the admin changes to keys and to
	// trust policies; SubjectChain names the chain of one subject id's.
	KeysChain     = "admin/keys"
	PoliciesChain = "admin/policies"
	subjectChain  = "admin/subject/"
	// AuditKeyChain holds the audit key's certificates, each record
	// introducing one (EventAuditKey).
	AuditKeyChain      = "auditkey"
	recordTag          = "ks-audit-record/v1"
	maxChainLen        = 512
	maxFieldLen        = 1 << 16
	leafPrefix    byte = 0x00
	nodePrefix    byte = 0x01
)

// OperationChain names the chain of an operation's records.
func OperationChain(opID string) string { return "op/" + opID }

// SubjectChain names the chain of the admin changes to the registrations
// of a subject id, under any issuer and of either kind: the id in
// unpadded base64url (RFC 4648, section 5).
func SubjectChain(subject string) string {
	return subjectChain + base64.RawURLEncoding.EncodeToString([]byte(subject))
}

// SubjectOfChain returns the subject id whose chain SubjectChain named.
func SubjectOfChain(chain string) (string, bool) {
	enc, ok := strings.CutPrefix(chain, subjectChain)
	if !ok || enc == "" {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil || base64.RawURLEncoding.EncodeToString(b) != enc {
		return "", false
	}
	return string(b), true
}

// CallerChain names the chain of the refusals of a caller that concern no
// operation it may read: hex of the first 16 bytes of
// SHA-256(issuer, 0x00, subject, 0x00, kind).
func CallerChain(issuer, subject, kind string) string {
	h := sha256.Sum256([]byte(issuer + "\x00" + subject + "\x00" + kind))
	return "caller/" + hex.EncodeToString(h[:16])
}

// ID names a record: "<chain>#<seq>".
func (r *Record) ID() string { return RecordID(r.Chain, r.Seq) }

// RecordID names record seq of chain.
func RecordID(chain string, seq uint64) string { return chain + "#" + strconv.FormatUint(seq, 10) }

// ParseRecordID splits a record id into chain and sequence number.
func ParseRecordID(id string) (string, uint64, error) {
	i := strings.LastIndexByte(id, '#')
	if i <= 0 {
		return "", 0, fmt.Errorf("%q is not a record id (<chain>#<seq>)", id)
	}
	seq, err := strconv.ParseUint(id[i+1:], 10, 64)
	if err != nil || seq == 0 {
		return "", 0, fmt.Errorf("%q is not a record id (<chain>#<seq>)", id)
	}
	return id[:i], seq, nil
}

// Normalize truncates t to the microsecond in UTC, as records keep it.
func Normalize(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func (r *Record) fields() []string {
	return []string{r.Chain, r.Event, r.ActorIssuer, r.ActorSubject, r.ActorKind, r.OperationID, r.KeyID, r.Target, r.Digest, r.Result, r.Detail}
}

// Check reports a record that cannot be encoded.
func (r *Record) Check() error {
	if r.Chain == "" || len(r.Chain) > maxChainLen {
		return errors.New("a record's chain must be 1 to 512 bytes")
	}
	if r.Seq == 0 {
		return errors.New("a record's sequence number starts at 1")
	}
	if (r.Seq == 1) != r.Prev.IsZero() {
		return errors.New("only a chain's first record has a zero previous hash")
	}
	for _, f := range r.fields() {
		if len(f) > maxFieldLen || !utf8.ValidString(f) {
			return errors.New("a record's text fields must be valid UTF-8 of at most 65536 bytes")
		}
	}
	return nil
}

// Encode returns the canonical encoding of r (docs/AUDIT.md, "Records").
func (r *Record) Encode() []byte {
	b := make([]byte, 0, 128)
	b = append(b, recordTag...)
	b = binary.BigEndian.AppendUint64(b, r.Seq)
	b = append(b, r.Prev[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(r.Time.UnixMicro()))
	for _, f := range r.fields() {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return b
}

// LeafHash is the record's hash: the link its successor holds and its leaf
// in the Merkle tree, SHA-256(0x00 || Encode()).
func (r *Record) LeafHash() Hash {
	h := sha256.New()
	h.Write([]byte{leafPrefix})
	h.Write(r.Encode())
	var out Hash
	h.Sum(out[:0])
	return out
}

// Next returns the chain position after r: its sequence number and link.
func (r *Record) Next() (uint64, Hash) { return r.Seq + 1, r.LeafHash() }
