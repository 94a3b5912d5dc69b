package strictjson

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

type item struct {
	KeyID string `json:"keyid"`
	Max   int    `json:"maxusagecount"`
}

type order struct {
	KeyID    string            `json:"keyid"`
	Items    []item            `json:"new-keyusagerestrictions"`
	Ptr      *item             `json:"ptr"`
	Labels   map[string]string `json:"labels"`
	Any      any               `json:"any"`
	When     time.Time         `json:"when"`
	Ignored  string            `json:"-"`
	Untagged string
}

func TestUnmarshal(t *testing.T) {
	tests := []struct {
		name, in string
		want     string // "" for success, else a fragment of the error
	}{
		{"ok", `{"keyid":"a","new-keyusagerestrictions":[{"keyid":"k","maxusagecount":2}]}`, ""},
		{"surrounding space", " \n{\"keyid\":\"a\"}\n\t ", ""},
		{"untagged field by its name", `{"Untagged":"x"}`, ""},
		{"map keys differing in case", `{"labels":{"a":"1","A":"2"}}`, ""},
		{"time", `{"when":"2024-01-02T03:04:05Z"}`, ""},
		{"null pointer", `{"ptr":null}`, ""},

		{"extra brace", `{"keyid":"a"}}`, "after the JSON value"},
		{"extra bracket", `{"keyid":"a"}]`, "after the JSON value"},
		{"second value", `{"keyid":"a"} {"keyid":"b"}`, "after the JSON value"},
		{"trailing garbage", `{"keyid":"a"}x`, "after the JSON value"},
		{"duplicate", `{"keyid":"a","keyid":"b"}`, `member "keyid" appears twice`},
		{"case variant duplicate", `{"keyid":"a","KEYID":"b"}`, `"keyid" and "KEYID" differ only in case`},
		{"case variant alone", `{"KeyId":"b"}`, `"KeyId" must be spelled "keyid"`},
		{"kelvin sign variant", "{\"\u212Aeyid\":\"b\"}", `must be spelled "keyid"`},
		{"nested case variant", `{"new-keyusagerestrictions":[{"keyid":"k"},{"KEYID":"k"}]}`, `in new-keyusagerestrictions[1], member "KEYID" must be spelled "keyid"`},
		{"nested duplicate", `{"new-keyusagerestrictions":[{"maxusagecount":1,"maxusagecount":2}]}`, "appears twice"},
		{"pointer case variant", `{"ptr":{"KeyID":"x"}}`, `in ptr, member "KeyID"`},
		{"duplicate map key", `{"labels":{"a":"1","a":"2"}}`, "appears twice"},
		{"any with case variants", `{"any":{"x":1,"X":2}}`, "differ only in case"},
		{"unknown member", `{"keyid":"a","other":1}`, `member "other" is unknown`},
		{"ignored field", `{"Ignored":"x"}`, `member "Ignored" is unknown`},
		{"wrong type", `{"new-keyusagerestrictions":[{"maxusagecount":"2"}]}`, "maxusagecount must be a whole number, not a JSON string"},
		{"wrong top-level type", `[]`, "must be an object"},
		{"empty", ``, "missing or incomplete"},
		{"truncated", `{"keyid":`, "incomplete"},
		{"malformed", `{"keyid" "a"}`, "malformed"},
		{"closing only", `}`, "malformed"},
		{"escaped duplicate", `{"key\u0069d":"a","keyid":"b"}`, `member "keyid" appears twice`},
		{"spaced nested case variant", " { \"new-keyusagerestrictions\" : [ { \"keyid\" : \"k\" } ,\n { \"maxusagecount\" : 1 , \"KEYID\" : \"k\" } ] } ", `in new-keyusagerestrictions[1], member "KEYID" must be spelled "keyid"`},
		{"values of every kind", `{"any":{"a":[1,-2.5e3,true,false,null,"x\"y",{"b":[]}],"c":{}},"labels":{"x":"}"},"keyid":""}`, ""},
		{"case variant after nested values", `{"any":{"a":[{"k":1},[2]],"A":1}}`, "differ only in case"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var v order
			err := Unmarshal([]byte(tc.in), &v)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Unmarshal(%s): %v", tc.in, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("Unmarshal(%s) = %v, want an error containing %q", tc.in, err, tc.want)
			}
		})
	}
}

func TestUnmarshalKeepsTheValue(t *testing.T) {
	var v []item
	if err := Unmarshal([]byte(`[{"keyid":"a","maxusagecount":3}]`), &v); err != nil {
		t.Fatal(err)
	}
	if len(v) != 1 || v[0] != (item{"a", 3}) {
		t.Fatalf("got %+v", v)
	}
}

func TestUnmarshalNeedsAPointer(t *testing.T) {
	if err := Unmarshal([]byte(`{}`), order{}); err == nil {
		t.Fatal("a non-pointer was accepted")
	}
}

// TestWalkAgreesWithTokens: on well-formed documents the walk over the
// bytes finds what the token by token check finds.
func TestWalkAgreesWithTokens(t *testing.T) {
	for _, in := range []string{
		`{"keyid":"a","KEYID":"b"}`, `{"new-keyusagerestrictions":[{"keyid":"k"},{"KEYID":"k"}]}`,
		`{"labels":{"a":"1","a":"2"}}`, `{"any":{"x":1,"X":2}}`, `{"keyid":"a","other":1}`, `[]`, `{"ptr":{"KeyID":"x"}}`,
		`{"key\u0069d":"a","keyid":"b"}`, "{\"\u212Aeyid\":\"b\"}", `{"any":[[],{},[{"a":{"a":1,"a":2}}]]}`, `"x"`, `17`,
	} {
		var o order
		w := walker{data: []byte(in)}
		walkErr, tokErr := w.value(reflect.TypeOf(o), ""), checkTokens([]byte(in), reflect.TypeOf(o))
		if fmt.Sprint(walkErr) != fmt.Sprint(tokErr) {
			t.Errorf("%s: walk says %v, tokens say %v", in, walkErr, tokErr)
		}
	}
}

// TestFoldASCII: the ASCII shortcut folds as the rune by rune fold does.
func TestFoldASCII(t *testing.T) {
	for c := 0; c < 0x80; c++ {
		s := string(rune(c)) + "k-S_s"
		if f, ok := foldASCII(s); !ok || f != foldRunes(s) {
			t.Fatalf("foldASCII(%q) = %q, %v; want %q", s, f, ok, foldRunes(s))
		}
	}
	if _, ok := foldASCII("\u212Aeyid"); ok {
		t.Fatal("foldASCII took a non-ASCII name")
	}
}
