package auditlog

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"slices"
	"testing"
)

// storedTree grows a tree in st by random batches, as the sealer does, and
// returns the checkpoints (size and root) at each batch and the leaves.
func storedTree(t *testing.T, st *MemStore, r *rand.Rand, total int) ([]Checkpoint, []Hash) {
	t.Helper()
	ctx := context.Background()
	cache := &TileCache{}
	var leaves []Hash
	var cps []Checkpoint
	size, root := uint64(0), RootHash(nil)
	for len(leaves) < total {
		n := 1 + r.IntN(300)
		batch := make([]Hash, n)
		for i := range batch {
			var b [8]byte
			binary.BigEndian.PutUint64(b[:], uint64(len(leaves)+i))
			batch[i] = sha256.Sum256(b[:])
		}
		g := newGrowth(ctx, st, cache, size, root)
		if err := g.append(batch...); err != nil {
			t.Fatal(err)
		}
		tiles, err := g.tiles()
		if err != nil {
			t.Fatal(err)
		}
		if root, err = g.root(); err != nil {
			t.Fatal(err)
		}
		size = g.size
		leaves = append(leaves, batch...)
		if want := RootHash(leaves); root != want {
			t.Fatalf("root of %d leaves from tiles = %s, want %s", size, root, want)
		}
		cps = append(cps, Checkpoint{N: uint64(len(cps) + 1), Size: size, Root: root})
		if err := st.PutTree(ctx, uint64(len(cps)), SealState{Tiles: tiles}); err != nil {
			t.Fatal(err)
		}
	}
	return cps, leaves
}

// Proofs read from stored tiles (golang.org/x/mod/sumdb/tlog) must be the
// ones merkle.go computes from every leaf, for random trees.
func TestTileProofsEqualMerkleProofs(t *testing.T) {
	ctx := context.Background()
	for seed := range uint64(4) {
		r := rand.New(rand.NewPCG(seed, 12))
		st := NewMemStore(nil)
		cps, leaves := storedTree(t, st, r, 1500+r.IntN(70000>>seed))
		tree := NewTree(leaves)
		cache := &TileCache{}
		for range 200 {
			cp := cps[r.IntN(len(cps))]
			i := r.Uint64N(cp.Size)
			got, leaf, err := ProveInclusion(ctx, st, cache, &cp, i)
			if err != nil {
				t.Fatalf("ProveInclusion(%d, %d): %v", i, cp.Size, err)
			}
			want, _ := tree.InclusionProof(i, cp.Size)
			if !slices.Equal(got, want) || leaf != leaves[i] {
				t.Fatalf("inclusion proof of leaf %d in %d leaves differs from merkle.go's", i, cp.Size)
			}
			a := cps[r.IntN(len(cps))]
			if a.Size > cp.Size {
				a, cp = cp, a
			}
			gotC, err := ProveConsistency(ctx, st, cache, &a, &cp)
			if err != nil {
				t.Fatalf("ProveConsistency(%d, %d): %v", a.Size, cp.Size, err)
			}
			wantC, _ := tree.ConsistencyProof(a.Size, cp.Size)
			if !slices.Equal(gotC, wantC) {
				t.Fatalf("consistency proof %d -> %d differs from merkle.go's", a.Size, cp.Size)
			}
		}
	}
}

// A tile changed in storage gives an error, never a proof.
func TestTamperedTileGivesAnError(t *testing.T) {
	ctx := context.Background()
	st := NewMemStore(nil)
	cps, _ := storedTree(t, st, rand.New(rand.NewPCG(7, 7)), 3000)
	cp := cps[len(cps)-1]
	if _, _, err := ProveInclusion(ctx, st, &TileCache{}, &cp, 5); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		level int
		n     int64
		at    int
	}{{0, 0, 5*32 + 3}, {0, 0, 200 * 32}, {1, 0, 0}} {
		st := NewMemStore(nil)
		cps, leaves := storedTree(t, st, rand.New(rand.NewPCG(7, 7)), 3000)
		cp := cps[len(cps)-1]
		st.TamperTile(c.level, c.n, c.at)
		if _, _, err := ProveInclusion(ctx, st, &TileCache{}, &cp, 5); !errors.Is(err, ErrTiles) {
			t.Errorf("inclusion proof over tile %d/%d with byte %d changed: err = %v, want ErrTiles", c.level, c.n, c.at, err)
		}
		// A proof that needs no hash of the changed tile may still be
		// served; it must then be the right one.
		first := cps[0]
		want, _ := NewTree(leaves).ConsistencyProof(first.Size, cp.Size)
		if got, err := ProveConsistency(ctx, st, &TileCache{}, &first, &cp); err != nil && !errors.Is(err, ErrTiles) || err == nil && !slices.Equal(got, want) {
			t.Errorf("consistency proof over tile %d/%d with byte %d changed: err = %v, and not the right proof", c.level, c.n, c.at, err)
		}
	}
}
