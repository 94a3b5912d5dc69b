package auditlog

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/mod/sumdb/tlog"
)

// The tree's hashes are stored as tiles (golang.org/x/mod/sumdb/tlog,
// https://research.swtch.com/tlog#tiling_a_log): a tile of height
// TileHeight holds up to 2^TileHeight consecutive hashes of one level of the
// tree, so that a proof reads a few tiles instead of every leaf. tlog's
// hashes are RFC 6962's, the ones this package computes (a test checks that
// its proofs equal ours). Tiles read from storage are trusted only once
// tlog's TileHashReader has rebuilt a signed root from them.

// TileHeight is the height of stored tiles: 256 hashes each.
const TileHeight = 8

// Tile is a tile and its hashes, as written beside a checkpoint.
type Tile struct {
	Tile tlog.Tile
	Data []byte
}

// TileStore reads stored tiles.
type TileStore interface {
	// ReadTiles returns the data of each tile, at least Tile.W hashes of it
	// (a wider version of a partial tile serves too); ErrNotFound when one is
	// not stored.
	ReadTiles(ctx context.Context, tiles []tlog.Tile) ([][]byte, error)
}

// TileCache keeps tiles that were verified against a signed root (or
// written by this process with a checkpoint), so that sealing and proofs
// read only what changed.
type TileCache struct {
	mu    sync.Mutex
	tiles map[tlog.Tile][]byte
}

const maxCachedTiles = 4096

func (c *TileCache) get(t tlog.Tile) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d, ok := c.tiles[t]
	return d, ok
}

func (c *TileCache) put(tiles []tlog.Tile, data [][]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tiles == nil || len(c.tiles)+len(tiles) > maxCachedTiles {
		c.tiles = map[tlog.Tile][]byte{}
	}
	for i, t := range tiles {
		c.tiles[t] = data[i]
	}
}

// tileReader is a tlog.TileReader over a TileStore and a cache.
type tileReader struct {
	ctx   context.Context
	st    TileStore
	cache *TileCache
}

func (r *tileReader) Height() int { return TileHeight }

func (r *tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	var missing []tlog.Tile
	var at []int
	for i, t := range tiles {
		if d, ok := r.cache.get(t); ok {
			out[i] = d
			continue
		}
		missing, at = append(missing, t), append(at, i)
	}
	if len(missing) == 0 {
		return out, nil
	}
	data, err := r.st.ReadTiles(r.ctx, missing)
	if err != nil {
		return nil, err
	}
	for j, t := range missing {
		if len(data[j]) < t.W*tlog.HashSize {
			return nil, fmt.Errorf("tile %s: %w", t.Path(), ErrNotFound)
		}
		out[at[j]] = data[j][:t.W*tlog.HashSize]
	}
	return out, nil
}

func (r *tileReader) SaveTiles(tiles []tlog.Tile, data [][]byte) { r.cache.put(tiles, data) }

// verifiedHashes reads the stored hashes of the tree of size leaves whose
// root is root: every hash it returns was checked against that root.
func verifiedHashes(ctx context.Context, st TileStore, cache *TileCache, size uint64, root Hash) tlog.HashReader {
	return tlog.TileHashReader(tlog.Tree{N: int64(size), Hash: tlog.Hash(root)}, &tileReader{ctx: ctx, st: st, cache: cache})
}

// ErrTiles is the error of stored tree hashes that do not lead to the
// signed root.
var ErrTiles = errors.New("the stored tree hashes do not match the signed root")

func tilesErr(err error) error {
	if err == nil || errors.Is(err, ErrNotFound) {
		return err
	}
	return fmt.Errorf("%w: %v", ErrTiles, err)
}

// ProveInclusion reads the audit path of leaf index under checkpoint cp
// from stored tiles, and the leaf's hash.
func ProveInclusion(ctx context.Context, st TileStore, cache *TileCache, cp *Checkpoint, index uint64) ([]Hash, Hash, error) {
	if index >= cp.Size {
		return nil, Hash{}, fmt.Errorf("leaf %d is not in a tree of %d leaves", index, cp.Size)
	}
	hr := verifiedHashes(ctx, st, cache, cp.Size, cp.Root)
	leaf, err := hr.ReadHashes([]int64{tlog.StoredHashIndex(0, int64(index))})
	if err != nil {
		return nil, Hash{}, tilesErr(err)
	}
	p, err := tlog.ProveRecord(int64(cp.Size), int64(index), hr)
	if err != nil {
		return nil, Hash{}, tilesErr(err)
	}
	proof := hashesOf(p)
	if err := VerifyInclusion(index, cp.Size, Hash(leaf[0]), proof, cp.Root); err != nil {
		return nil, Hash{}, fmt.Errorf("%w: %v", ErrTiles, err)
	}
	return proof, Hash(leaf[0]), nil
}

