package module

// AttrQuery is one entry of a C_GetAttributeValue template. HasBuf is false
// when pValue is NULL; Buf is the caller's buffer. Len is the result length.
type AttrQuery struct {
	Type   uint
	HasBuf bool
	Buf    []byte
	Len    uint
}

// GetAttributeValue fills q as the spec says: every entry is processed; the
// return value reports the last kind of failure met.
func (m *Module) GetAttributeValue(sh, oh uint, q []AttrQuery) RV {
	m.mu.Lock()
	_, rv := m.session(sh)
	m.mu.Unlock()
	if rv != CKR_OK {
		return rv
	}
	o := m.object(oh)
	if o == nil {
		return CKR_OBJECT_HANDLE_INVALID
	}
	rv = CKR_OK
	for i := range q {
		v, arv := o.Attr(q[i].Type)
		switch {
		case arv != CKR_OK:
			q[i].Len = CK_UNAVAILABLE_INFORMATION
			rv = arv
		case !q[i].HasBuf:
			q[i].Len = uint(len(v))
		case len(q[i].Buf) < len(v):
			q[i].Len = CK_UNAVAILABLE_INFORMATION
			rv = CKR_BUFFER_TOO_SMALL
		default:
			copy(q[i].Buf, v)
			q[i].Len = uint(len(v))
		}
	}
	return rv
}

// ObjectSize reports an object's approximate size.
func (m *Module) ObjectSize(sh, oh uint) (uint, RV) {
	m.mu.Lock()
	_, rv := m.session(sh)
	m.mu.Unlock()
	if rv != CKR_OK {
		return 0, rv
	}
	o := m.object(oh)
	if o == nil {
		return 0, CKR_OBJECT_HANDLE_INVALID
	}
	return uint(o.Size()), CKR_OK
}

// FindObjectsInit starts a search for objects matching every attribute of tmpl.
func (m *Module) FindObjectsInit(sh uint, tmpl []Attribute) RV {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, rv := m.session(sh)
	if rv != CKR_OK {
		return rv
	}
	if s.finding {
		return CKR_OPERATION_ACTIVE
	}
	s.finding, s.find = true, nil
	for _, o := range m.objects {
		if o.Matches(tmpl) {
			s.find = append(s.find, o.Handle)
		}
	}
	return CKR_OK
}

// FindObjects hands out up to max more handles.
func (m *Module) FindObjects(sh, max uint) ([]uint, RV) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, rv := m.session(sh)
	if rv != CKR_OK {
		return nil, rv
	}
	if !s.finding {
		return nil, CKR_OPERATION_NOT_INITIALIZED
	}
	n := min(max, uint(len(s.find)))
	out := s.find[:n:n]
	s.find = s.find[n:]
	return out, CKR_OK
}

// FindObjectsFinal ends the search.
func (m *Module) FindObjectsFinal(sh uint) RV {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, rv := m.session(sh)
	if rv != CKR_OK {
		return rv
	}
	if !s.finding {
		return CKR_OPERATION_NOT_INITIALIZED
	}
	s.finding, s.find = false, nil
	return CKR_OK
}
