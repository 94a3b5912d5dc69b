package keyserver

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"sync"

	"keyserver/internal/auditlog"
)

// auditState is what the service keeps about the audit log between calls.
type auditState struct {
	tree    auditlog.TreeCache
	sealing sync.Mutex // one sealer at a time in this process
}

// SealAudit seals the records stored since the last run into signed
// checkpoints; the upkeep job calls it. It returns the checkpoints written.
// They are signed with the audit key's current version (auditkey.go).
func (s *Service) SealAudit(ctx context.Context) (int, error) {
	if s.Trail == nil || s.AuditKey == "" {
		return 0, Errorf(EUNAVAILABLE, "The audit trail is not configured.")
	}
	signer, cert, err := s.auditSigner(ctx)
	if err != nil {
		return 0, err
	}
	sealer := &auditlog.Sealer{Store: s.Trail, Signer: signer, Certificate: cert, Now: s.now, Log: s.log(), Tree: &s.audit.tree}
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
	if s.Trail == nil {
		return nil, Errorf(EUNAVAILABLE, "The audit trail is not configured.")
	}
	var stored *auditlog.Sealed
	if n == 0 {
		latest, _, err := s.Trail.LatestCheckpoint(ctx)
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
	out := &auditlog.Sealed{Checkpoint: stored.Checkpoint, Signature: stored.Signature}
	if c.IsAuditor() || c.IsAdmin() {
		out.Leaves = stored.Leaves
	}
	return out, nil
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
// the latest).
func (s *Service) InclusionProof(ctx context.Context, c Caller, id string, n uint64) (*Inclusion, error) {
	chain, seq, err := s.mayReadRecord(ctx, c, id)
	if err != nil {
		return nil, err
	}
	if s.Trail == nil {
		return nil, Errorf(EUNAVAILABLE, "The audit trail is not configured.")
	}
	tree, _, err := s.audit.tree.Sync(ctx, s.Trail)
	if err != nil {
		return nil, auditErr(err, "Reading the checkpoints")
	}
	cp, err := s.audit.tree.Checkpoint(n)
	if err != nil {
		return nil, Errorf(ENOTFOUND, "Checkpoint %d does not exist.", n)
	}
	i, err := s.audit.tree.LeafIndex(chain, seq)
	if err != nil || i >= cp.Size {
		return nil, Errorf(ENOTFOUND, "Audit record %q is under no checkpoint up to %d yet; checkpoints are sealed periodically.", id, cp.N)
	}
	proof, err := tree.InclusionProof(i, cp.Size)
	if err != nil {
		return nil, Wrap(EINTERNAL, err, "Making an inclusion proof failed.")
	}
	return &Inclusion{Record: id, LeafIndex: i, LeafHash: tree.Leaf(i), Checkpoint: *cp, Proof: proof}, nil
}

// Consistency is a consistency proof between two checkpoints.
type Consistency struct {
	From, To auditlog.Checkpoint
	Proof    []auditlog.Hash
}

// ConsistencyProof proves that checkpoint from's tree is a prefix of
// checkpoint to's (0: the latest).
func (s *Service) ConsistencyProof(ctx context.Context, c Caller, from, to uint64) (*Consistency, error) {
	if s.Trail == nil {
		return nil, Errorf(EUNAVAILABLE, "The audit trail is not configured.")
	}
	tree, _, err := s.audit.tree.Sync(ctx, s.Trail)
	if err != nil {
		return nil, auditErr(err, "Reading the checkpoints")
	}
	a, err := s.audit.tree.Checkpoint(from)
	if err != nil || from == 0 {
		return nil, Errorf(ENOTFOUND, "Checkpoint %d does not exist.", from)
	}
	b, err := s.audit.tree.Checkpoint(to)
	if err != nil {
		return nil, Errorf(ENOTFOUND, "Checkpoint %d does not exist.", to)
	}
	if a.N > b.N {
		return nil, Errorf(EINVALID, "Checkpoint %d comes after checkpoint %d.", a.N, b.N)
	}
	proof, err := tree.ConsistencyProof(a.Size, b.Size)
	if err != nil {
		return nil, Wrap(EINTERNAL, err, "Making a consistency proof failed.")
	}
	return &Consistency{From: *a, To: *b, Proof: proof}, nil
}
