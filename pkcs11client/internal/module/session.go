package module

// Session is one open session.
type Session struct {
	Handle  uint
	Flags   uint
	find    []uint // handles still to hand out; nil when no search is active
	finding bool
	sign    *SignOp
}

// OpenSession opens a session on the slot. Serial sessions only.
func (m *Module) OpenSession(slot, flags uint) (uint, RV) {
	if rv := CheckSlot(slot); rv != CKR_OK {
		return 0, rv
	}
	if flags&CKF_SERIAL_SESSION == 0 {
		return 0, CKR_SESSION_PARALLEL_NOT_SUPPORTED
	}
	if !m.TokenPresent() {
		return 0, CKR_TOKEN_NOT_PRESENT
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	h := m.nextSession
	m.nextSession++
	m.sessions[h] = &Session{Handle: h, Flags: flags & (CKF_RW_SESSION | CKF_SERIAL_SESSION)}
	return h, CKR_OK
}

// CloseSession closes one session.
func (m *Module) CloseSession(h uint) RV {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.sessions[h]; !ok {
		return CKR_SESSION_HANDLE_INVALID
	}
	delete(m.sessions, h)
	if len(m.sessions) == 0 {
		m.loggedIn = false
	}
	return CKR_OK
}

// CloseAllSessions closes every session of the slot.
func (m *Module) CloseAllSessions(slot uint) RV {
	if rv := CheckSlot(slot); rv != CKR_OK {
		return rv
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sessions = map[uint]*Session{}
	m.loggedIn = false
	return CKR_OK
}

// SessionInfo returns the session's state and flags.
func (m *Module) SessionInfo(h uint) (state, flags uint, rv RV) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.sessions[h]
	if !ok {
		return 0, 0, CKR_SESSION_HANDLE_INVALID
	}
	rw := s.Flags&CKF_RW_SESSION != 0
	switch {
	case m.loggedIn && rw:
		state = CKS_RW_USER_FUNCTIONS
	case m.loggedIn:
		state = CKS_RO_USER_FUNCTIONS
	case rw:
		state = CKS_RW_PUBLIC_SESSION
	default:
		state = CKS_RO_PUBLIC_SESSION
	}
	return state, s.Flags, CKR_OK
}

// Login accepts any PIN: the token needs no login, the bearer token is the
// credential.
func (m *Module) Login(h, userType uint) RV {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.sessions[h]; !ok {
		return CKR_SESSION_HANDLE_INVALID
	}
	switch userType {
	case CKU_USER, CKU_SO:
	case CKU_CONTEXT_SPECIFIC:
		return CKR_OK
	default:
		return CKR_USER_TYPE_INVALID
	}
	if m.loggedIn {
		return CKR_USER_ALREADY_LOGGED_IN
	}
	m.loggedIn = true
	return CKR_OK
}

// Logout ends the login state.
func (m *Module) Logout(h uint) RV {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.sessions[h]; !ok {
		return CKR_SESSION_HANDLE_INVALID
	}
	if !m.loggedIn {
		return CKR_USER_NOT_LOGGED_IN
	}
	m.loggedIn = false
	return CKR_OK
}

// session returns the session or CKR_SESSION_HANDLE_INVALID; m.mu held.
func (m *Module) session(h uint) (*Session, RV) {
	s, ok := m.sessions[h]
	if !ok {
		return nil, CKR_SESSION_HANDLE_INVALID
	}
	return s, CKR_OK
}

// object returns the object with handle oh, or nil.
func (m *Module) object(oh uint) *Object {
	if oh == 0 || oh > uint(len(m.objects)) {
		return nil
	}
	return m.objects[oh-1]
}
