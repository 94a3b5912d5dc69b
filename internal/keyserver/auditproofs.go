package keyserver

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"sync"

	"keyserver/internal/auditlog"
)

// auditState is what the service keeps about the audit log between calls:
// tiles verified against a signed root (the tree's hashes stay in storage),
// where chains stand in the tree, and the audit certificates parsed.
type auditState struct {
	tiles   auditlog.TileCache
	heads   auditlog.HeadCache
	sealing sync.Mutex // one sealer at a time in this process
	mu      sync.Mutex
	certs   map[string]*x509.Certificate // by PEM
}

// SealAudit seals the records of the chains the store's index lists into
// signed checkpoints; the upkeep job calls it. It returns the checkpoints
// written. They are signed with the audit key's current version (auditkey.go).
func (s *Service) SealAudit(ctx context.Context) (int, error) {
	if s.Trail == nil || s.AuditKey == "" {
		return 0, Errorf(EUNAVAILABLE, "The audit trail is not configured.")
	}
	signer, cert, err := s.auditSigner(ctx)
	if err != nil {
		return 0, err
	}
	sealer := &auditlog.Sealer{Store: s.Trail, Signer: signer, Certificate: cert, Now: s.now, Log: s.log(), Tiles: &s.audit.tiles, Heads: &s.audit.heads}
	s.audit.sealing.Lock()
	defer s.audit.sealing.Unlock()
	n, err := sealer.Seal(ctx)
	for try := 1; errors.Is(err, auditlog.ErrConflict) && try < 3; try++ {
		// Another process sealed first: seal what it left.
		var more int
		more, err = sealer.Seal(ctx)
		n += more
	}
	return n, auditErr(err, "Sealing the audit log")
}

func parseCertificate(pemText string) (*x509.Certificate, error) {
	b, _ := pem.Decode([]byte(pemText))
	if b == nil {
		return nil, errors.New("not PEM")
	}
	return x509.ParseCertificate(b.Bytes)
}

// AuditCheckpoint returns checkpoint n (0: the latest). Auditors and admins
// get the leaves it added; others get the signed checkpoint alone, since the
// leaves name every operation.
func (s *Service) AuditCheckpoint(ctx context.Context, c Caller, n uint64) (*auditlog.Sealed, error) {
	stored, err := s.storedCheckpoint(ctx, n)
	if err != nil {
		return nil, err
	}
	out := &auditlog.Sealed{Checkpoint: stored.Checkpoint, Signature: stored.Signature}
	if c.IsAuditor() || c.IsAdmin() {
		out.Leaves = stored.Leaves
	}
	return out, nil
}

// storedCheckpoint reads checkpoint n (0: the latest).
func (s *Service) storedCheckpoint(ctx context.Context, n uint64) (*auditlog.Sealed, error) {
	if s.Trail == nil {
		return nil, Errorf(EUNAVAILABLE, "The audit trail is not configured.")
	}
	var stored *auditlog.Sealed
	if n == 0 {
		latest, err := s.Trail.LatestCheckpoint(ctx)
		if err != nil && !errors.Is(err, auditlog.ErrNotFound) {
			return nil, auditErr(err, "Reading the latest checkpoint")
		}
		stored = latest
	} else {
		cps, err := s.Trail.Checkpoints(ctx, n, 1)
		if err != nil {
			return nil, auditErr(err, "Reading a checkpoint")
		}
		if len(cps) == 1 && cps[0].Checkpoint.N == n {
			stored = &cps[0]
		}
	}
	if stored == nil {
		return nil, Errorf(ENOTFOUND, "Checkpoint %d does not exist.", n)
	}
	return stored, nil
}

// signedCheckpoint reads checkpoint n (0: the latest) and checks its
// signature with the certificate it names (the first for a v1 body), so that
// proofs are made against a root the audit key signed.
func (s *Service) signedCheckpoint(ctx context.Context, n uint64) (*auditlog.Checkpoint, error) {
	stored, err := s.storedCheckpoint(ctx, n)
	if err != nil {
		return nil, err
	}
	cert, err := s.checkpointCert(ctx, &stored.Checkpoint)
	if err != nil {
		return nil, err
	}
	if err := auditlog.VerifySignature(cert, &stored.Checkpoint, stored.Signature); err != nil {
		return nil, Wrap(EINTERNAL, err, "The stored checkpoint %d does not verify with the audit key; verify the log.", stored.Checkpoint.N)
	}
	return &stored.Checkpoint, nil
}

