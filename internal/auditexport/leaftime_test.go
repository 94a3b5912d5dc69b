package auditexport_test

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"keyserver/internal/auditexport"
	"keyserver/internal/auditwire"
)

// dropRecordAndBackdateLeaf deletes record id from records.jsonl and sets
// the (unsigned) time of its leaf in the checkpoint that lists it to at.
func dropRecordAndBackdateLeaf(t *testing.T, dir, chain string, seq uint64, at string) {
	t.Helper()
	path := filepath.Join(dir, auditexport.RecordsFile)
	b, err := os.ReadFile(path)
	mustNil(t, err)
	var kept []string
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	dropped := false
	for sc.Scan() {
		var r auditwire.Record
		mustNil(t, json.Unmarshal(sc.Bytes(), &r))
		if r.Chain == chain && r.Seq == seq {
			dropped = true
			continue
		}
		kept = append(kept, sc.Text())
	}
	if !dropped {
		t.Fatalf("no record %s#%d in the export", chain, seq)
	}
	mustNil(t, os.WriteFile(path, []byte(strings.Join(kept, "\n")+"\n"), 0o644))
	names, _ := filepath.Glob(filepath.Join(dir, auditexport.CheckpointDir, "*.json"))
	for _, name := range names {
		b, err := os.ReadFile(name)
		mustNil(t, err)
		var c auditwire.Checkpoint
		mustNil(t, json.Unmarshal(b, &c))
		for i := range c.Leaves {
			if c.Leaves[i].Chain == chain && c.Leaves[i].Seq == seq {
				c.Leaves[i].Time = at // not signed: only the leaf hash is
				b, err = json.Marshal(c)
				mustNil(t, err)
				mustNil(t, os.WriteFile(name, b, 0o644))
				return
			}
		}
	}
	t.Fatalf("no leaf %s#%d", chain, seq)
}

// A sealed record deleted from storage, with its leaf's unsigned time moved
// before the export's since (or to year 0 for a whole-log export), is
// reported as deleted.
func TestVerifyDeletedRecordWithBackdatedLeaf(t *testing.T) {
	for _, tc := range []struct {
		name  string
		since time.Time
		at    string
	}{
		{"whole log", time.Time{}, "0000-01-01T00:00:00.000000Z"},
		{"since", time.Now().Add(-time.Hour), "2000-01-01T00:00:00.000000Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, src := rotationFlow(t)
			dir := exportTo(t, src, tc.since)
			if rep, out := verifyDir(t, dir); !rep.OK() {
				t.Fatalf("untouched: %q", out)
			}
			dropRecordAndBackdateLeaf(t, dir, "op/aaaa", 3, tc.at)
			if rep, out := verifyDir(t, dir); rep.OK() {
				t.Fatalf("record op/aaaa#3 deleted, its leaf's time changed; verify = %q", out)
			}
		})
	}
}
