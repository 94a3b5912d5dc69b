package strictjson

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// twoCases has two fields whose names differ only in case: neither has a
// bit of its own, both are checked by their folded name.
type twoCases struct {
	Lower int `json:"a"`
	Upper int `json:"A"`
	B     int `json:"b"`
}

// manyFields returns a struct type with n int fields named f0...
func manyFields(n int) reflect.Type {
	fields := make([]reflect.StructField, n)
	for i := range fields {
		fields[i] = reflect.StructField{Name: fmt.Sprintf("F%d", i), Type: reflect.TypeFor[int](), Tag: reflect.StructTag(fmt.Sprintf(`json:"f%d"`, i))}
	}
	return reflect.StructOf(fields)
}

// TestMembersEveryPath: names noted in a bit and names noted by their fold
// are refused alike, whichever comes first, in the walk and token by token.
func TestMembersEveryPath(t *testing.T) {
	many := manyFields(70)
	tests := []struct {
		typ      reflect.Type
		in, want string // want "" for success
	}{
		{reflect.TypeFor[twoCases](), `{"a":1,"A":2,"b":3}`, `members "a" and "A" differ only in case`},
		{reflect.TypeFor[twoCases](), `{"A":1,"a":2}`, `members "A" and "a" differ only in case`},
		{reflect.TypeFor[twoCases](), `{"a":1,"a":2}`, `member "a" appears twice`},
		{reflect.TypeFor[twoCases](), `{"b":1,"B":2}`, `members "b" and "B" differ only in case`},
		{reflect.TypeFor[twoCases](), `{"B":1}`, `member "B" must be spelled "b"`},
		{reflect.TypeFor[twoCases](), `{"A":1,"b":2}`, ``},
		{reflect.TypeFor[order](), `{"keyid":"a","k\u0065yid":"b"}`, `member "keyid" appears twice`},
		{reflect.TypeFor[order](), `{"KEYID":"a","keyid":"b"}`, `member "KEYID" must be spelled "keyid"`},
		{reflect.TypeFor[order](), `{"keyid":"a","labels":{},"KeyID":"b"}`, `members "keyid" and "KeyID" differ only in case`},
		{many, `{"f0":1,"f69":2,"f69":3}`, `member "f69" appears twice`},
		{many, `{"f0":1,"f69":2,"F69":3}`, `members "f69" and "F69" differ only in case`},
		{many, `{"f63":1,"F63":2}`, `members "f63" and "F63" differ only in case`},
		{many, `{"f0":1,"f63":2,"f64":3,"f69":4}`, ``},
	}
	for _, tc := range tests {
		v := reflect.New(tc.typ)
		err := Unmarshal([]byte(tc.in), v.Interface())
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.in, err, tc.want)
		}
		w := walker{data: []byte(tc.in)}
		if walkErr, tokErr := w.value(tc.typ, ""), checkTokens([]byte(tc.in), tc.typ); fmt.Sprint(walkErr) != fmt.Sprint(tokErr) {
			t.Errorf("%s: walk says %v, tokens say %v", tc.in, walkErr, tokErr)
		}
	}
}
