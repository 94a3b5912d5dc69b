package auditlog

import (
	"crypto/x509"
	"fmt"
)

// The audit key's certificates (docs/AUDIT.md, "Audit key rotation"). The
// log's first certificate is trusted as given: its SHA-256 is compared with
// a copy kept apart from the Keyserver. Any other certificate a checkpoint
// names must be issued (signed) by the key of a certificate already trusted,
// and introduced by an audit.key record of the auditkey chain that is in the
// tree no later than the first checkpoint naming it.

// certificateFor returns the certificate that signed cp. introduced is true
// when cp is the first checkpoint to name it, whose record must be checked
// once cp's leaves are in the tree (introduce).
func (v *verifier) certificateFor(cp *Checkpoint) (cert *x509.Certificate, introduced bool, err error) {
	anchor := v.log.Certificate
	if anchor == nil {
		return nil, false, fmt.Errorf("there is no audit certificate to check its signature with")
	}
	if v.trusted == nil {
		v.trusted = map[Hash]*x509.Certificate{CertificateHash(anchor): anchor}
	}
	if cp.Certificate.IsZero() {
		return anchor, false, nil // a v1 body: the first certificate signed it
	}
	if c := v.trusted[cp.Certificate]; c != nil {
		return c, false, nil
	}
	for _, c := range v.log.Certificates {
		if CertificateHash(c) != cp.Certificate {
			continue
		}
		for _, t := range v.trusted {
			if t.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil {
				return c, true, nil
			}
		}
		return nil, false, fmt.Errorf("it names audit certificate %s, which no audit certificate trusted before it issued", cp.Certificate)
	}
	return nil, false, fmt.Errorf("it names audit certificate %s, which the export does not hold", cp.Certificate)
}

// introduce trusts cert from cp on if an audit.key record naming it is a
// leaf of the tree up to cp (cp's leaves are in the tree).
func (v *verifier) introduce(cp *Checkpoint, cert *x509.Certificate) {
	h := CertificateHash(cert)
	for i := range v.log.Records {
		r := &v.log.Records[i].Record
		if r.Chain == AuditKeyChain && r.Event == EventAuditKey && r.Target == h.String() && v.leafMatches(r) {
			v.trusted[h] = cert
			return
		}
	}
	v.cpProblem(cp.N, KindCheckpointInvalid, "it is the first to name audit certificate %s, but no audit.key record in the tree up to it introduces that certificate", h)
}
