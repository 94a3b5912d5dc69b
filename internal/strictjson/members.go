package strictjson

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
)

// members checks the member names of one object against its type t.
//
// A member named exactly as a field of a struct, whose name no other field
// of the struct folds to, is noted in a bit of seenBits: the usual member
// of a request body costs no allocation. Every other name is folded and
// noted in seen, as before; a folded name also finds the bit of the field
// it matches, so that a case variant of a member noted in a bit is refused
// all the same.
type members struct {
	t        reflect.Type
	path     string
	info     *structInfo // for a struct
	mapElem  reflect.Type
	seenBits uint64            // by class of info
	seen     map[string]string // folded name (exact for maps) -> name as written
}

func newMembers(t reflect.Type, path string) members {
	m := members{t: t, path: path}
	if t != nil {
		switch t.Kind() {
		case reflect.Struct:
			m.info = structFields(t)
		case reflect.Map:
			m.mapElem = t.Elem()
		}
	}
	return m
}

// claim notes f's member as seen and reports true, when f has a class of its
// own that was not seen yet; otherwise member decides.
func (m *members) claim(f field) bool {
	if f.class < 0 || m.seenBits&(1<<f.class) != 0 {
		return false
	}
	m.seenBits |= 1 << f.class
	return true
}

// member checks the next member's name and returns the type of its value
// (nil for any).
func (m *members) member(name string) (reflect.Type, error) {
	if m.info != nil {
		if f, ok := m.info.fields[name]; ok && m.claim(f) {
			return f.t, nil
		}
	}
	key := name
	if m.t == nil || m.info != nil {
		key = fold(name)
	}
	if m.info != nil {
		if c, ok := m.info.folded[key]; ok && m.seenBits&(1<<c) != 0 {
			return nil, repeated(m.path, m.info.names[c], name)
		}
	}
	if m.seen == nil {
		m.seen = make(map[string]string, 8)
	}
	if prev, ok := m.seen[key]; ok {
		return nil, repeated(m.path, prev, name)
	}
	m.seen[key] = name
	switch {
	case m.info != nil:
		f, ok := m.info.fields[name]
		if !ok {
			if want := spelling(m.info.fields, name); want != "" {
				return nil, fmt.Errorf("%s member %q must be spelled %q; member names are case-sensitive", where(m.path), name, want)
			}
			return nil, fmt.Errorf("%s member %q is unknown", where(m.path), name)
		}
		return f.t, nil
	case m.mapElem != nil:
		return m.mapElem, nil
	}
	return nil, nil
}

// repeated is the error for a member name that repeats prev, exactly or
// folded.
func repeated(path, prev, name string) error {
	if prev == name {
		return fmt.Errorf("%s member %q appears twice", where(path), name)
	}
	return fmt.Errorf("%s members %q and %q differ only in case; name each member once, spelled exactly", where(path), prev, name)
}

// field is one JSON member of a struct: the type of its value, its name as
// the struct spells it, and its class: the bit of members.seenBits that
// notes it, or -1 when another field's name folds as its name does (or past
// 64 fields).
type field struct {
	t     reflect.Type
	name  string
	class int
}

// structInfo holds the JSON members of a struct type.
type structInfo struct {
	fields map[string]field // by name as spelled
	folded map[string]int   // class by folded name, for fields with a class
	names  []string         // name by class
}

// structFields returns the members of t's fields as encoding/json names
// them (tag name, else the field name; embedded structs promoted).
func structFields(t reflect.Type) *structInfo {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*structInfo)
	}
	types := fieldsOf(t)
	byFold := make(map[string][]string, len(types))
	for n := range types {
		byFold[fold(n)] = append(byFold[fold(n)], n)
	}
	info := &structInfo{fields: make(map[string]field, len(types)), folded: map[string]int{}}
	for n, ft := range types {
		f := field{t: ft, name: n, class: -1}
		if k := fold(n); len(byFold[k]) == 1 && len(info.names) < 64 {
			f.class = len(info.names)
			info.folded[k] = f.class
			info.names = append(info.names, n)
		}
		info.fields[n] = f
	}
	fieldCache.Store(t, info)
	return info
}

// fieldCache holds structFields by type; what it holds is never changed.
var fieldCache sync.Map

func fieldsOf(t reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && name == "" {
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for n, et := range structFields(ft).fields {
					if _, ok := fields[n]; !ok {
						fields[n] = et.t
					}
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = ft
	}
	return fields
}

func spelling(fields map[string]field, name string) string {
	for n := range fields {
		if fold(n) == fold(name) {
			return n
		}
	}
	return ""
}