// checkpointCert returns the stored certificate checkpoint cp names.
func (s *Service) checkpointCert(ctx context.Context, cp *auditlog.Checkpoint) (*x509.Certificate, error) {
	certs, err := s.Trail.AuditCertificates(ctx)
	if err != nil {
		return nil, auditErr(err, "Reading the audit certificates")
	}
	s.audit.mu.Lock()
	defer s.audit.mu.Unlock()
	for i, c := range certs {
		cert := s.audit.certs[c.PEM]
		if cert == nil {
			if cert, err = parseCertificate(c.PEM); err != nil {
				return nil, Wrap(EINTERNAL, err, "A stored audit certificate is unreadable.")
			}
			if s.audit.certs == nil || len(s.audit.certs) > 64 {
				s.audit.certs = map[string]*x509.Certificate{}
			}
			s.audit.certs[c.PEM] = cert
		}
		if cp.Certificate.IsZero() && i == 0 || !cp.Certificate.IsZero() && auditlog.CertificateHash(cert) == cp.Certificate {
			return cert, nil
		}
	}
	return nil, Errorf(EINTERNAL, "Checkpoint %d names an audit certificate that is not stored; verify the log.", cp.N)
}

// Inclusion is an inclusion proof of a record under a checkpoint.
type Inclusion struct {
	Record     string
	LeafIndex  uint64
	LeafHash   auditlog.Hash
	Checkpoint auditlog.Checkpoint
	Proof      []auditlog.Hash
}

// InclusionProof proves that record id is in the tree of checkpoint n (0:
// the latest). It reads the record's segment and the tiles of its path,
// checked against the checkpoint's signed root.
func (s *Service) InclusionProof(ctx context.Context, c Caller, id string, n uint64) (*Inclusion, error) {
	chain, seq, err := s.mayReadRecord(ctx, c, id)
	if err != nil {
		return nil, err
	}
	cp, err := s.signedCheckpoint(ctx, n)
	if err != nil {
		return nil, err
	}
	seg, err := s.Trail.SealedAt(ctx, chain, seq)
	if err != nil && !errors.Is(err, auditlog.ErrNotFound) {
		return nil, auditErr(err, "Reading where the record is sealed")
	}
	i := seg.Leaf + seq - seg.First
	if err != nil || i >= cp.Size {
		return nil, Errorf(ENOTFOUND, "Audit record %q is under no checkpoint up to %d yet; checkpoints are sealed periodically.", id, cp.N)
	}
	proof, leaf, err := auditlog.ProveInclusion(ctx, s.Trail, &s.audit.tiles, cp, i)
	if err != nil {
		return nil, proofErr(err, "an inclusion proof")
	}
	// The segment row that gave the leaf index is not signed: the leaf must
	// be this record's hash, or the proof is of another record.
	if err := s.recordIsLeaf(ctx, id, chain, seq, leaf); err != nil {
		return nil, err
	}
	return &Inclusion{Record: id, LeafIndex: i, LeafHash: leaf, Checkpoint: *cp, Proof: proof}, nil
}

// recordIsLeaf reads record chain#seq (one point read) and checks that
// leaf is its hash.
func (s *Service) recordIsLeaf(ctx context.Context, id, chain string, seq uint64, leaf auditlog.Hash) error {
	rec, err := s.Trail.Record(ctx, chain, seq)
	if errors.Is(err, auditlog.ErrNotFound) {
		return Errorf(EINTERNAL, "Audit record %q is not stored, yet a segment of the tree names it; verify the log.", id)
	}
	if err != nil {
		return auditErr(err, "Reading the record")
	}
	if rec.Record.Chain != chain || rec.Record.Seq != seq || rec.Record.LeafHash() != leaf {
		return Errorf(EINTERNAL, "Audit record %q is not the leaf its segment names; verify the log.", id)
	}
	return nil
}

func proofErr(err error, what string) error {
	if errors.Is(err, auditlog.ErrNotFound) {
		return Wrap(EUNAVAILABLE, err, "The tree's hashes for %s are not stored yet; the next upkeep run stores them.", what)
	}
	return Wrap(EINTERNAL, err, "Making %s failed; verify the log.", what)
}

// Consistency is a consistency proof between two checkpoints.
type Consistency struct {
	From, To auditlog.Checkpoint
	Proof    []auditlog.Hash
}

// ConsistencyProof proves that checkpoint from's tree is a prefix of
// checkpoint to's (0: the latest).
func (s *Service) ConsistencyProof(ctx context.Context, c Caller, from, to uint64) (*Consistency, error) {
	if from == 0 {
		return nil, Errorf(ENOTFOUND, "Checkpoint %d does not exist.", from)
	}
	a, err := s.signedCheckpoint(ctx, from)
	if err != nil {
		return nil, err
	}
	b, err := s.signedCheckpoint(ctx, to)
	if err != nil {
		return nil, err
	}
	if a.N > b.N {
		return nil, Errorf(EINVALID, "Checkpoint %d comes after checkpoint %d.", a.N, b.N)
	}
	proof, err := auditlog.ProveConsistency(ctx, s.Trail, &s.audit.tiles, a, b)
	if err != nil {
		return nil, proofErr(err, "a consistency proof")
	}
	return &Consistency{From: *a, To: *b, Proof: proof}, nil
}
