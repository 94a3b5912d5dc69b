package keyserver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"keyserver/internal/auditlog"
)

// AuditFilter narrows the audit records listed.
type AuditFilter struct {
	From, To    time.Time // records dated From or later and before To; zero: unbounded
	OperationID string
	KeyID       string
	Subject     string // the actor's subject, or an admin change's target
	Event       string
	Page        string // where the previous page ended
	Limit       int
}

// AuditTrail is where chained audit records and checkpoints are kept.
type AuditTrail interface {
	auditlog.Store
	// ListAudit returns one page of records matching f, and the token of the
	// next page (empty on the last).
	ListAudit(ctx context.Context, f AuditFilter) ([]auditlog.Stored, string, error)
	// AuditCertificates returns the audit key's certificates, in the order
	// they were first used.
	AuditCertificates(ctx context.Context) ([]AuditCertificate, error)
	// AddAuditCertificate stores c with ev as the next record of the
	// auditkey chain, in one transaction, and returns the record's id. When
	// a certificate of c's public key is recorded already, it gets
	// auditlog.ErrConflict.
	AddAuditCertificate(ctx context.Context, c AuditCertificate, ev AuditEvent) (string, error)
}

// AuditCertificate is a certificate of the audit key, of one version of it.
type AuditCertificate struct {
	PEM    string
	SHA256 string // CertificateSHA256 of its DER
	// HSMKey is the reference of the key version it certifies; empty for a
	// certificate stored before versions were kept.
	HSMKey string
	// Record is the id of the audit.key record that introduced it; empty for
	// a certificate stored before certificates were recorded.
	Record string
}

// Chain names the chain of a refusal that concerns no operation the caller
// may read: the caller's.
func (ev *AuditEvent) Chain() string {
	return auditlog.CallerChain(ev.Actor.Issuer, ev.Actor.Subject, ev.Actor.Kind.String())
}

// Record is ev as an audit record of chain, before it is chained.
func (ev *AuditEvent) Record(chain string) auditlog.Record {
	return auditlog.Record{Chain: chain, Time: ev.Time, Event: ev.Action, ActorIssuer: ev.Actor.Issuer, ActorSubject: ev.Actor.Subject, ActorKind: ev.Actor.Kind.String(),
		OperationID: ev.OperationID, KeyID: ev.KeyID, Target: ev.Target, Digest: ev.Digest, Result: ev.Result, Detail: ev.Detail}
}

// EventOf reads a record back as an event.
func EventOf(r *auditlog.Record) AuditEvent {
	return AuditEvent{Time: r.Time, Actor: Principal{Issuer: r.ActorIssuer, Subject: r.ActorSubject, Kind: kindOf(r.ActorKind)}, Action: r.Event,
		OperationID: r.OperationID, KeyID: r.KeyID, Target: r.Target, Digest: r.Digest, Result: r.Result, Detail: r.Detail}
}

// adminChange makes an admin change through change, which writes the
// change and its audit record (event action, on target) in one transaction
// of the store: both are written or neither is, so a change that fails
// leaves no record.
func (s *Service) adminChange(ctx context.Context, c Caller, action, target, detail string, change func(ev AuditEvent) error) error {
	return change(AuditEvent{Time: s.now(), Actor: c.Principal, Action: action, Target: target, Result: "ok", Detail: detail})
}

// AuditRecords lists audit records. Auditors and admins see every record;
// anyone else only those of an operation it may read, named in f.
func (s *Service) AuditRecords(ctx context.Context, c Caller, f AuditFilter) ([]auditlog.Stored, string, error) {
	if s.Trail == nil {
		return nil, "", Errorf(EUNAVAILABLE, "The audit trail is not configured.")
	}
	if !c.IsAuditor() && !c.IsAdmin() {
		if f.OperationID == "" {
			return nil, "", Errorf(EFORBIDDEN, "Only auditors list every audit record; others name an operation they may read (operation=<id>).")
		}
		if _, err := s.readable(ctx, c, f.OperationID); err != nil {
			return nil, "", err
		}
	}
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 100
	}
	recs, next, err := s.Trail.ListAudit(ctx, f)
	return recs, next, auditErr(err, "Listing audit records")
}

// mayReadRecord checks that c may see record id: an auditor or admin any,
// others those of an operation they may read.
func (s *Service) mayReadRecord(ctx context.Context, c Caller, id string) (string, uint64, error) {
	chain, seq, err := auditlog.ParseRecordID(id)
	if err != nil {
		return "", 0, Errorf(EINVALID, "%s", err.Error())
	}
	if c.IsAuditor() || c.IsAdmin() {
		return chain, seq, nil
	}
	opID, ok := strings.CutPrefix(chain, "op/")
	if !ok {
		return "", 0, Errorf(ENOTFOUND, "Audit record %q does not exist.", id)
	}
	if _, err := s.readable(ctx, c, opID); err != nil {
		return "", 0, Errorf(ENOTFOUND, "Audit record %q does not exist.", id)
	}
	return chain, seq, nil
}

func auditErr(err error, doing string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, auditlog.ErrNotFound):
		return Errorf(ENOTFOUND, "%s: not found.", doing)
	case errors.Is(err, auditlog.ErrConflict):
		return Errorf(ECONFLICT, "%s: another writer got there first; try again.", doing)
	case ErrorCode(err) != EINTERNAL:
		return err
	}
	return Wrap(EUNAVAILABLE, err, "%s failed.", doing)
}

// CertificateSHA256 is the hex SHA-256 of a PEM certificate's DER.
func CertificateSHA256(der []byte) string {
	h := sha256.Sum256(der)
	return hex.EncodeToString(h[:])
}

func kindOf(s string) Kind {
	k, _ := ParseKind(s)
	return k
}