// ProveConsistency reads the consistency proof from checkpoint a's tree to
// checkpoint b's from stored tiles.
func ProveConsistency(ctx context.Context, st TileStore, cache *TileCache, a, b *Checkpoint) ([]Hash, error) {
	if a.Size > b.Size {
		return nil, fmt.Errorf("a tree of %d leaves has no prefix of %d", b.Size, a.Size)
	}
	var proof []Hash
	if a.Size > 0 && a.Size < b.Size {
		p, err := tlog.ProveTree(int64(b.Size), int64(a.Size), verifiedHashes(ctx, st, cache, b.Size, b.Root))
		if err != nil {
			return nil, tilesErr(err)
		}
		proof = hashesOf(p)
	}
	if err := VerifyConsistency(a.Size, b.Size, proof, a.Root, b.Root); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTiles, err)
	}
	return proof, nil
}

func hashesOf(p []tlog.Hash) []Hash {
	out := make([]Hash, len(p))
	for i, h := range p {
		out[i] = Hash(h)
	}
	return out
}

// growth appends leaves to a stored tree: it reads the old tree's hashes
// through verified tiles (each once) and keeps the new ones in memory, then
// gives the new root and the tiles to store.
type growth struct {
	old   uint64
	size  uint64
	base  tlog.HashReader // nil for the empty tree
	known map[int64]tlog.Hash
}

func newGrowth(ctx context.Context, st TileStore, cache *TileCache, size uint64, root Hash) *growth {
	g := &growth{old: size, size: size, known: map[int64]tlog.Hash{}}
	if size > 0 {
		g.base = verifiedHashes(ctx, st, cache, size, root)
	}
	return g
}

// ReadHashes serves tlog: new hashes from memory, old ones read once.
func (g *growth) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	var need []int64
	for _, x := range indexes {
		if _, ok := g.known[x]; !ok {
			need = append(need, x)
		}
	}
	if len(need) > 0 {
		if g.base == nil || !allBelow(need, tlog.StoredHashCount(int64(g.old))) {
			return nil, fmt.Errorf("tree hash %d is neither stored nor appended", need[0])
		}
		hs, err := g.base.ReadHashes(need)
		if err != nil {
			return nil, tilesErr(err)
		}
		for i, x := range need {
			g.known[x] = hs[i]
		}
	}
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		out[i] = g.known[x]
	}
	return out, nil
}

func allBelow(xs []int64, n int64) bool {
	for _, x := range xs {
		if x >= n {
			return false
		}
	}
	return true
}

// append adds leaves.
func (g *growth) append(leaves ...Hash) error {
	for _, l := range leaves {
		hs, err := tlog.StoredHashesForRecordHash(int64(g.size), tlog.Hash(l), g)
		if err != nil {
			return err
		}
		base := tlog.StoredHashCount(int64(g.size))
		for i, h := range hs {
			g.known[base+int64(i)] = h
		}
		g.size++
	}
	return nil
}

// root is the root of the grown tree.
func (g *growth) root() (Hash, error) {
	if g.size == 0 {
		return RootHash(nil), nil
	}
	h, err := tlog.TreeHash(int64(g.size), g)
	return Hash(h), err
}

// tiles are the tiles the growth wrote or widened.
func (g *growth) tiles() ([]Tile, error) {
	ts := tlog.NewTiles(TileHeight, int64(g.old), int64(g.size))
	out := make([]Tile, len(ts))
	for i, t := range ts {
		d, err := tlog.ReadTileData(t, g)
		if err != nil {
			return nil, err
		}
		out[i] = Tile{Tile: t, Data: d}
	}
	return out, nil
}

// tileCount is how many tiles growing a tree from old to size leaves writes.
func tileCount(old, size uint64) int {
	return len(tlog.NewTiles(TileHeight, int64(old), int64(size)))
}
