package module

import (
	"context"
)

// SignInit starts a signing operation with key kh.
func (m *Module) SignInit(sh, mech uint, param []byte, kh uint) RV {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, rv := m.session(sh)
	if rv != CKR_OK {
		return rv
	}
	if s.sign != nil {
		return CKR_OPERATION_ACTIVE
	}
	o := m.object(kh)
	switch {
	case o == nil:
		return CKR_KEY_HANDLE_INVALID
	case o.Class == CKO_PUBLIC_KEY:
		return CKR_KEY_FUNCTION_NOT_PERMITTED
	case o.Class != CKO_PRIVATE_KEY:
		return CKR_KEY_TYPE_INCONSISTENT
	}
	op, err := NewSignOp(o.Key, mech, param)
	if err != nil {
		m.Debugf("C_SignInit: %v", err)
		return RVOf(err)
	}
	if m.cfg.OperationID == "" {
		return m.Fail(errorf(CKR_FUNCTION_FAILED, "KSC_OPERATION_ID is not set; create an operation with POST /api/operations and export its id"))
	}
	s.sign = op
	return CKR_OK
}

// SignCancel ends any signing operation of the session (C_SignInit with a
// NULL mechanism).
func (m *Module) SignCancel(sh uint) RV {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, rv := m.session(sh)
	if rv != CKR_OK {
		return rv
	}
	s.sign = nil
	return CKR_OK
}

// SignUpdate adds a part to a multi-part signing operation.
func (m *Module) SignUpdate(sh uint, part []byte) RV {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, rv := m.session(sh)
	if rv != CKR_OK {
		return rv
	}
	op := s.sign
	if op == nil {
		return CKR_OPERATION_NOT_INITIALIZED
	}
	if op.input != nil {
		return CKR_OPERATION_ACTIVE
	}
	if err := op.Update(part); err != nil {
		s.sign = nil
		return m.Fail(err)
	}
	return CKR_OK
}

// Sign is C_Sign: hasOut false asks for the size. It writes the signature
// into out and returns its length. A size query or a too small buffer never
// calls the Keyserver; a signature made is kept until it is fetched.
func (m *Module) Sign(sh uint, data []byte, out []byte, hasOut bool) (uint, RV) {
	return m.finish(sh, data, out, hasOut, false)
}

// SignFinal is C_SignFinal, with the same size rules as Sign.
func (m *Module) SignFinal(sh uint, out []byte, hasOut bool) (uint, RV) {
	return m.finish(sh, nil, out, hasOut, true)
}

func (m *Module) finish(sh uint, data, out []byte, hasOut, final bool) (uint, RV) {
	m.mu.Lock()
	s, rv := m.session(sh)
	if rv != CKR_OK {
		m.mu.Unlock()
		return 0, rv
	}
	op := s.sign
	switch {
	case op == nil:
		m.mu.Unlock()
		return 0, CKR_OPERATION_NOT_INITIALIZED
	case op.multi != final && op.result == nil:
		// C_Sign after C_SignUpdate; C_SignFinal without update is allowed.
		if !final {
			m.mu.Unlock()
			return 0, CKR_OPERATION_ACTIVE
		}
	}
	if op.result != nil {
		defer m.mu.Unlock()
		return m.deliver(s, op.result, out, hasOut)
	}
	need := uint(op.Key.SigSize)
	if !hasOut {
		m.mu.Unlock()
		return need, CKR_OK
	}
	if uint(len(out)) < need {
		m.mu.Unlock()
		return need, CKR_BUFFER_TOO_SMALL
	}
	if op.input != nil { // another thread is signing in this session
		m.mu.Unlock()
		return 0, CKR_OPERATION_ACTIVE
	}
	input := op.Input(data)
	m.mu.Unlock()

	sig, err := m.signRemote(op, input)

	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		if s.sign == op {
			s.sign = nil
		}
		return 0, m.Fail(err)
	}
	op.result = sig
	return m.deliver(s, sig, out, hasOut)
}

// deliver hands out a made signature; m.mu held.
func (m *Module) deliver(s *Session, sig, out []byte, hasOut bool) (uint, RV) {
	if !hasOut {
		return uint(len(sig)), CKR_OK
	}
	if len(out) < len(sig) {
		return uint(len(sig)), CKR_BUFFER_TOO_SMALL
	}
	copy(out, sig)
	if s.sign != nil && s.sign.result != nil {
		s.sign = nil
	}
	return uint(len(sig)), CKR_OK
}

func (m *Module) signRemote(op *SignOp, input []byte) ([]byte, error) {
	req, err := op.Request(input, m.cfg.OperationID, m.cfg.Description)
	if err != nil {
		return nil, err
	}
	m.Debugf("sign order: key %s, mechanism 0x%x, padding %s, operation %s", req.KeyID, op.Mech, req.InputPadding, req.OperationID)
	ctx, cancel := context.WithTimeout(context.Background(), m.cfg.Timeout)
	defer cancel()
	start := m.opts.Now()
	sig, err := m.client.Sign(ctx, req)
	if err != nil {
		return nil, err
	}
	answered := m.opts.Now()
	sig, err = op.Finish(input, sig)
	m.Debugf("POST /api/signorders %s, checking the signature %s", millis(answered.Sub(start)), millis(m.opts.Now().Sub(answered)))
	return sig, err
}
