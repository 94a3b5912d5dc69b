package keyserver

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"

	"keyserver/internal/auditlog"
)

// The audit key's versions (docs/AUDIT.md, "Audit key rotation"). Each seal
// reads the audit key's current version from the HSM. A version whose
// certificate is not recorded yet gets one, stored with an audit.key record
// in one transaction: the first version a self-signed certificate, every
// later one a certificate issued by the key of the latest certificate, so
// that a verifier trusting the first certificate can follow every rotation.

const auditCertName = "keyserver audit"

// AuditCertificates returns every certificate a checkpoint may name, the
// first (the one to compare with a copy kept apart) first. Before any is
// stored, the audit key's current version gets one.
func (s *Service) AuditCertificates(ctx context.Context) ([]AuditCertificate, error) {
	if s.Trail == nil || s.AuditKey == "" {
		return nil, Errorf(EUNAVAILABLE, "The audit trail is not configured.")
	}
	certs, err := s.Trail.AuditCertificates(ctx)
	if err != nil || len(certs) > 0 {
		return certs, auditErr(err, "Reading the audit certificates")
	}
	if _, _, err := s.auditSigner(ctx); err != nil {
		return nil, err
	}
	certs, err = s.Trail.AuditCertificates(ctx)
	return certs, auditErr(err, "Reading the audit certificates")
}

