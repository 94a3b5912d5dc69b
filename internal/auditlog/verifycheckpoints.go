package auditlog

import "errors"

// checkpoints checks the checkpoints in order and builds the tree of their
// leaves. After the first broken checkpoint only signatures and numbers are
// checked: the leaves that follow can no longer be placed.
func (v *verifier) checkpoints() {
	var prev *Sealed
	var lastN uint64
	for i := range v.log.Checkpoints {
		sc := &v.log.Checkpoints[i]
		cp := &sc.Checkpoint
		v.rep.Checkpoints++
		cert, introduced, err := v.certificateFor(cp)
		if err != nil {
			v.cpProblem(cp.N, KindCheckpointInvalid, "%v", err)
			lastN = max(lastN, cp.N)
			continue
		}
		if err := VerifySignature(cert, cp, sc.Signature); err != nil {
			v.cpProblem(cp.N, KindCheckpointInvalid, "its signature does not verify with the audit certificate it names: %v", err)
			lastN = max(lastN, cp.N)
			continue
		}
		want := lastN + 1
		switch {
		case cp.N < want:
			v.cpProblem(cp.N, KindCheckpointInvalid, "it comes after checkpoint %d", want-1)
			continue
		case cp.N > want:
			for n := want; n < cp.N; n++ {
				v.cpProblem(n, KindCheckpointMissing, "checkpoint %d is followed by checkpoint %d", n-1, cp.N)
			}
		case cp.N == 1 && !cp.Prev.IsZero():
			v.cpProblem(cp.N, KindCheckpointInvalid, "the first checkpoint commits to a previous one")
		case prev != nil && prev.Checkpoint.N == cp.N-1 && cp.Prev != prev.Checkpoint.Hash():
			v.cpProblem(prev.Checkpoint.N, KindCheckpointInvalid, "checkpoint %d does not commit to it: it was changed or replaced", cp.N)
		}
		if !v.broken {
			v.grow(prev, sc)
		}
		if introduced && !v.broken {
			v.introduce(cp, cert)
		}
		prev, lastN = sc, cp.N
		v.rep.Latest = cp
	}
	v.known()
}

// known checks that every checkpoint kept elsewhere is in the log unchanged.
func (v *verifier) known() {
	have := map[uint64]*Checkpoint{}
	for i := range v.log.Checkpoints {
		have[v.log.Checkpoints[i].Checkpoint.N] = &v.log.Checkpoints[i].Checkpoint
	}
	for _, k := range v.log.Known {
		switch c := have[k.N]; {
		case c == nil:
			v.cpProblem(k.N, KindCheckpointMissing, "a copy of it was kept, but the log no longer has it")
		case c.Hash() != k.Hash():
			v.cpProblem(k.N, KindCheckpointInvalid, "it differs from the copy kept")
		}
	}
}

// grow adds sc's leaves to the tree and checks its size, root and the
// consistency with the checkpoint before it.
func (v *verifier) grow(prev, sc *Sealed) {
	cp := &sc.Checkpoint
	from := v.tree.Size()
	for _, lf := range sc.Leaves {
		k := chainSeq{lf.Chain, lf.Seq}
		if _, dup := v.leafAt[k]; dup {
			v.cpProblem(cp.N, KindCheckpointInvalid, "it seals record %s a second time", RecordID(lf.Chain, lf.Seq))
			return
		}
		if _, before := v.leafAt[chainSeq{lf.Chain, lf.Seq - 1}]; lf.Seq > 1 && !before {
			v.cpProblem(cp.N, KindCheckpointInvalid, "it seals record %s before record %s", RecordID(lf.Chain, lf.Seq), RecordID(lf.Chain, lf.Seq-1))
			return
		}
		v.leafAt[k] = len(v.leaves)
		v.leaves = append(v.leaves, lf)
		v.tree.Append(lf.Hash)
	}
	if cp.Size != v.tree.Size() {
		v.cpProblem(cp.N, KindCheckpointInvalid, "it seals a tree of %d leaves, but the checkpoints list %d", cp.Size, v.tree.Size())
		return
	}
	if root, _ := v.tree.Root(cp.Size); root != cp.Root {
		v.cpProblem(cp.N, KindCheckpointInvalid, "its leaves do not lead to its signed root: a leaf list was changed")
		return
	}
	if prev == nil {
		return
	}
	pc := &prev.Checkpoint
	proof, _ := v.tree.ConsistencyProof(from, cp.Size)
	if err := VerifyConsistency(pc.Size, cp.Size, proof, pc.Root, cp.Root); err != nil {
		v.cpProblem(cp.N, KindCheckpointInvalid, "it is not consistent with checkpoint %d: %v", pc.N, err)
	}
	for _, p := range v.log.Proofs {
		if p.From == pc.N && p.To == cp.N {
			if err := VerifyConsistency(pc.Size, cp.Size, p.Proof, pc.Root, cp.Root); err != nil {
				v.cpProblem(cp.N, KindCheckpointInvalid, "the server's consistency proof from checkpoint %d does not verify: %v", pc.N, err)
			}
		}
	}
}

// errNoLeaf marks a record under no checkpoint.
var errNoLeaf = errors.New("under no checkpoint")
