package tablestore

import (
	"sync"

	"keyserver/internal/auditlog"
)

// journal remembers the records this process wrote, chain by chain, until
// the sealer has them: what was written is what is sealed, so the sealer
// reads only a chain's head row to learn whether another process wrote
// after. A gap (another process's records) starts the chain's memory anew;
// past maxJournal records it is all dropped, and the sealer reads storage.
type journal struct {
	mu    sync.Mutex
	recs  map[string][]auditlog.Record // consecutive records of each chain
	count int
}

const maxJournal = 20000

func (j *journal) add(chain string, recs []auditlog.Record) {
	if len(recs) == 0 {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	cur := j.recs[chain]
	if n := len(cur); n > 0 && cur[n-1].Seq+1 != recs[0].Seq {
		j.count -= n
		cur = nil
	}
	if j.recs == nil || j.count+len(recs) > maxJournal {
		j.recs, j.count, cur = map[string][]auditlog.Record{}, 0, nil
	}
	j.recs[chain] = append(cur, recs...)
	j.count += len(recs)
}

// trim forgets the records of chain up to seq, which are sealed.
func (j *journal) trim(chain string, seq uint64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	cur := j.recs[chain]
	i := 0
	for i < len(cur) && cur[i].Seq <= seq {
		i++
	}
	j.count -= i
	if i == len(cur) {
		delete(j.recs, chain)
	} else if i > 0 {
		j.recs[chain] = append([]auditlog.Record(nil), cur[i:]...)
	}
}

// span returns the records of chain after after up to head, when this
// process wrote all of those before head and they link from after to head.
func (j *journal) span(chain string, after auditlog.Head, head auditlog.Stored) ([]auditlog.Stored, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	cur := j.recs[chain]
	want := head.Row - after.Seq - 1 // records between the sealed head and the head
	prev := after.Hash
	out := make([]auditlog.Stored, 0, want+1)
	for _, r := range cur {
		if r.Seq <= after.Seq || uint64(len(out)) == want {
			continue
		}
		if r.Seq != after.Seq+1+uint64(len(out)) || r.Prev != prev {
			return nil, false
		}
		out = append(out, auditlog.Stored{Row: r.Seq, Record: r})
		prev = r.LeafHash()
	}
	if uint64(len(out)) != want || head.Record.Prev != prev {
		return nil, false
	}
	return append(out, head), true
}
