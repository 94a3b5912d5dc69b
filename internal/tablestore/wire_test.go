package tablestore

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

func TestTablestoreRowMarshalAsAztables(t *testing.T) {
	r := newRow("pk-1", "op~res~k1~0000000001").
		set("Text", "quote \" backslash \\ tab \t newline \n nul \x00 ünïcode <&>").
		set("Invalid", "bad \xff byte").
		set("Flag", true).
		set("Count", int32(-42)).
		setTime("Time", time.Date(2030, 1, 2, 3, 4, 5, 123456700, time.FixedZone("x", 3600)))
	var got, want map[string]any
	if err := json.Unmarshal(r.marshal(), &got); err != nil {
		t.Fatalf("marshal wrote invalid JSON: %v", err)
	}
	sdk, err := json.Marshal(r.EDMEntity)
	if err != nil {
		t.Fatalf("aztables: %v", err)
	}
	if err := json.Unmarshal(sdk, &want); err != nil {
		t.Fatalf("aztables wrote invalid JSON: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("marshal = %v\nwant as aztables %v", got, want)
	}
	keys, err := entityKeys(r.marshal())
	if err != nil || keys.PartitionKey != "pk-1" || keys.RowKey != "op~res~k1~0000000001" {
		t.Fatalf("entityKeys = %+v, %v", keys, err)
	}
	keys, err = entityKeys([]byte(`{"RowKey":"r\"1","PartitionKey":"p"}`))
	if err != nil || keys.PartitionKey != "p" || keys.RowKey != `r"1` {
		t.Fatalf("entityKeys of another layout = %+v, %v", keys, err)
	}
}

func TestTablestoreAnswerParts(t *testing.T) {
	body := "--batchresponse_1\r\nContent-Type: multipart/mixed; boundary=changesetresponse_2\r\n\r\n" +
		"--changesetresponse_2\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 204 No Content\r\nETag: W/\"datetime'1'\"\r\n\r\n\r\n" +
		"--changesetresponse_2\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 204 No Content\r\nDataServiceVersion: 3.0;\r\n\r\n\r\n" +
		"--changesetresponse_2\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 201 Created\r\netag: W/\"datetime'3'\"\r\n\r\n\r\n" +
		"--changesetresponse_2--\r\n--batchresponse_1--\r\n"
	statuses, etags := answerParts([]byte(body))
	if !reflect.DeepEqual(statuses, []int{204, 204, 201}) || !reflect.DeepEqual(etags, []azcore.ETag{`W/"datetime'1'"`, "", `W/"datetime'3'"`}) {
		t.Fatalf("answerParts = %v, %q", statuses, etags)
	}
}

func TestTablestoreWireFromConnectionString(t *testing.T) {
	tests := []struct {
		name, conn, service, sas string
		fails                    bool
	}{
		{"azurite", "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;", "http://127.0.0.1:10002/devstoreaccount1", "", false},
		{"account", "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;EndpointSuffix=core.chinacloudapi.cn", "https://acct.table.core.chinacloudapi.cn", "", false},
		{"sas", "AccountName=acct;SharedAccessSignature=sv=1&sig=x", "https://acct.table.core.windows.net", "sv=1&sig=x", false},
		{"no account", "AccountKey=a2V5", "", "", true},
		{"no key", "AccountName=acct", "", "", true},
		{"key not base64", "AccountName=acct;AccountKey=%%%", "", "", true},
	}
	for _, tt := range tests {
		w, err := wireFromConnectionString(tt.conn, clientOptions())
		if tt.fails {
			if err == nil {
				t.Fatalf("%s: no error", tt.name)
			}
			continue
		}
		if err != nil || w.service != tt.service || w.sas != tt.sas {
			t.Fatalf("%s: wire %+v, %v; want service %s, sas %q", tt.name, w, err, tt.service, tt.sas)
		}
	}
}

func TestTablestoreWireRetriesLikeAztables(t *testing.T) {
	var calls atomic.Int32
	answers := map[string][]int{"/t(PartitionKey='p',RowKey='once')": {503, 200}, "/t(PartitionKey='p',RowKey='down')": {500, 500, 500, 500}, "/t(PartitionKey='p',RowKey='gone')": {404, 200}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		if r.Header.Get("Authorization") != "Bearer tok-1" || r.Header.Get("X-Ms-Version") == "" {
			t.Errorf("request %d without the token or version: %v", n, r.Header)
		}
		seq := answers[r.URL.EscapedPath()]
		status := seq[0]
		answers[r.URL.EscapedPath()] = seq[1:]
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"status":%d}`, status)
	}))
	defer srv.Close()
	cred := &fakeCredential{}
	w := newWire(srv.URL, "", &bearer{cred: cred}, clientOptions())
	w.retry.RetryDelay, w.retry.MaxRetryDelay = time.Millisecond, time.Millisecond
	ctx := context.Background()
	if b, err := w.get(ctx, "t", "p", "once"); err != nil || string(b) != `{"status":200}` {
		t.Fatalf("get after a 503 = %s, %v", b, err)
	}
	_, err := w.get(ctx, "t", "p", "down")
	if status, _ := statusOf(err); status != 500 || calls.Load() != 2+3 {
		t.Fatalf("get of a failing service = %v after %d calls, want 500 after 3 tries", err, calls.Load()-2)
	}
	_, err = w.get(ctx, "t", "p", "gone")
	if !isNotFound(err) || calls.Load() != 6 {
		t.Fatalf("get of a missing entity = %v after %d calls, want not found at once", err, calls.Load()-5)
	}
	if cred.calls != 1 {
		t.Fatalf("%d tokens fetched, want 1", cred.calls)
	}
}

type fakeCredential struct{ calls int }

func (c *fakeCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c.calls++
	return azcore.AccessToken{Token: fmt.Sprintf("tok-%d", c.calls), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// TestSameEntity: a transaction found committed after its answer was lost
// is one whose first added row is there as sent, whatever fraction digits
// the service writes its times with; a row another writer added alike but
// for its nonce is not.
func TestSameEntity(t *testing.T) {
	sent := []byte(`{"PartitionKey":"p","RowKey":"r","Seq":3,"Time":"2026-11-30T07:00:00.1Z","Time@odata.type":"Edm.DateTime","Txn":"a1"}`)
	for _, c := range []struct {
		got  string
		same bool
	}{
		{`{"odata.etag":"W/\"x\"","PartitionKey":"p","RowKey":"r","Timestamp":"2026-11-30T07:00:01Z","Seq":3,"Time@odata.type":"Edm.DateTime","Time":"2026-11-30T07:00:00.1000000Z","Txn":"a1"}`, true},
		{`{"PartitionKey":"p","RowKey":"r","Seq":3,"Time":"2026-11-30T07:00:00.1Z","Txn":"b2"}`, false},
		{`{"PartitionKey":"p","RowKey":"r","Seq":3,"Time":"2026-11-30T07:00:00.2Z","Txn":"a1"}`, false},
		{`{"PartitionKey":"p","RowKey":"r","Time":"2026-11-30T07:00:00.1Z","Txn":"a1"}`, false},
	} {
		if got := sameEntity(sent, []byte(c.got)); got != c.same {
			t.Errorf("sameEntity(%s) = %v, want %v", c.got, got, c.same)
		}
	}
}