// auditSigner returns the signer and certificate of the next checkpoint:
// the audit key's current version and its certificate, recorded first if it
// is new. Until the record introducing a later version's certificate is
// sealed, the version before it signs, so that a verifier meets the record
// before any checkpoint naming the certificate.
func (s *Service) auditSigner(ctx context.Context) (ContextSigner, *x509.Certificate, error) {
	ref := s.AuditKey
	if p, ok := s.HSM.(KeyPinner); ok {
		var err error
		if ref, err = p.Pin(ctx, s.AuditKey); err != nil {
			return nil, nil, err
		}
	}
	signer, err := s.HSM.Open(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	certs, i, err := s.recordAuditCertificate(ctx, ref, signer)
	if err != nil {
		return nil, nil, err
	}
	cert, err := parseCertificate(certs[i].PEM)
	if err != nil || i == 0 {
		return signer, cert, err
	}
	_, seq, err := auditlog.ParseRecordID(certs[i].Record)
	if err != nil {
		return nil, nil, Wrap(EINTERNAL, err, "The audit certificate %s names no record.", certs[i].SHA256)
	}
	heads, err := s.Trail.SealedHeads(ctx, []string{auditlog.AuditKeyChain})
	if err != nil || heads[auditlog.AuditKeyChain].Seq >= seq {
		return signer, cert, auditErr(err, "Reading the sealed audit certificates")
	}
	prev := certs[i-1]
	old, err := s.HSM.Open(ctx, prev.HSMKey)
	if err != nil || prev.HSMKey == "" {
		return nil, nil, Wrap(EUNAVAILABLE, err, "The audit key has a new version (%s); version %q, which signed the checkpoints so far, cannot sign the checkpoint that introduces it. Keep the old version enabled until a checkpoint names the new one.", ref, prev.HSMKey)
	}
	cert, err = parseCertificate(prev.PEM)
	return old, cert, err
}

// recordAuditCertificate returns the stored certificates and which is the
// one of version ref, recording it (audit.key) if it is not.
func (s *Service) recordAuditCertificate(ctx context.Context, ref string, signer ContextSigner) ([]AuditCertificate, int, error) {
	for attempt := 1; ; attempt++ {
		certs, err := s.Trail.AuditCertificates(ctx)
		if err != nil {
			return nil, 0, auditErr(err, "Reading the audit certificates")
		}
		i, err := certificateOf(certs, signer.Public())
		if err != nil {
			return nil, 0, err
		}
		if i >= 0 && certs[i].Record != "" {
			return certs, i, nil
		}
		if attempt == 3 {
			return nil, 0, Errorf(EUNAVAILABLE, "The audit certificate of version %s could not be recorded; try again.", ref)
		}
		var found *AuditCertificate
		if i >= 0 {
			found = &certs[i]
		}
		c, ev, err := s.newAuditCertificate(ctx, certs, found, ref, signer)
		if err != nil {
			return nil, 0, err
		}
		// Read again what was stored, or what another process stored first.
		if _, err := s.Trail.AddAuditCertificate(ctx, c, ev); err != nil && !errors.Is(err, auditlog.ErrConflict) {
			return nil, 0, auditErr(err, "Recording the audit certificate")
		}
	}
}

// certificateOf finds the stored certificate of pub; -1 when none is.
func certificateOf(certs []AuditCertificate, pub crypto.PublicKey) (int, error) {
	for i := range certs {
		cert, err := parseCertificate(certs[i].PEM)
		if err != nil {
			return -1, Wrap(EINTERNAL, err, "The stored audit certificate %s is unreadable.", certs[i].SHA256)
		}
		if samePublicKey(pub, cert.PublicKey) {
			return i, nil
		}
	}
	return -1, nil
}

// newAuditCertificate makes the certificate of version ref and its
// audit.key record: found again when it was stored before certificates were
// recorded, else self-signed for the first version and issued by the latest
// certificate's version for a later one.
func (s *Service) newAuditCertificate(ctx context.Context, certs []AuditCertificate, found *AuditCertificate, ref string, signer ContextSigner) (AuditCertificate, AuditEvent, error) {
	ev := AuditEvent{Time: s.now(), Action: ActionAuditKey, Result: "ok"}
	var c AuditCertificate
	var err error
	switch {
	case found != nil:
		c = *found
		ev.Detail = fmt.Sprintf("audit key version %s: its certificate, stored before certificates were recorded", ref)
	case len(certs) == 0:
		if c.PEM, err = SelfSign(ctx, signer, auditCertName, s.now()); err != nil {
			return c, ev, err
		}
		ev.Detail = fmt.Sprintf("audit key version %s: the first certificate, self-signed", ref)
	default:
		issuer := certs[len(certs)-1]
		if c.PEM, err = s.issueAuditCertificate(ctx, issuer, ref, signer.Public()); err != nil {
			return c, ev, err
		}
		ev.Detail = fmt.Sprintf("audit key version %s: a new version, its certificate issued by certificate %s of version %s", ref, issuer.SHA256, issuer.HSMKey)
	}
	cert, err := parseCertificate(c.PEM)
	if err != nil {
		return c, ev, Wrap(EINTERNAL, err, "The audit certificate is unreadable.")
	}
	c.SHA256, c.HSMKey, c.Record = CertificateSHA256(cert.Raw), ref, ""
	ev.Target = c.SHA256
	return c, ev, nil
}

// issueAuditCertificate makes the certificate of version ref's key pub,
// signed by the version of issuer.
func (s *Service) issueAuditCertificate(ctx context.Context, issuer AuditCertificate, ref string, pub crypto.PublicKey) (string, error) {
	if issuer.HSMKey == "" {
		return "", Errorf(EUNAVAILABLE, "The audit key has a new version (%s), but the version of audit certificate %s is not known, so it cannot issue the new version's certificate: set KEYSERVER_AUDIT_KEY to the URL of the version that certificate certifies until upkeep has sealed once, then back.", ref, issuer.SHA256)
	}
	parent, err := parseCertificate(issuer.PEM)
	if err != nil {
		return "", Wrap(EINTERNAL, err, "The stored audit certificate %s is unreadable.", issuer.SHA256)
	}
	old, err := s.HSM.Open(ctx, issuer.HSMKey)
	if err == nil {
		var pemText string
		if pemText, err = issueCertificate(ctx, old, parent, pub, auditCertName, s.now()); err == nil {
			return pemText, nil
		}
	}
	return "", Wrap(EUNAVAILABLE, err, "The audit key has a new version (%s); version %s, which signed the checkpoints so far, could not issue its certificate. Keep the old version enabled until a checkpoint names the new one.", ref, issuer.HSMKey)
}
