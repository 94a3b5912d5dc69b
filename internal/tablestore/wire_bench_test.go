package tablestore

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"keyserver/internal/auditlog"
	"keyserver/internal/keyserver"
)

// BenchmarkOpFromRow is what OperationForSigning does with an op row it
// knows: the operation it holds, for every signature.
func BenchmarkOpFromRow(b *testing.B) {
	now := time.Now().UTC()
	op := &keyserver.Operation{ID: keyserver.NewID(), Requester: keyserver.Principal{Issuer: "i", Subject: "s"}, Description: "benchmark",
		Created: now, Expires: now.Add(time.Hour), Keys: []*keyserver.KeyGrant{{KeyID: "k1", MaxUsageCount: 1000, HSMKey: "https://v.vault.azure.net/keys/k1"}}}
	r, err := opRowOf(op)
	if err != nil {
		b.Fatal(err)
	}
	r.setJSON(usesProperty, newUses(op))
	e, err := parseOpEntity(r.marshal())
	if err != nil {
		b.Fatal(err)
	}
	h, err := headOf(e)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := opFromRow(e, h); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWireBatch posts a transaction of two actions over the wire to a
// server that answers as the table service does (chunked), and reads the
// answer: the request and answer work of each transaction of the sign path.
func BenchmarkWireBatch(b *testing.B) {
	answer := "--batchresponse_1\r\nContent-Type: multipart/mixed; boundary=changesetresponse_1\r\n\r\n" +
		"--changesetresponse_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n" +
		"HTTP/1.1 204 No Content\r\nX-Content-Type-Options: nosniff\r\nCache-Control: no-cache\r\nDataServiceVersion: 3.0;\r\nETag: W/\"datetime'2026-11-30T09%3A00%3A00.1234567Z'\"\r\n\r\n\r\n" +
		"--changesetresponse_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n" +
		"HTTP/1.1 204 No Content\r\nX-Content-Type-Options: nosniff\r\nCache-Control: no-cache\r\nPreference-Applied: return-no-content\r\nDataServiceVersion: 3.0;\r\nLocation: http://127.0.0.1/devstoreaccount1/ops(PartitionKey='p',RowKey='u~k1~000001')\r\nDataServiceId: http://127.0.0.1/devstoreaccount1/ops(PartitionKey='p',RowKey='u~k1~000001')\r\nETag: W/\"datetime'2026-11-30T09%3A00%3A00.1234567Z'\"\r\n\r\n\r\n" +
		"--changesetresponse_1--\r\n--batchresponse_1--\r\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "multipart/mixed; boundary=batchresponse_1")
		w.WriteHeader(http.StatusAccepted)
		w.Write([]byte(answer))
		w.(http.Flusher).Flush() // chunked, as the service answers
	}))
	defer srv.Close()
	w := &wire{client: srv.Client(), retry: policy.RetryOptions{MaxRetries: 3, TryTimeout: time.Minute, RetryDelay: time.Millisecond, MaxRetryDelay: time.Millisecond},
		service: srv.URL + "/devstoreaccount1", auth: newSharedKeyLite("devstoreaccount1", []byte("0123456789abcdef0123456789abcdef"))}
	op := newRow("p", opRow).set("Uses", `{"k1":{"n":1,"s":0,"seq":1}}`)
	res := newRow("p", "u~k1~000001").set("KeyID", "k1").set("Seq", int32(1))
	etag := azcore.ETag("W/\"datetime'2026-11-30T09%3A00%3A00.1234567Z'\"")
	actions := []aztables.TransactionAction{
		{ActionType: aztables.TransactionTypeUpdateMerge, Entity: op.marshal(), IfMatch: &etag},
		{ActionType: aztables.TransactionTypeAdd, Entity: res.marshal()},
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := w.batch(ctx, "ops", actions); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRowKeysAndMarshal makes the row keys of a reservation and an
// audit record and encodes a record row, as each signature does.
func BenchmarkRowKeysAndMarshal(b *testing.B) {
	rec := &auditlog.Record{Chain: "op/0f6c1d2e3a4b5c6d7e8f9a0b1c2d3e4f", Seq: 12, Time: time.Now(), Event: "sign",
		ActorIssuer: "https://login.microsoftonline.com/0000/v2.0", ActorSubject: "pipeline", OperationID: "0f6c1d2e3a4b5c6d7e8f9a0b1c2d3e4f",
		KeyID: "k1", Digest: "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90", Result: "ok", Detail: `{"format":"asn1"}`}
	b.ReportAllocs()
	for b.Loop() {
		_ = reservationRowKey("k1", 123)
		_ = recordRow("0f6c1d2e3a4b5c6d7e8f9a0b1c2d3e4f", rec).marshal()
	}
}
