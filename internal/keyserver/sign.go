package keyserver

import (
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"time"
)

// Sign makes one signature for an order: the operation must be c's (or c an
// admin), approved, unexpired and name the key, and one use is reserved
// before the HSM is asked. Every signature and every refusal is audited.
func (s *Service) Sign(ctx context.Context, c Caller, o *SignOrder) (*SignResult, error) {
	ev := AuditEvent{Actor: c.Principal, Action: ActionSign, OperationID: o.OperationID, KeyID: o.KeyID}
	var opRead bool
	res, err := s.sign(ctx, c, o, &ev, &opRead)
	if err != nil && ev.Result == "" {
		s.recordRefusal(ctx, ev, err, opRead)
	}
	return res, err
}

// recordRefusal writes a refusal into the operation's partition only when
// the operation was read and c may read it; otherwise into the global log.
func (s *Service) recordRefusal(ctx context.Context, ev AuditEvent, cause error, opRead bool) {
	ev.Time = s.now()
	ev.Result = "refused: " + ErrorCode(cause)
	ev.Detail = ErrorMessage(cause)
	var err error
	if opRead {
		err = s.Ops.RecordEvent(ctx, ev.OperationID, ev)
	} else if s.Audit != nil {
		err = s.Audit.RecordAudit(ctx, ev)
	}
	if err != nil {
		s.log().ErrorContext(ctx, "recording audit event", "action", ev.Action, "operation", ev.OperationID, "err", err)
	}
}

func (s *Service) sign(ctx context.Context, c Caller, o *SignOrder, ev *AuditEvent, opRead *bool) (*SignResult, error) {
	if err := ValidateKeyID(o.KeyID); err != nil {
		return nil, err
	}
	if !ValidID(o.OperationID) {
		return nil, notFoundOperation(o.OperationID)
	}
	k, err := s.orderableKey(ctx, c, o.KeyID)
	if err != nil {
		return nil, err
	}
	if !k.Enabled {
		return nil, Errorf(EFORBIDDEN, "Key %q is disabled.", k.KeyID)
	}
	op, err := s.signingOperation(ctx, c, o.OperationID)
	if err != nil {
		return nil, err
	}
	*opRead = true
	if !op.IsRequester(c.Principal) && !c.IsAdmin() {
		return nil, Errorf(EFORBIDDEN, "Only the requester of operation %s may sign with it.", op.ID)
	}
	g := op.Grant(k.KeyID)
	if g == nil {
		return nil, Errorf(EFORBIDDEN, "Operation %s does not name key %q.", op.ID, k.KeyID)
	}
	if g.HSMKey != "" && g.HSMKey != k.HSMKey {
		return nil, Errorf(ECONFLICT, "Key %q was bound to another HSM key after operation %s was opened; open a new operation.", k.KeyID, op.ID)
	}
	if err := signable(op, s.now()); err != nil {
		return nil, err
	}
	if g.UsageCount >= g.MaxUsageCount {
		return nil, Errorf(EEXHAUSTED, "All %d uses of key %q in operation %s are spent.", g.MaxUsageCount, g.KeyID, op.ID)
	}
	signer, err := s.HSM.Open(ctx, k.HSMKey)
	if err != nil {
		return nil, err
	}
	plan, err := o.plan(signer.Public())
	if err != nil {
		return nil, err
	}
	ev.Digest = hex.EncodeToString(plan.digest)
	t0 := time.Now()
	r, err := s.Ops.ReserveUse(ctx, op.ID, k.KeyID, g.MaxUsageCount)
	if err != nil {
		return nil, err
	}
	t1 := time.Now()
	sig, by, err := signAttributed(ctx, signer, plan.digest, plan.opts)
	if err == nil {
		err = s.certKeys.check(k, by, signer.Public())
	}
	if err == nil && plan.format == FormatP1363 {
		sig, err = ECDSAToP1363(sig, by.(*ecdsa.PublicKey).Curve)
	}
	ev.Time = s.now()
	if err == nil && !ev.Time.Before(op.Expires) {
		// The operation expired while the HSM was signing.
		err = expired(op)
	}
	var noted []*Event
	t2 := time.Now()
	if err == nil {
		ev.Result = "ok"
		// A signature whose use is not recorded is not handed out.
		noted, err = s.complete(ctx, c, r, *ev)
	}
	if err != nil {
		s.giveBack(ctx, r, ev, err)
		return nil, err
	}
	took := SignSteps{Reserve: t1.Sub(t0), HSM: t2.Sub(t1), Complete: time.Since(t2)}
	s.publish(context.WithoutCancel(ctx), op.ID, noted)
	return &SignResult{KeyID: k.KeyID, InputData: o.InputData, SignatureFormat: plan.format, Result: encodeOutput(o.InputFormat, sig), AuditRecord: r.AuditRecord, Took: took}, nil
}

// giveBack releases the use of a signature that is not handed out, with its
// audit event. A use no longer held (revoked by closing the operation while
// the HSM signed) is not released: then only the event is written.
func (s *Service) giveBack(ctx context.Context, r *Reservation, ev *AuditEvent, cause error) {
	ev.Result, ev.Detail = "failed: "+ErrorCode(cause), ErrorMessage(cause)
	// A context that is already gone must not keep the use from being released.
	ctx = context.WithoutCancel(ctx)
	err := s.Ops.ReleaseUse(ctx, r, *ev)
	if code := ErrorCode(err); code == ECLOSED || code == ECONFLICT {
		err = s.Ops.RecordEvent(ctx, r.OperationID, *ev)
	}
	if err != nil {
		s.log().ErrorContext(ctx, "releasing use after failed signature", "operation", r.OperationID, "key", r.KeyID, "err", err)
	}
}

// signingOperation loads an operation c may see, through the store's
// SigningLoader when it has one.
func (s *Service) signingOperation(ctx context.Context, c Caller, id string) (*Operation, error) {
	if l, ok := s.Ops.(SigningLoader); ok {
		return readableWith(ctx, c, id, l.OperationForSigning)
	}
	return s.readable(ctx, c, id)
}

// signable refuses operations that may not sign now.
func signable(op *Operation, now time.Time) error {
	switch op.Status(now) {
	case StatusExpired:
		return expired(op)
	case StatusRejected, StatusCancelled:
		return Errorf(ECLOSED, "Operation %s is %s.", op.ID, op.Status(now))
	case StatusPending:
		return Errorf(ENOTAPPROVED, "Operation %s is not approved yet; wait for its approvers.", op.ID)
	}
	return nil
}

func expired(op *Operation) error {
	return Errorf(EEXPIRED, "Operation %s expired at %s.", op.ID, op.Expires.UTC().Format(time.RFC3339))
}
