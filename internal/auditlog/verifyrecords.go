package auditlog

import (
	"fmt"
	"sort"
)

// records checks each chain's records: positions, links, leaves, and that
// every leaf in the export's time range has its record.
func (v *verifier) records() {
	byChain := map[string][]*Stored{}
	var chains []string
	for i := range v.log.Records {
		s := &v.log.Records[i]
		if byChain[s.Record.Chain] == nil {
			chains = append(chains, s.Record.Chain)
		}
		byChain[s.Record.Chain] = append(byChain[s.Record.Chain], s)
	}
	present := map[chainSeq]bool{}
	for _, c := range chains {
		v.chain(c, byChain[c], present)
	}
	for _, lf := range v.leaves {
		if !present[chainSeq{lf.Chain, lf.Seq}] && !lf.Time.Before(v.log.Since) {
			v.problem(Problem{Kind: KindDeleted, Record: RecordID(lf.Chain, lf.Seq), time: lf.Time,
				Message: fmt.Sprintf("it is leaf %d of the tree, but storage no longer holds it", v.leafAt[chainSeq{lf.Chain, lf.Seq}])})
		}
	}
}

// chain checks one chain's records, given in row order.
func (v *verifier) chain(name string, rows []*Stored, present map[chainSeq]bool) {
	bySeq := map[uint64]*Stored{}
	var seqs []uint64
	for _, s := range rows {
		r := &s.Record
		v.rep.Records++
		if err := r.Check(); err != nil {
			v.recProblem(r, KindEdited, "it cannot be encoded: %v", err)
		}
		if other := bySeq[r.Seq]; other != nil {
			// Two records claim one place; the one the tree does not hold is the intruder.
			intruder := s
			if v.leafMatches(&s.Record) && !v.leafMatches(&other.Record) {
				intruder, bySeq[r.Seq] = other, s
			}
			v.recProblem(&intruder.Record, KindInserted, "another record of its chain has sequence number %d", r.Seq)
			continue
		}
		bySeq[r.Seq] = s
		seqs = append(seqs, r.Seq)
		present[chainSeq{name, r.Seq}] = true
		if s.Row != r.Seq {
			v.recProblem(r, KindReordered, "it is stored at position %d of its chain", s.Row)
		}
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	for i, seq := range seqs {
		s := bySeq[seq]
		v.sealedCheck(&s.Record)
		switch {
		case i > 0 && seqs[i-1] != seq-1:
			v.gap(name, seqs[i-1]+1, seq, s)
		case i == 0 && seq > 1 && v.log.Since.IsZero():
			v.gap(name, 1, seq, s)
		}
		v.link(s, bySeq[seq-1])
	}
}

// gap names the records from..to-1 of chain as deleted, unless the tree
// already did.
func (v *verifier) gap(chain string, from, to uint64, next *Stored) {
	for seq := from; seq < to; seq++ {
		if _, sealed := v.leafAt[chainSeq{chain, seq}]; !sealed {
			v.problem(Problem{Kind: KindDeleted, Record: RecordID(chain, seq), time: next.Record.Time,
				Message: fmt.Sprintf("its chain goes on at %s", next.Record.ID())})
		}
	}
}

// link checks that s links to the record before it: the stored one, or the
// tree's leaf for it when that record is outside the export.
func (v *verifier) link(s, prev *Stored) {
	r := &s.Record
	if r.Seq == 1 {
		return
	}
	var want Hash
	switch {
	case prev != nil:
		want = prev.Record.LeafHash()
	default:
		i, ok := v.leafAt[chainSeq{r.Chain, r.Seq - 1}]
		if !ok {
			return
		}
		want = v.leaves[i].Hash
	}
	if r.Prev == want {
		return
	}
	// Blame the record the tree does not vouch for; one whose leaf differs
	// is already named.
	if (v.isSealed(r) && !v.leafMatches(r)) || (prev != nil && v.isSealed(&prev.Record) && !v.leafMatches(&prev.Record)) {
		return
	}
	if prev != nil && !v.isSealed(&prev.Record) {
		v.recProblem(&prev.Record, KindEdited, "record %s's link to it no longer matches", r.ID())
		return
	}
	v.recProblem(r, KindEdited, "its link to record %s does not match", RecordID(r.Chain, r.Seq-1))
}

// sealedCheck checks a record against its leaf and the inclusion proof of
// that leaf under the latest checkpoint; a record under no checkpoint but
// older than one was put in storage after that checkpoint.
func (v *verifier) sealedCheck(r *Record) {
	i, ok := v.leafAt[chainSeq{r.Chain, r.Seq}]
	if !ok {
		if l := v.rep.Latest; l != nil && !v.broken && r.Time.Before(l.Time.Add(-SealSlack)) {
			v.recProblem(r, KindInserted, "it is dated before checkpoint %d but no checkpoint holds it", l.N)
		}
		return
	}
	v.rep.Sealed++
	h := r.LeafHash()
	if h != v.leaves[i].Hash {
		v.recProblem(r, KindEdited, "its hash differs from leaf %d of the tree", i)
		return
	}
	size := v.tree.Size()
	root, _ := v.tree.Root(size)
	proof, err := v.tree.InclusionProof(uint64(i), size)
	if err == nil {
		err = VerifyInclusion(uint64(i), size, h, proof, root)
	}
	if err != nil {
		v.recProblem(r, KindEdited, "its inclusion proof does not verify: %v", err)
	}
}

func (v *verifier) isSealed(r *Record) bool {
	_, ok := v.leafAt[chainSeq{r.Chain, r.Seq}]
	return ok
}

// leafMatches reports whether the tree holds r exactly.
func (v *verifier) leafMatches(r *Record) bool {
	i, ok := v.leafAt[chainSeq{r.Chain, r.Seq}]
	return ok && v.leaves[i].Hash == r.LeafHash()
}

func (v *verifier) recProblem(r *Record, kind, format string, args ...any) {
	v.problem(Problem{Kind: kind, Record: r.ID(), time: r.Time, Message: fmt.Sprintf(format, args...)})
}
