package auditlog

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"math/bits"
	"slices"
)

// The Merkle tree of RFC 6962 section 2.1 over records' leaf hashes.
// Leaves are LeafHash values (already prefixed with 0x00); interior nodes
// are SHA-256(0x01 || left || right).

func nodeHash(l, r Hash) Hash {
	h := sha256.New()
	h.Write([]byte{nodePrefix})
	h.Write(l[:])
	h.Write(r[:])
	var out Hash
	h.Sum(out[:0])
	return out
}

// split is the largest power of two smaller than n (n > 1).
func split(n uint64) uint64 { return 1 << (bits.Len64(n-1) - 1) }

// Tree holds the leaves and every complete aligned subtree hash, so that
// roots and proofs of any prefix cost O(log² n).
type Tree struct {
	levels [][]Hash // levels[i][j]: the root of leaves j·2^i to (j+1)·2^i
}

// NewTree builds the tree of leaves.
func NewTree(leaves []Hash) *Tree {
	t := &Tree{levels: [][]Hash{slices.Clip(leaves)}}
	for l := leaves; len(l) > 1; {
		next := make([]Hash, len(l)/2)
		for j := range next {
			next[j] = nodeHash(l[2*j], l[2*j+1])
		}
		t.levels = append(t.levels, next)
		l = next
	}
	return t
}

// Append adds leaves.
func (t *Tree) Append(leaves ...Hash) {
	for _, h := range leaves {
		t.levels[0] = append(t.levels[0], h)
		for i, n := 0, uint64(len(t.levels[0])); n%2 == 0; i, n = i+1, n/2 {
			if len(t.levels) == i+1 {
				t.levels = append(t.levels, nil)
			}
			l := t.levels[i]
			t.levels[i+1] = append(t.levels[i+1], nodeHash(l[len(l)-2], l[len(l)-1]))
		}
	}
}

// Clone returns a tree that grows apart from t.
func (t *Tree) Clone() *Tree {
	c := &Tree{levels: make([][]Hash, len(t.levels))}
	for i, l := range t.levels {
		c.levels[i] = slices.Clip(l)
	}
	return c
}

// Size is the number of leaves.
func (t *Tree) Size() uint64 { return uint64(len(t.levels[0])) }

// Leaf returns leaf i.
func (t *Tree) Leaf(i uint64) Hash { return t.levels[0][i] }

// hash is MTH of leaves lo to hi (exclusive), lo a multiple of a power of
// two at least hi-lo, as RFC 6962's recursion asks for.
func (t *Tree) hash(lo, hi uint64) Hash {
	n := hi - lo
	switch {
	case n == 0:
		return sha256.Sum256(nil)
	case n&(n-1) == 0 && lo%n == 0:
		i := bits.TrailingZeros64(n)
		return t.levels[i][lo>>i]
	}
	k := split(n)
	return nodeHash(t.hash(lo, lo+k), t.hash(lo+k, hi))
}

// Root is MTH of the first size leaves; the root of the empty tree is
// SHA-256("").
func (t *Tree) Root(size uint64) (Hash, error) {
	if size > t.Size() {
		return Hash{}, fmt.Errorf("the tree has %d leaves, not %d", t.Size(), size)
	}
	return t.hash(0, size), nil
}

// RootHash is MTH(leaves).
func RootHash(leaves []Hash) Hash { return NewTree(leaves).hash(0, uint64(len(leaves))) }

// InclusionProof is PATH(index, D[size]): the audit path of leaf index in
// the tree of the first size leaves.
func (t *Tree) InclusionProof(index, size uint64) ([]Hash, error) {
	if size > t.Size() || index >= size {
		return nil, fmt.Errorf("leaf %d is not in a tree of %d leaves", index, min(size, t.Size()))
	}
	return t.path(index, 0, size), nil
}

func (t *Tree) path(m, lo, hi uint64) []Hash {
	n := hi - lo
	if n == 1 {
		return nil
	}
	k := split(n)
	if m < k {
		return append(t.path(m, lo, lo+k), t.hash(lo+k, hi))
	}
	return append(t.path(m-k, lo+k, hi), t.hash(lo, lo+k))
}

