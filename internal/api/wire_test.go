package api

import (
	"bytes"
	"context"
	"flag"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"testing"

	"keyserver/internal/keyserver"
)

var update = flag.Bool("update", false, "rewrite testdata/wire from the current code")

// TestWireGolden pins every answer's JSON byte for byte: seed 001's clients
// and the PKCS#11 module read these names, so a change here is a break.
func TestWireGolden(t *testing.T) {
	s, viewer, ops := goldenFixture(t)
	ctx := context.Background()
	view := func(op *keyserver.Operation) Operation { return s.view(ctx, viewer, op) }
	k := goldenKey()
	tests := []struct {
		name string
		v    any
	}{
		{"operation-rejected", view(ops[0])},
		{"operation-cancelled", view(ops[1])},
		{"operation-approved", view(ops[2])},
		{"operations", []Operation{view(ops[0]), view(ops[2])}},
		{"operations-empty", []Operation{}},
		{"key", viewKey(k)},
		{"keys", []Key{viewKey(k)}},
		{"admin-key", viewAdminKey(k)},
		{"subject", viewSubject(goldenSubject())},
		{"subject-noroles", viewSubject(&keyserver.Subject{Principal: p("bob")})},
		{"sign-result", viewSignResult(&keyserver.SignResult{KeyID: "key1", InputData: "00ff", SignatureFormat: "asn1", Result: "a1b2", AuditRecord: "op/0123456789abcdef0123456789abcdef01234567#3"})},
		{"health", Health{Status: "degraded", Dependencies: map[string]string{"tables": "ok", "hsm": "unavailable"}}},
		{"error", Error{Error: keyserver.ENOTFOUND, Message: "Key \"x\" does not exist or is not yours to use.", RequestID: "0123abcd"}},
		{"error-field", Error{Error: keyserver.EINVALID, Message: "kind must be person or app.", Field: "kind", RequestID: "0123abcd"}},
		{"me", newMeBody(&keyserver.Me{Caller: keyserver.Caller{Principal: person("alice"), Name: "Alice", Roles: []string{"approver:key3", "approver:key3"}}})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			writeJSON(rec, 200, tc.v)
			path := "testdata/wire/" + tc.name + ".json"
			if *update {
				if err := os.WriteFile(path, rec.Body.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(rec.Body.Bytes(), want) {
				t.Errorf("the wire of %s changed:\n got %s\nwant %s", tc.name, rec.Body.Bytes(), want)
			}
		})
	}
}

// TestWireRequests pins the member names of every request body.
func TestWireRequests(t *testing.T) {
	var op OperationRequest
	mustDecode(t, `{"validms":60000,"description":"Building of firmware","new-keyusagerestrictions":[{"keyid":"key1","maxusagecount":2}]}`, &op)
	if got := op.domain(); got.ValidMS != 60000 || got.Description != "Building of firmware" || len(got.Keys) != 1 || got.Keys[0] != (keyserver.KeyRequest{KeyID: "key1", MaxUsageCount: 2}) {
		t.Errorf("operation request read as %+v", got)
	}
	var order SignOrder
	mustDecode(t, `{"operationid":"op","keyid":"key1","inputdata":"00","inputformat":"hex","inputpadding":"digestinfo","signatureformat":"asn1","description":"d","hashalgorithm":"sha256"}`, &order)
	want := keyserver.SignOrder{OperationID: "op", KeyID: "key1", InputData: "00", InputFormat: "hex", InputPadding: "digestinfo", SignatureFormat: "asn1", Description: "d", HashAlgorithm: "sha256"}
	if got := order.domain(); *got != want {
		t.Errorf("sign order read as %+v, want %+v", got, want)
	}
	var key KeyRegistration
	mustDecode(t, `{"hsmkey":"https://v/keys/k","requiredapprovals":1,"keyinfo":"i","certificate":"c","enabled":false}`, &key)
	if key.HSMKey != "https://v/keys/k" || key.RequiredApprovals == nil || *key.RequiredApprovals != 1 || key.KeyInfo != "i" || key.Certificate != "c" || key.Enabled == nil || *key.Enabled {
		t.Errorf("key registration read as %+v", key)
	}
	var sub SubjectRegistration
	mustDecode(t, `{"issuer":"https://i","name":"n","roles":["admin"]}`, &sub)
	if sub.Issuer != "https://i" || sub.Name != "n" || len(sub.Roles) != 1 {
		t.Errorf("subject registration read as %+v", sub)
	}
	var approve ApproveRequest
	mustDecode(t, `{"comment":"c"}`, &approve)
	var reject RejectRequest
	mustDecode(t, `{"reason":"r"}`, &reject)
	if approve.Comment != "c" || reject.Reason != "r" {
		t.Errorf("approve %+v, reject %+v", approve, reject)
	}
}

func mustDecode(tb testing.TB, body string, v any) {
	tb.Helper()
	r := httptest.NewRequest("POST", "/", strings.NewReader(body))
	if err := decode(httptest.NewRecorder(), r, v, false); err != nil {
		tb.Fatalf("decoding %s: %v", body, err)
	}
}

// TestWireTypesHoldNoDomainTypes checks that no wire type embeds a domain
// struct, whose field names would then be on the wire.
func TestWireTypesHoldNoDomainTypes(t *testing.T) {
	domain := reflect.TypeFor[keyserver.Operation]().PkgPath()
	var walk func(reflect.Type, string)
	seen := map[reflect.Type]bool{}
	walk = func(ty reflect.Type, path string) {
		if seen[ty] {
			return
		}
		seen[ty] = true
		if ty.PkgPath() == domain {
			t.Errorf("%s is the domain type %s", path, ty)
		}
		switch ty.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
			walk(ty.Elem(), path+"[]")
		case reflect.Struct:
			for i := range ty.NumField() {
				walk(ty.Field(i).Type, path+"."+ty.Field(i).Name)
			}
		}
	}
	for _, v := range []any{Operation{}, Event{}, OperationRequest{}, ApproveRequest{}, RejectRequest{}, SignOrder{}, SignResult{},
		Key{}, AdminKey{}, KeyRegistration{}, Subject{}, SubjectRegistration{}, meBody{}, buildContextView{}, policyBody{}, UIConfig{}, Health{}, Error{}} {
		walk(reflect.TypeOf(v), reflect.TypeOf(v).Name())
	}
}
