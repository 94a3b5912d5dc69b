package auditlog

import "sync"

// HeadCache remembers where the chains stand in the tree as of one
// checkpoint, so that a sealer that wrote or read them reads them again
// only after another process wrote a checkpoint.
type HeadCache struct {
	mu    sync.Mutex
	n     uint64 // the checkpoint the heads are as of
	heads map[string]Head
}

const maxCachedHeads = 20000

// at keeps the heads only if they are as of checkpoint n.
func (c *HeadCache) at(n uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.heads == nil || c.n != n || len(c.heads) > maxCachedHeads {
		c.n, c.heads = n, map[string]Head{}
	}
}

// split returns the heads known of chains and the chains not known.
func (c *HeadCache) split(chains []string) (map[string]Head, []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	known := map[string]Head{}
	var missing []string
	for _, ch := range chains {
		if h, ok := c.heads[ch]; ok {
			known[ch] = h
		} else {
			missing = append(missing, ch)
		}
	}
	return known, missing
}

// add records heads read as of checkpoint n; chains read and absent are
// never sealed.
func (c *HeadCache) add(n uint64, chains []string, heads map[string]Head) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n != n {
		return
	}
	for _, ch := range chains {
		c.heads[ch] = heads[ch]
	}
}

// advance moves the heads from checkpoint n-1 to n by its segments; heads
// of another checkpoint are dropped.
func (c *HeadCache) advance(n uint64, segs []Segment) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.heads == nil || c.n+1 != n {
		c.n, c.heads = 0, nil
		return
	}
	for _, g := range segs {
		c.heads[g.Chain] = g.Head()
	}
	c.n = n
}

// reset forgets everything.
func (c *HeadCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n, c.heads = 0, nil
}
