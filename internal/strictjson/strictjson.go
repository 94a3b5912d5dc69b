// Package strictjson decodes JSON strictly, for request bodies and JSON-valued
// app settings alike: exactly one value and nothing after it, no unknown
// members, no member named twice, and member names spelled exactly as the
// target declares them. encoding/json alone accepts `{"keyid":"a"}}` (when
// streaming), takes the last of `{"keyid":"a","KEYID":"b"}` and matches
// `{"KeyId":"b"}` to keyid; two readers of one document could then disagree.
package strictjson

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode"
)

// Unmarshal decodes the single JSON value in data into v, which must be a
// non-nil pointer. It first checks the document against v's type, then
// decodes it with encoding/json, refusing unknown members.
func Unmarshal(data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("strictjson: Unmarshal needs a non-nil pointer, not %T", v)
	}
	if json.Valid(data) {
		// Well-formed: the members are checked by a walk over the bytes.
		w := walker{data: data}
		if err := w.value(rv.Type().Elem(), ""); err != nil {
			return err
		}
	} else if err := checkTokens(data, rv.Type().Elem()); err != nil {
		return err // the malformed document's precise error
	}
	full := json.NewDecoder(bytes.NewReader(data))
	full.DisallowUnknownFields()
	if err := full.Decode(v); err != nil {
		return problem(err)
	}
	return nil
}

// checkTokens checks data token by token: slower than the walk, but its
// errors say where and how a malformed document is malformed.
func checkTokens(data []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := check(dec, t, ""); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("there is trailing data after the JSON value")
	}
	return nil
}

// problem rewrites encoding/json's errors as a sentence for the caller.
func problem(err error) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		if typeErr.Field == "" {
			return fmt.Errorf("the value must be %s, not a JSON %s", typeName(typeErr.Type), typeErr.Value)
		}
		return fmt.Errorf("%s must be %s, not a JSON %s", typeErr.Field, typeName(typeErr.Type), typeErr.Value)
	}
	return errors.New(strings.TrimPrefix(err.Error(), "json: "))
}

func typeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return t.String()
}

var (
	unmarshalerType     = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// custom reports whether t decodes itself; its members are then only checked
// for repeats. The answer is remembered by type (a type's methods never
// change).
func custom(t reflect.Type) bool {
	if c, ok := customCache.Load(t); ok {
		return c.(bool)
	}
	p := reflect.PointerTo(t)
	c := t.Implements(unmarshalerType) || p.Implements(unmarshalerType) ||
		t.Implements(textUnmarshalerType) || p.Implements(textUnmarshalerType)
	customCache.Store(t, c)
	return c
}

// customCache holds custom's answers by type.
var customCache sync.Map

// check reads one value from dec and checks its members against t; a nil t
// means any type (only repeated names are refused).
func check(dec *json.Decoder, t reflect.Type, path string) error {
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			return errors.New("the JSON value is missing or incomplete")
		}
		return syntaxProblem(err)
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && (t.Kind() == reflect.Interface || custom(t)) {
		t = nil
	}
	switch tok {
	case json.Delim('{'):
		return checkObject(dec, t, path)
	case json.Delim('['):
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; dec.More(); i++ {
			if err := check(dec, elem, path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
		_, err := dec.Token()
		return syntaxProblem(err)
	}
	return nil
}

func checkObject(dec *json.Decoder, t reflect.Type, path string) error {
	m := newMembers(t, path)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return syntaxProblem(err)
		}
		name := tok.(string)
		next, err := m.member(name)
		if err != nil {
			return err
		}
		if err := check(dec, next, join(path, name)); err != nil {
			return err
		}
	}
	_, err := dec.Token()
	return syntaxProblem(err)
}

// fold maps names that encoding/json matches to each other (bytes.EqualFold)
// to one string.
func fold(s string) string {
	if f, ok := foldASCII(s); ok {
		return f
	}
	return foldRunes(s)
}

func foldRunes(s string) string {
	var b strings.Builder
	for _, r := range s {
		for {
			f := unicode.SimpleFold(r)
			if f <= r {
				r = f
				break
			}
			r = f
		}
		b.WriteRune(r)
	}
	return b.String()
}

// foldASCII is fold for an ASCII s: each letter's orbit (with the Kelvin
// and long s signs for k and s) has its ASCII capital as its least rune.
func foldASCII(s string) (string, bool) {
	lower := false
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return "", false
		}
		lower = lower || ('a' <= s[i] && s[i] <= 'z')
	}
	if !lower {
		return s, true
	}
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b), true
}

func where(path string) string {
	if path == "" {
		return "the object's"
	}
	return "in " + path + ","
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func syntaxProblem(err error) error {
	if err == nil {
		return nil
	}
	if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("the JSON value is incomplete")
	}
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Errorf("the JSON is malformed at byte %d: %s", syn.Offset, strings.TrimPrefix(syn.Error(), "json: "))
	}
	return errors.New(strings.TrimPrefix(err.Error(), "json: "))
}
