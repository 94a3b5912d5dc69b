package tablestore

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"keyserver/internal/keyserver"
)

// forbiddenInKeys are the characters Table Storage refuses in PartitionKey and RowKey.
var forbiddenInKeys = regexp.MustCompile(`[/\\#?\x00-\x1f\x7f-\x9f]`)

func TestTablestoreEncodeKey(t *testing.T) {
	for _, s := range []string{"", "alice", "https://login.example/tenant/v2.0", "a/b\\c#d?e", "tab\there\x00", "ünïcode ✓", "'quoted'"} {
		k := encodeKey(s)
		if forbiddenInKeys.MatchString(k) || strings.Contains(k, "'") {
			t.Fatalf("encodeKey(%q) = %q holds a character keys may not hold", s, k)
		}
		back, err := decodeKey(k)
		if err != nil || back != s {
			t.Fatalf("decodeKey(encodeKey(%q)) = %q, %v", s, back, err)
		}
	}
}

func TestTablestoreRowKeys(t *testing.T) {
	p := keyserver.Principal{Issuer: "https://issuer.example", Subject: "a/b#c"}
	approval := approvalRowKey("fw.key-1", p)
	if !regexp.MustCompile(`^op~approval~fw\.key-1~[0-9a-f]{32}$`).MatchString(approval) {
		t.Fatalf("approvalRowKey = %q", approval)
	}
	swapped := keyserver.Principal{Issuer: "https://issuer.example|a", Subject: "b#c"}
	if approvalRowKey("fw.key-1", swapped) == approval {
		t.Fatal("different principals share an approval row key")
	}
	tests := []struct {
		name, got, want string
	}{
		{"reservation row", reservationRowKey("k1", 7), "op~res~k1~0000000007"},
		{"key of approval row", keyIDOfRow(approval, approvalPrefix), "fw.key-1"},
		{"key of reservation row", keyIDOfRow(reservationRowKey("a.b-c_d", 12), reservationPrefix), "a.b-c_d"},
		{"event range", rangeFilter("abc", eventPrefix), "PartitionKey eq 'abc' and RowKey ge 'x~event~' and RowKey lt 'x~event\x7f'"},
		{"quote", quote("it's"), "'it''s'"},
		{"filter time", filterTime(time.Date(2030, 1, 2, 3, 4, 5, 600, time.FixedZone("x", 3600))), "datetime'2030-01-02T02:04:05.0000006Z'"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Fatalf("%s = %q, want %q", tc.name, tc.got, tc.want)
		}
	}
}

func TestTablestoreAuditRowKeysSortByTime(t *testing.T) {
	base := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	var keys []string
	for _, d := range []time.Duration{0, 100 * time.Millisecond, 120 * time.Millisecond, time.Second, time.Second + time.Nanosecond} {
		k := auditRowKey(base.Add(d))
		if forbiddenInKeys.MatchString(k) || !strings.HasPrefix(k, auditPrefix) {
			t.Fatalf("auditRowKey = %q", k)
		}
		keys = append(keys, k)
	}
	if !sort.StringsAreSorted(keys) {
		t.Fatalf("audit row keys do not sort by time: %q", keys)
	}
}

func TestTablestoreOperationRowRoundTrip(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 123456700, time.UTC)
	op := &keyserver.Operation{
		ID:          keyserver.NewID(),
		Requester:   keyserver.Principal{Issuer: "https://i.example", Subject: "pipe"},
		Description: "nightly build",
		Created:     t0,
		Expires:     t0.Add(time.Hour),
		Keys: []*keyserver.KeyGrant{
			{KeyID: "k1", MaxUsageCount: 5, RequiredApprovals: 2, UsageCount: 3, Approvals: []keyserver.Approval{{Time: t0}}, HSMKey: "https://v.vault.azure.net/keys/k1"},
		},
		Cancelled: &keyserver.Closure{By: keyserver.Principal{Issuer: "i", Subject: "s"}, Time: t0, Reason: "no longer needed"},
	}
	r, err := opRowOf(op)
	if err != nil {
		t.Fatalf("opRowOf: %v", err)
	}
	if r.flag("Open") {
		t.Fatal("a cancelled operation's row is marked open")
	}
	if strings.Contains(r.str("Keys"), `"approver"`) || strings.Contains(r.str("Keys"), `"usagecount"`) {
		t.Fatalf("op row keys %s hold approvals or usage", r.str("Keys"))
	}
	// Rows written before keep being read: the stored JSON is pinned (the
	// approval count is new, and optional when read).
	for col, want := range map[string]string{
		"Keys":      `[{"keyid":"k1","maxusagecount":5,"requiredapprovals":2,"hsmkey":"https://v.vault.azure.net/keys/k1","approvalcount":1}]`,
		"Cancelled": `{"by":{"issuer":"i","subject":"s","kind":"app"},"time":"2030-01-02T03:04:05.1234567Z","reason":"no longer needed"}`,
	} {
		if got := r.str(col); got != want {
			t.Errorf("op row %s = %s, want %s", col, got, want)
		}
	}
	r.setJSON(usesProperty, map[string]useCount{"k1": {N: 3, Seq: 4}})
	back, err := parseOpEntity(r.marshal())
	if err != nil {
		t.Fatalf("parseOpEntity: %v", err)
	}
	h, err := headOf(back)
	if err != nil || h.legacy || h.open || h.max["k1"] != 5 || h.uses["k1"] != (useCount{N: 3, Seq: 4}) {
		t.Fatalf("headOf = %+v, %v; want 3 of 5 uses, the last number 4, closed", h, err)
	}
	got, counted, err := opFromRow(back, h)
	if err != nil || !counted {
		t.Fatalf("opFromRow: counted %v, %v", counted, err)
	}
	want := *op
	want.Keys = []*keyserver.KeyGrant{{KeyID: "k1", MaxUsageCount: 5, RequiredApprovals: 2, UsageCount: 3, Approvals: []keyserver.Approval{}, ApprovalCount: 1, HSMKey: "https://v.vault.azure.net/keys/k1"}}
	if !reflect.DeepEqual(got, &want) {
		t.Fatalf("round trip = %+v, want %+v", got, &want)
	}
}

