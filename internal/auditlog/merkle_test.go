package auditlog

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"
)

// The leaves and roots of RFC 6962's reference test vectors (as used by
// Certificate Transparency implementations).
var vectorLeaves = []string{"", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"}

var vectorRoots = []string{
	"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
	"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
	"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
	"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
	"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}

func leafOf(data []byte) Hash { return sha256.Sum256(append([]byte{leafPrefix}, data...)) }

func TestRootHashVectors(t *testing.T) {
	var leaves []Hash
	for i, l := range vectorLeaves {
		b, _ := hex.DecodeString(l)
		leaves = append(leaves, leafOf(b))
		if got := RootHash(leaves).String(); got != vectorRoots[i] {
			t.Errorf("root of %d leaves = %s, want %s", i+1, got, vectorRoots[i])
		}
	}
	if got, want := RootHash(nil).String(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"; got != want {
		t.Errorf("root of the empty tree = %s, want %s", got, want)
	}
}

// naiveRoot is RFC 6962's MTH, written straight from its definition.
func naiveRoot(d []Hash) Hash {
	if len(d) == 1 {
		return d[0]
	}
	k := 1
	for k*2 < len(d) {
		k *= 2
	}
	return nodeHash(naiveRoot(d[:k]), naiveRoot(d[k:]))
}

func testLeaves(n int) []Hash {
	out := make([]Hash, n)
	for i := range out {
		out[i] = leafOf([]byte{byte(i), byte(i >> 8)})
	}
	return out
}

func TestTreeMatchesDefinition(t *testing.T) {
	all := testLeaves(70)
	grown := NewTree(nil)
	for n := 1; n <= len(all); n++ {
		grown.Append(all[n-1])
		built := NewTree(all[:n])
		want := naiveRoot(all[:n])
		for _, tr := range []*Tree{grown, built} {
			if got, _ := tr.Root(uint64(n)); got != want {
				t.Fatalf("root of %d leaves = %s, want %s", n, got, want)
			}
		}
		for m := 1; m <= n; m++ {
			if got, _ := grown.Root(uint64(m)); got != naiveRoot(all[:m]) {
				t.Fatalf("root of the first %d of %d leaves is wrong", m, n)
			}
		}
	}
}

func TestInclusionProofs(t *testing.T) {
	all := testLeaves(37)
	tr := NewTree(all)
	for n := uint64(1); n <= tr.Size(); n++ {
		root, _ := tr.Root(n)
		for i := uint64(0); i < n; i++ {
			p, err := tr.InclusionProof(i, n)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyInclusion(i, n, all[i], p, root); err != nil {
				t.Fatalf("leaf %d of %d: %v", i, n, err)
			}
			if n > 1 && VerifyInclusion(i, n, all[(i+1)%n], p, root) == nil {
				t.Fatalf("leaf %d of %d: another leaf verified with its proof", i, n)
			}
			if len(p) > 0 {
				bad := append([]Hash(nil), p...)
				bad[len(bad)-1][0] ^= 1
				if VerifyInclusion(i, n, all[i], bad, root) == nil {
					t.Fatalf("leaf %d of %d: a changed proof verified", i, n)
				}
				if VerifyInclusion(i, n, all[i], p[:len(p)-1], root) == nil {
					t.Fatalf("leaf %d of %d: a shortened proof verified", i, n)
				}
			}
		}
	}
	if _, err := tr.InclusionProof(37, 37); err == nil {
		t.Error("a proof for a leaf outside the tree was made")
	}
}

func TestConsistencyProofs(t *testing.T) {
	all := testLeaves(37)
	tr := NewTree(all)
	for n := uint64(1); n <= tr.Size(); n++ {
		rn, _ := tr.Root(n)
		for m := uint64(0); m <= n; m++ {
			rm, _ := tr.Root(m)
			p, err := tr.ConsistencyProof(m, n)
			if err != nil {
				t.Fatal(err)
			}
			if err := VerifyConsistency(m, n, p, rm, rn); err != nil {
				t.Fatalf("%d to %d: %v", m, n, err)
			}
			if m == 0 || m == n {
				continue
			}
			other := rm
			other[3] ^= 1
			if err := VerifyConsistency(m, n, p, other, rn); !errors.Is(err, ErrProof) {
				t.Fatalf("%d to %d: a wrong old root verified", m, n)
			}
			for i := range p {
				bad := append([]Hash(nil), p...)
				bad[i][0] ^= 1
				if VerifyConsistency(m, n, bad, rm, rn) == nil {
					t.Fatalf("%d to %d: a proof changed at %d verified", m, n, i)
				}
			}
		}
	}
}