// ConsistencyProof is PROOF(m, D[n]): it shows that the tree of the first m
// leaves is a prefix of the tree of the first n. It is empty when m is 0 or n.
func (t *Tree) ConsistencyProof(m, n uint64) ([]Hash, error) {
	if n > t.Size() || m > n {
		return nil, fmt.Errorf("a tree of %d leaves has no prefix of %d", min(n, t.Size()), m)
	}
	if m == 0 || m == n {
		return nil, nil
	}
	return t.subproof(m, 0, n, true), nil
}

func (t *Tree) subproof(m, lo, hi uint64, whole bool) []Hash {
	n := hi - lo
	if m == n {
		if whole {
			return nil
		}
		return []Hash{t.hash(lo, hi)}
	}
	k := split(n)
	if m <= k {
		return append(t.subproof(m, lo, lo+k, whole), t.hash(lo+k, hi))
	}
	return append(t.subproof(m-k, lo+k, hi, false), t.hash(lo, lo+k))
}

// ErrProof is the error of a proof that does not verify.
var ErrProof = errors.New("the proof does not verify")

// VerifyInclusion checks that leaf is leaf index of the tree of size leaves
// whose root is root (RFC 9162 section 2.1.3.2).
func VerifyInclusion(index, size uint64, leaf Hash, proof []Hash, root Hash) error {
	if index >= size {
		return fmt.Errorf("%w: leaf %d is not in a tree of %d leaves", ErrProof, index, size)
	}
	fn, sn, r := index, size-1, leaf
	for _, p := range proof {
		if sn == 0 {
			return fmt.Errorf("%w: the inclusion proof is too long", ErrProof)
		}
		if fn&1 == 1 || fn == sn {
			r = nodeHash(p, r)
			for fn&1 == 0 && fn != 0 {
				fn, sn = fn>>1, sn>>1
			}
		} else {
			r = nodeHash(r, p)
		}
		fn, sn = fn>>1, sn>>1
	}
	if sn != 0 || r != root {
		return fmt.Errorf("%w: leaf %d does not lead to the root of the tree of %d leaves", ErrProof, index, size)
	}
	return nil
}

// VerifyConsistency checks that the tree of m leaves with root rootM is a
// prefix of the tree of n leaves with root rootN (RFC 9162 section 2.1.4.2).
func VerifyConsistency(m, n uint64, proof []Hash, rootM, rootN Hash) error {
	switch {
	case m > n:
		return fmt.Errorf("%w: a tree of %d leaves cannot grow into one of %d", ErrProof, m, n)
	case m == 0:
		if len(proof) != 0 {
			return fmt.Errorf("%w: the empty tree needs an empty proof", ErrProof)
		}
		return nil
	case m == n:
		if len(proof) != 0 || rootM != rootN {
			return fmt.Errorf("%w: two trees of %d leaves differ", ErrProof, m)
		}
		return nil
	case len(proof) == 0:
		return fmt.Errorf("%w: the consistency proof is empty", ErrProof)
	}
	if m&(m-1) == 0 {
		proof = append([]Hash{rootM}, proof...)
	}
	fn, sn := m-1, n-1
	for fn&1 == 1 {
		fn, sn = fn>>1, sn>>1
	}
	fr, sr := proof[0], proof[0]
	for _, c := range proof[1:] {
		if sn == 0 {
			return fmt.Errorf("%w: the consistency proof is too long", ErrProof)
		}
		if fn&1 == 1 || fn == sn {
			fr, sr = nodeHash(c, fr), nodeHash(c, sr)
			for fn&1 == 0 && fn != 0 {
				fn, sn = fn>>1, sn>>1
			}
		} else {
			sr = nodeHash(sr, c)
		}
		fn, sn = fn>>1, sn>>1
	}
	if sn != 0 || fr != rootM || sr != rootN {
		return fmt.Errorf("%w: the tree of %d leaves is not a prefix of the tree of %d", ErrProof, m, n)
	}
	return nil
}