func TestTablestoreBatchFailure(t *testing.T) {
	failed := "--batchresponse_1\r\nContent-Type: multipart/mixed; boundary=changesetresponse_2\r\n\r\n" +
		"--changesetresponse_2\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 412 Precondition Failed\r\n" +
		"Content-Type: application/json;odata=minimalmetadata\r\n\r\n" +
		`{"odata.error":{"code":"UpdateConditionNotSatisfied","message":{"lang":"en-US","value":"0:The update condition was not satisfied."}}}` +
		"\r\n--changesetresponse_2--\r\n--batchresponse_1--\r\n"
	succeeded := "--changesetresponse_2\r\nHTTP/1.1 204 No Content\r\n\r\n--changesetresponse_2\r\nHTTP/1.1 201 Created\r\n"
	tests := []struct {
		name       string
		body       string
		wantStatus int
		wantCode   string
	}{
		{"precondition failed", failed, 412, "UpdateConditionNotSatisfied"},
		{"succeeded", succeeded, 0, ""},
		{"empty", "", 0, ""},
	}
	for _, tc := range tests {
		status, code := batchFailure([]byte(tc.body))
		if status != tc.wantStatus || code != tc.wantCode {
			t.Fatalf("%s: batchFailure = %d, %q; want %d, %q", tc.name, status, code, tc.wantStatus, tc.wantCode)
		}
	}
}

func TestTablestoreClassify(t *testing.T) {
	opErr := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"refused", fmt.Errorf("sending: %w", opErr), keyserver.EUNAVAILABLE},
		{"server error", &azcore.ResponseError{StatusCode: http.StatusServiceUnavailable}, keyserver.EUNAVAILABLE},
		{"throttled", &azcore.ResponseError{StatusCode: http.StatusTooManyRequests}, keyserver.EUNAVAILABLE},
		{"bad request", &azcore.ResponseError{StatusCode: http.StatusBadRequest}, keyserver.EINTERNAL},
		{"other", errors.New("boom"), keyserver.EINTERNAL},
	}
	for _, tc := range tests {
		err := classify(tc.err, "testing")
		if got := keyserver.ErrorCode(err); got != tc.want {
			t.Fatalf("%s: classify(%v) code %q, want %q", tc.name, tc.err, got, tc.want)
		}
		if !errors.Is(err, tc.err) {
			t.Fatalf("%s: classify lost the cause: %v", tc.name, err)
		}
	}
	if classify(nil, "testing") != nil {
		t.Fatal("classify(nil) is not nil")
	}
}

// TestMarshalAsAztables: row.marshal writes what aztables' EDMEntity would,
// for every property type rows use, without falling back to reflection.
func TestMarshalAsAztables(t *testing.T) {
	r := newRow("op1", "x~chain~0000000000000000001").
		set("Chain", "op/1").set("Seq", aztables.EDMInt64(1<<60+3)).set("N", int32(7)).set("Open", true).
		setTime("Time", time.Date(2026, 11, 30, 7, 0, 0, 123456700, time.UTC))
	var got, want map[string]any
	if err := json.Unmarshal(r.marshal(), &got); err != nil {
		t.Fatalf("marshal: %v", err)
	}
	enc, err := json.Marshal(r.EDMEntity)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(enc, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("marshal = %v, want %v", got, want)
	}
}
