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

// auditSigner returns the audit key's current version and its certificate,
// which the next checkpoint is signed with and names, recording the
// certificate first if it is new.
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
	for attempt := 1; ; attempt++ {
		certs, err := s.Trail.AuditCertificates(ctx)
		if err != nil {
			return nil, nil, auditErr(err, "Reading the audit certificates")
		}
		found, cert, err := certificateOf(certs, signer.Public())
		if err != nil {
			return nil, nil, err
		}
		if found != nil && found.Record != "" {
			return signer, cert, nil
		}
		c, ev, err := s.newAuditCertificate(ctx, certs, found, ref, signer)
		if err != nil {
			return nil, nil, err
		}
		_, err = s.Trail.AddAuditCertificate(ctx, c, ev)
		if errors.Is(err, auditlog.ErrConflict) && attempt < 3 {
			continue // another process recorded it first
		}
		if err != nil {
			return nil, nil, auditErr(err, "Recording the audit certificate")
		}
		cert, err = parseCertificate(c.PEM)
		return signer, cert, err
	}
}

// certificateOf finds the stored certificate of pub.
func certificateOf(certs []AuditCertificate, pub crypto.PublicKey) (*AuditCertificate, *x509.Certificate, error) {
	for i := range certs {
		cert, err := parseCertificate(certs[i].PEM)
		if err != nil {
			return nil, nil, Wrap(EINTERNAL, err, "The stored audit certificate %s is unreadable.", certs[i].SHA256)
		}
		if samePublicKey(pub, cert.PublicKey) {
			return &certs[i], cert, nil
		}
	}
	return nil, nil, nil
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
