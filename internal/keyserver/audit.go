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
}

// Chain names the chain of an event that belongs to no operation's chain:
// the admin chain for admin changes, else (a refusal that concerns no
// operation the caller may read) the caller's.
func (ev *AuditEvent) Chain() string {
	if ev.Action == ActionAdmin || strings.HasPrefix(ev.Action, "admin.") {
		return auditlog.AdminChain
	}
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

// adminChange records an admin change in the admin chain, then makes it.
// The record comes first so that a crash between the two can never leave a
// change without its record; a change that then fails gets a second record
// saying so.
func (s *Service) adminChange(ctx context.Context, c Caller, detail string, change func() error) error {
	ev := AuditEvent{Time: s.now(), Actor: c.Principal, Action: ActionAdmin, Result: "ok", Detail: detail}
	ev.Action, ev.Target = adminEvent(detail)
	if err := s.Audit.RecordAudit(ctx, ev); err != nil {
		return err
	}
	err := change()
	if err != nil {
		ev.Time, ev.Result, ev.Detail = s.now(), "failed: "+ErrorCode(err), detail+": "+ErrorMessage(err)
		if rerr := s.Audit.RecordAudit(context.WithoutCancel(ctx), ev); rerr != nil {
			s.log().ErrorContext(ctx, "recording a failed admin change", "detail", detail, "err", rerr)
		}
	}
	return err
}

// adminEvent reads the event type and target from an admin change's
// detail, "<put|delete> <key|subject|policy> <target> ...".
func adminEvent(detail string) (string, string) {
	f := strings.Fields(detail)
	if len(f) < 3 {
		return ActionAdmin, ""
	}
	return "admin." + f[1], f[2]
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
