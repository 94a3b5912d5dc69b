package auditlog

import (
	"slices"
	"testing"
	"time"
)

func findRecord(tb testing.TB, l *Log, id string) int {
	tb.Helper()
	for i, s := range l.Records {
		if s.Record.ID() == id {
			return i
		}
	}
	tb.Fatalf("no record %s", id)
	return -1
}

func TestVerifyUntouched(t *testing.T) {
	rep := Verify(sampleLog(t))
	if !rep.OK() {
		t.Fatalf("problems in an untouched log: %v", rep.Problems)
	}
	if rep.Records != 12 || rep.Sealed != 8 || rep.Checkpoints != 3 || rep.Latest.N != 3 {
		t.Errorf("report = %d records, %d sealed, %d checkpoints, latest %d; want 12, 8, 3, 3", rep.Records, rep.Sealed, rep.Checkpoints, rep.Latest.N)
	}
}

func TestVerifyNamesTheFirstTamper(t *testing.T) {
	a, c := OperationChain("aaaa"), OperationChain("bbbb")
	cases := []struct {
		name       string
		tamper     func(tb testing.TB, l *Log)
		kind       string
		record     string
		checkpoint uint64
	}{
		{"edit a sealed record", func(tb testing.TB, l *Log) {
			l.Records[findRecord(tb, l, a+"#3")].Record.Detail = "nothing to see"
		}, KindEdited, a + "#3", 0},
		{"edit the last record of a sealed chain", func(tb testing.TB, l *Log) {
			l.Records[findRecord(tb, l, AdminChain+"#2")].Record.ActorSubject = "mallory"
		}, KindEdited, AdminChain + "#2", 0},
		{"edit a record not sealed yet", func(tb testing.TB, l *Log) {
			l.Records[findRecord(tb, l, a+"#5")].Record.KeyID = "key9"
		}, KindEdited, a + "#5", 0},
		{"delete a sealed record", func(tb testing.TB, l *Log) {
			l.Records = slices.Delete(l.Records, findRecord(tb, l, a+"#2"), findRecord(tb, l, a+"#2")+1)
		}, KindDeleted, a + "#2", 0},
		{"delete the last sealed record of a chain", func(tb testing.TB, l *Log) {
			i := findRecord(tb, l, AdminChain+"#2")
			l.Records = slices.Delete(l.Records, i, i+1)
		}, KindDeleted, AdminChain + "#2", 0},
		{"delete a record not sealed yet", func(tb testing.TB, l *Log) {
			i := findRecord(tb, l, a+"#6")
			l.Records = slices.Delete(l.Records, i, i+1)
		}, KindDeleted, a + "#6", 0},
		{"swap two records", func(tb testing.TB, l *Log) {
			i, j := findRecord(tb, l, a+"#3"), findRecord(tb, l, a+"#4")
			l.Records[i].Record, l.Records[j].Record = l.Records[j].Record, l.Records[i].Record
		}, KindReordered, a + "#3", 0},
		{"insert a forged record with a taken number", func(tb testing.TB, l *Log) {
			i := findRecord(tb, l, a+"#4")
			forged := l.Records[i]
			forged.Record.Digest = "00ff"
			l.Records = slices.Insert(l.Records, i+1, forged)
		}, KindInserted, a + "#4", 0},
		{"insert a forged record older than a checkpoint", func(tb testing.TB, l *Log) {
			i := findRecord(tb, l, c+"#3")
			last := l.Records[i].Record
			head := Head{Seq: last.Seq, Hash: last.LeafHash()}
			forged, _ := head.Chain(Record{Chain: c, Time: l.Checkpoints[2].Checkpoint.Time.Add(-SealSlack - time.Second), Event: EventSign, Result: "ok"})
			l.Records = slices.Insert(l.Records, i+1, Stored{Row: forged.Seq, Record: forged})
		}, KindInserted, c + "#4", 0},
		{"drop a checkpoint", func(tb testing.TB, l *Log) {
			l.Checkpoints = slices.Delete(l.Checkpoints, 1, 2)
		}, KindCheckpointMissing, "", 2},
		{"drop the latest checkpoint, a copy of which was kept", func(tb testing.TB, l *Log) {
			l.Known = []Checkpoint{l.Checkpoints[2].Checkpoint}
			l.Checkpoints = l.Checkpoints[:2]
		}, KindCheckpointMissing, "", 3},
		{"change a checkpoint's leaf list", func(tb testing.TB, l *Log) {
			l.Checkpoints[0].Leaves[1].Hash[0] ^= 1
		}, KindCheckpointInvalid, "", 1},
		{"change a signed checkpoint", func(tb testing.TB, l *Log) {
			l.Checkpoints[1].Checkpoint.Size++
		}, KindCheckpointInvalid, "", 2},
		{"replace a checkpoint's predecessor link", func(tb testing.TB, l *Log) {
			l.Checkpoints[2].Checkpoint.Prev[0] ^= 1
		}, KindCheckpointInvalid, "", 3},
		{"another audit certificate", func(tb testing.TB, l *Log) {
			_, l.Certificate = mustKey(tb)
		}, KindCheckpointInvalid, "", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := sampleLog(t)
			tc.tamper(t, l)
			rep := Verify(l)
			if rep.OK() {
				t.Fatal("the tampered log verified")
			}
			p := rep.Problems[0]
			if p.Kind != tc.kind || p.Record != tc.record || p.Checkpoint != tc.checkpoint {
				t.Errorf("first problem = %q (%s, record %q, checkpoint %d), want %s, record %q, checkpoint %d; all: %v",
					p, p.Kind, p.Record, p.Checkpoint, tc.kind, tc.record, tc.checkpoint, rep.Problems)
			}
		})
	}
}
