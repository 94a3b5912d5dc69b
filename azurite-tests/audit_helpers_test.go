package azuritetests

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"keyserver/internal/auditwire"
	"keyserver/internal/localstack"
)

// tables opens one of the stack's tables directly, as anyone with write
// access to the storage account could.
func tables(tb testing.TB, name string) *aztables.Client {
	tb.Helper()
	svc, err := aztables.NewServiceClientFromConnectionString(mustStack(tb).Azurite.ConnectionString(), nil)
	if err != nil {
		tb.Fatal(err)
	}
	return svc.NewClient("ks" + name)
}

// recordKey is the row key of record seq of a chain (docs/AUDIT.md).
func recordKey(seq uint64) string { return fmt.Sprintf("x~chain~%019d", math.MaxInt64-int64(seq)) }

func checkpointKey(n uint64) string { return fmt.Sprintf("cp~%019d", math.MaxInt64-int64(n)) }

// entity reads one entity as a property map.
func entity(tb testing.TB, c *aztables.Client, pk, rk string) map[string]any {
	tb.Helper()
	resp, err := c.GetEntity(context.Background(), pk, rk, nil)
	if err != nil {
		tb.Fatalf("reading %s/%s: %v", pk, rk, err)
	}
	var m map[string]any
	if err := json.Unmarshal(resp.Value, &m); err != nil {
		tb.Fatal(err)
	}
	for k := range m {
		if k == "odata.etag" || k == "Timestamp" || k == "odata.metadata" {
			delete(m, k)
		}
	}
	return m
}

// upsert writes an entity as it is, replacing what is there.
func upsert(tb testing.TB, c *aztables.Client, m map[string]any) {
	tb.Helper()
	b, _ := json.Marshal(m)
	if _, err := c.UpsertEntity(context.Background(), b, &aztables.UpsertEntityOptions{UpdateMode: aztables.UpdateModeReplace}); err != nil {
		tb.Fatalf("writing %v/%v: %v", m["PartitionKey"], m["RowKey"], err)
	}
}

func remove(tb testing.TB, c *aztables.Client, pk, rk string) {
	tb.Helper()
	if _, err := c.DeleteEntity(context.Background(), pk, rk, nil); err != nil {
		tb.Fatalf("deleting %s/%s: %v", pk, rk, err)
	}
}

// mustSeal runs the upkeep function once, which seals the audit log.
func mustSeal(tb testing.TB) {
	tb.Helper()
	if err := localstack.InvokeUpkeep(context.Background(), mustStack(tb).HandlerURL, time.Time{}, time.Now()); err != nil {
		tb.Fatalf("upkeep: %v", err)
	}
}

// auditorEnv is ks's environment as a registered auditor.
func auditorEnv(tb testing.TB) []string {
	tb.Helper()
	tok := mustSubject(tb, uniqueName("auditor"), "auditor")
	tokenFile := filepath.Join(tb.TempDir(), "auditor-token")
	if err := os.WriteFile(tokenFile, []byte(tok), 0o600); err != nil {
		tb.Fatal(err)
	}
	return ksEnv(tb, map[string]string{"KSC_ID_TOKEN_FILE": tokenFile})
}

// mustAudit reads one audit route as token.
func mustAudit(tb testing.TB, token, path string, q url.Values, v any) {
	tb.Helper()
	if q != nil {
		path += "?" + q.Encode()
	}
	mustDo(tb, "GET", path, token, nil).mustDecode(tb, http.StatusOK, v)
}

// signRecords returns the sign records of an operation, as its requester reads them.
func signRecords(tb testing.TB, token, opID string) []auditwire.Record {
	tb.Helper()
	var page auditwire.Page
	mustAudit(tb, token, "/api/audit", url.Values{"operation": {opID}, "event": {"sign"}}, &page)
	return page.Records
}
