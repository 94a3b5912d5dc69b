package auditlog

import (
	"context"
	"crypto/x509"
	"time"
)

// Head is where a chain stands: the sequence number and leaf hash of its
// last record. The zero Head is an empty chain.
type Head struct {
	Seq  uint64
	Hash Hash
}

// Chain returns r placed after h: its Seq and Prev set and its time
// normalized; and the chain's new head.
func (h Head) Chain(r Record) (Record, Head) {
	r.Seq, r.Prev, r.Time = h.Seq+1, h.Hash, Normalize(r.Time)
	return r, Head{Seq: r.Seq, Hash: r.LeafHash()}
}

// Seal signs the checkpoint after prev (nil for the first) over tree t,
// which already holds the new leaves, with s and its certificate cert, which
// the checkpoint names (a v2 body).
func Seal(ctx context.Context, s Signer, cert *x509.Certificate, prev *Checkpoint, t *Tree, now time.Time) (*Checkpoint, []byte, error) {
	cp := &Checkpoint{N: 1, Size: t.Size(), Time: Normalize(now), Certificate: CertificateHash(cert)}
	if prev != nil {
		cp.N, cp.Prev = prev.N+1, prev.Hash()
	}
	cp.Root, _ = t.Root(cp.Size)
	sig, err := Sign(ctx, s, cert, cp)
	if err != nil {
		return nil, nil, err
	}
	return cp, sig, nil
}
