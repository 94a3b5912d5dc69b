package auditlog

import (
	"slices"
	"testing"
	"time"
)

// dropRecord removes record id and sets the unsigned time of its leaf to at.
func dropRecord(tb testing.TB, l *Log, id string, at time.Time) {
	tb.Helper()
	i := findRecord(tb, l, id)
	r := l.Records[i].Record
	l.Records = slices.Delete(l.Records, i, i+1)
	for c := range l.Checkpoints {
		for j, lf := range l.Checkpoints[c].Leaves {
			if lf.Chain == r.Chain && lf.Seq == r.Seq {
				l.Checkpoints[c].Leaves[j].Time = at
			}
		}
	}
}

func mustFirstProblem(tb testing.TB, rep *Report, kind, record string) {
	tb.Helper()
	if rep.OK() || rep.Problems[0].Kind != kind || rep.Problems[0].Record != record {
		tb.Fatalf("problems = %v; want first: record %s %s", rep.Problems, record, kind)
	}
}

// A leaf's time is not signed: moving it back never excuses a deleted
// sealed record, in a whole-log export or one from a time.
func TestVerifyLeafTimeExcusesNothing(t *testing.T) {
	a := OperationChain("aaaa")
	for _, at := range []time.Time{{}, time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)} {
		l := sampleLog(t)
		dropRecord(t, l, a+"#2", at)
		mustFirstProblem(t, Verify(l), KindDeleted, a+"#2")

		l = sampleLog(t)
		l.Since = l.Checkpoints[0].Checkpoint.Time // checkpoint 1 was signed at since
		dropRecord(t, l, a+"#2", at)
		mustFirstProblem(t, Verify(l), KindDeleted, a+"#2")
	}
}

// An export from since may lack the records of checkpoints signed more than
// SealSlack before since, and only those; RecordsFrom says from when an
// export fetches records so that it holds the others.
func TestVerifySinceExcusesOldCheckpointsOnly(t *testing.T) {
	a := OperationChain("aaaa")
	l := sampleLog(t)
	cp1, cp2 := l.Checkpoints[0], l.Checkpoints[1]
	l.Since = cp1.Checkpoint.Time.Add(SealSlack + time.Second)
	if from := RecordsFrom(l.Since, l.Checkpoints); !from.Equal(l.Since.Add(-SealSlack)) || !from.Before(cp2.Leaves[0].Time) {
		t.Fatalf("RecordsFrom = %v; want SealSlack before since, before checkpoint 2's first leaf (%v)", from, cp2.Leaves[0].Time)
	}
	for _, lf := range cp1.Leaves {
		i := findRecord(t, l, RecordID(lf.Chain, lf.Seq))
		l.Records = slices.Delete(l.Records, i, i+1)
	}
	if rep := Verify(l); !rep.OK() {
		t.Fatalf("records of a checkpoint signed before since left out: %v", rep.Problems)
	}
	dropRecord(t, l, a+"#3", time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC))
	mustFirstProblem(t, Verify(l), KindDeleted, a+"#3")
	if from := RecordsFrom(l.Since, l.Checkpoints); from.Year() != 2000 {
		t.Fatalf("RecordsFrom = %v; want the earliest leaf time given, in 2000", from)
	}
	if from := RecordsFrom(time.Time{}, l.Checkpoints); !from.IsZero() {
		t.Fatalf("RecordsFrom of the whole log = %v", from)
	}
}
