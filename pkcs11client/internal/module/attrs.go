package module

import (
	"bytes"
	"encoding/binary"
)

// ulongSize is sizeof(CK_ULONG) on the LP64 platforms the module is built for;
// the cgo layer checks it at build time.
const ulongSize = 8

// Attribute is one (type, value) pair, value encoded as Cryptoki lays it out.
type Attribute struct {
	Type  uint
	Value []byte
}

// ULong encodes a CK_ULONG in native byte order.
func ULong(v uint) []byte {
	b := make([]byte, ulongSize)
	binary.NativeEndian.PutUint64(b, uint64(v))
	return b
}

// DecodeULong decodes a CK_ULONG; ok is false when b has the wrong length.
func DecodeULong(b []byte) (uint, bool) {
	if len(b) != ulongSize {
		return 0, false
	}
	return uint(binary.NativeEndian.Uint64(b)), true
}

// Bool encodes a CK_BBOOL.
func Bool(v bool) []byte {
	if v {
		return []byte{1}
	}
	return []byte{0}
}

// ULongs encodes an array of CK_ULONG (e.g. CKA_ALLOWED_MECHANISMS).
func ULongs(vs []uint) []byte {
	var out []byte
	for _, v := range vs {
		out = append(out, ULong(v)...)
	}
	return out
}

// attrSet is the attributes of one object, plus those that exist but are
// sensitive.
type attrSet struct {
	values    map[uint][]byte
	sensitive map[uint]bool
}

func newAttrSet() *attrSet {
	return &attrSet{values: map[uint][]byte{}, sensitive: map[uint]bool{}}
}

func (s *attrSet) set(t uint, v []byte) { s.values[t] = v }

func (s *attrSet) setBool(t uint, v bool) { s.values[t] = Bool(v) }

func (s *attrSet) setULong(t uint, v uint) { s.values[t] = ULong(v) }

// Get returns the value of t, or CKR_ATTRIBUTE_SENSITIVE /
// CKR_ATTRIBUTE_TYPE_INVALID.
func (s *attrSet) Get(t uint) ([]byte, RV) {
	if s.sensitive[t] {
		return nil, CKR_ATTRIBUTE_SENSITIVE
	}
	v, ok := s.values[t]
	if !ok {
		return nil, CKR_ATTRIBUTE_TYPE_INVALID
	}
	return v, CKR_OK
}

// Matches reports whether every attribute of tmpl has exactly that value.
func (s *attrSet) Matches(tmpl []Attribute) bool {
	for _, a := range tmpl {
		v, ok := s.values[a.Type]
		if !ok || s.sensitive[a.Type] || !bytes.Equal(v, a.Value) {
			return false
		}
	}
	return true
}
