package strictjson_test

import (
	"testing"

	"keyserver/internal/api"
	"keyserver/internal/strictjson"
)

// BenchmarkUnmarshalSignOrder decodes the body of a sign order, as every
// signature does.
func BenchmarkUnmarshalSignOrder(b *testing.B) {
	body := []byte(`{"operationid":"0f6c1d2e3a4b5c6d7e8f9a0b1c2d3e4f","keyid":"key1",` +
		`"inputdata":"3031300d060960864801650304020105000420a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90",` +
		`"inputformat":"hex","inputpadding":"digestinfo","signatureformat":"asn1","description":"benchmark"}`)
	b.ReportAllocs()
	for b.Loop() {
		var o api.SignOrder
		if err := strictjson.Unmarshal(body, &o); err != nil {
			b.Fatal(err)
		}
	}
}
