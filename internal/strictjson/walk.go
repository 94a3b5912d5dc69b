package strictjson

import (
	"encoding/json"
	"reflect"
	"strconv"
)

// walker checks the member names of a document json.Valid accepted, as
// check does token by token, without making a token of every value.
type walker struct {
	data []byte
	i    int
}

func (w *walker) space() {
	for w.i < len(w.data) {
		switch w.data[w.i] {
		case ' ', '\t', '\n', '\r':
			w.i++
		default:
			return
		}
	}
}

// value checks the value at w.i against t (nil: any type) and moves past it.
func (w *walker) value(t reflect.Type, path string) error {
	w.space()
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && (t.Kind() == reflect.Interface || custom(t)) {
		t = nil
	}
	switch w.data[w.i] {
	case '{':
		return w.object(t, path)
	case '[':
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		w.i++
		for n := 0; ; n++ {
			w.space()
			if w.data[w.i] == ']' {
				w.i++
				return nil
			}
			if w.data[w.i] == ',' {
				w.i++
			}
			if err := w.value(elem, path+"["+strconv.Itoa(n)+"]"); err != nil {
				return err
			}
		}
	case '"':
		w.skipStr()
		return nil
	}
	for w.i < len(w.data) && !delimiter(w.data[w.i]) {
		w.i++ // a number, true, false or null
	}
	return nil
}

func delimiter(c byte) bool {
	switch c {
	case ',', ']', '}', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}

func (w *walker) object(t reflect.Type, path string) error {
	m := newMembers(t, path)
	w.i++
	for {
		w.space()
		switch w.data[w.i] {
		case '}':
			w.i++
			return nil
		case ',':
			w.i++
			w.space()
		}
		name, next, err := w.member(&m)
		if err != nil {
			return err
		}
		w.space()
		w.i++ // the colon
		if err := w.value(next, join(path, name)); err != nil {
			return err
		}
	}
}

// member reads the member name at w.i, moves past it and checks it with m.
// A name spelled plainly as a struct field is looked up without being
// copied.
func (w *walker) member(m *members) (string, reflect.Type, error) {
	start := w.i
	plain := w.skipStr()
	if plain && m.info != nil {
		if f, ok := m.info.fields[string(w.data[start+1:w.i-1])]; ok && m.claim(f) {
			return f.name, f.t, nil
		}
	}
	name := unquote(w.data[start:w.i], plain)
	next, err := m.member(name)
	return name, next, err
}

// skipStr moves past the string at w.i and reports whether it is plain:
// without escapes and ASCII, so that its bytes are its value.
func (w *walker) skipStr() bool {
	plain := true
	for w.i++; w.data[w.i] != '"'; w.i++ {
		switch c := w.data[w.i]; {
		case c == '\\':
			plain = false
			w.i++
		case c >= 0x80:
			plain = false // invalid UTF-8 is replaced as encoding/json does
		}
	}
	w.i++
	return plain
}

// unquote returns the value of the quoted string raw, as encoding/json
// reads it.
func unquote(raw []byte, plain bool) string {
	if plain {
		return string(raw[1 : len(raw)-1])
	}
	var s string
	_ = json.Unmarshal(raw, &s) // valid: json.Valid accepted the document
	return s
}
