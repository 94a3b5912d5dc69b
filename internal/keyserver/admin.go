package keyserver

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"time"
	"unicode/utf8"
)

// KeysFor returns the keys c holds any role on.
func (s *Service) KeysFor(ctx context.Context, c Caller) ([]*Key, error) {
	all, err := s.allKeys(ctx)
	if err != nil {
		return nil, err
	}
	out := []*Key{}
	for _, k := range all {
		if c.SeesKey(k.KeyID) {
			out = append(out, k)
		}
	}
	return out, nil
}

// KeyFor returns one key c holds a role on; others look like they do not exist.
func (s *Service) KeyFor(ctx context.Context, c Caller, keyID string) (*Key, error) {
	if err := ValidateKeyID(keyID); err != nil {
		return nil, err
	}
	k, err := s.Keys.Key(ctx, keyID)
	if ErrorCode(err) == ENOTFOUND || (err == nil && !c.SeesKey(keyID)) {
		return nil, Errorf(ENOTFOUND, "Key %q does not exist.", keyID)
	}
	return k, err
}

func requireAdmin(c Caller) error {
	if !c.IsAdmin() {
		return Errorf(EFORBIDDEN, "This needs the admin role.")
	}
	return nil
}

// Subject returns a registered subject; admin only.
func (s *Service) Subject(ctx context.Context, c Caller, p Principal) (*Subject, error) {
	if err := requireAdmin(c); err != nil {
		return nil, err
	}
	return s.Subjects.Subject(ctx, p)
}

// SubjectsByID returns every registration of a subject id; admin only.
func (s *Service) SubjectsByID(ctx context.Context, c Caller, id string) ([]*Subject, error) {
	if err := requireAdmin(c); err != nil {
		return nil, err
	}
	return s.Subjects.SubjectsByID(ctx, id)
}

// PutSubject registers or replaces a subject; admin only.
func (s *Service) PutSubject(ctx context.Context, c Caller, sub *Subject) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	if sub.Issuer == "" || len(sub.Issuer) > 512 {
		return Errorf(EINVALID, "A subject needs an issuer (at most 512 characters) and a subject id (at most 256).").On("issuer")
	}
	if sub.Subject == "" || len(sub.Subject) > 256 {
		return Errorf(EINVALID, "A subject needs an issuer (at most 512 characters) and a subject id (at most 256).").On("subject")
	}
	if to, ok := s.IssuerAliases[sub.Issuer]; ok {
		return Errorf(EINVALID, "Issuer %q names the same people and apps as %q, and its tokens act as that issuer's; register the subject under %q.", sub.Issuer, to, to)
	}
	if utf8.RuneCountInString(sub.Name) > 256 {
		return Errorf(EINVALID, "name must be at most 256 characters long.").On("name")
	}
	for _, r := range sub.Roles {
		if err := ValidateRole(r); err != nil {
			return err
		}
	}
	if sub.Roles == nil {
		sub.Roles = []string{}
	}
	defer s.subjects.forget(sub.Principal)
	return s.adminChange(ctx, c, ActionAdminSubject, sub.Principal.String(), "put subject "+sub.Principal.String()+" roles "+strings.Join(sub.Roles, ","), func(ev AuditEvent) error {
		return s.Subjects.PutSubject(ctx, sub, ev)
	})
}

// DeleteSubject removes a subject; admin only.
func (s *Service) DeleteSubject(ctx context.Context, c Caller, p Principal) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	defer s.subjects.forget(p)
	return s.adminChange(ctx, c, ActionAdminSubject, p.String(), "delete subject "+p.String(), func(ev AuditEvent) error {
		return s.Subjects.DeleteSubject(ctx, p, ev)
	})
}

// AdminKey returns any registered key; admin only.
func (s *Service) AdminKey(ctx context.Context, c Caller, keyID string) (*Key, error) {
	if err := requireAdmin(c); err != nil {
		return nil, err
	}
	if err := ValidateKeyID(keyID); err != nil {
		return nil, err
	}
	return s.Keys.Key(ctx, keyID)
}

// PutKey registers or replaces a key; admin only. The HSM key must exist.
// With a backend whose keys have versions, the HSM key is pinned to the
// version it names, or to its current one: registering again re-pins it. A
// certificate, when given, must carry that version's public key; without one
// the HSM key self-signs a certificate.
func (s *Service) PutKey(ctx context.Context, c Caller, k *Key) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	if err := ValidateKeyID(k.KeyID); err != nil {
		return err
	}
	if k.RequiredApprovals < 0 || k.RequiredApprovals > MaxRequiredApprovals {
		return Errorf(EINVALID, "requiredapprovals must be between 0 and %d.", MaxRequiredApprovals).On("requiredapprovals")
	}
	if utf8.RuneCountInString(k.KeyInfo) > 1024 {
		return Errorf(EINVALID, "keyinfo must be at most 1024 characters long.").On("keyinfo")
	}
	if k.HSMKey == "" {
		return Errorf(EINVALID, "hsmkey must name the HSM key, e.g. https://<vault>.vault.azure.net/keys/<name>.").On("hsmkey")
	}
	var err error
	if p, ok := s.HSM.(KeyPinner); ok {
		if k.HSMKey, err = p.Pin(ctx, k.HSMKey); err != nil {
			return err
		}
	}
	signer, err := s.HSM.Open(ctx, k.HSMKey)
	if err != nil {
		return onField(err, "hsmkey")
	}
	if k.Algorithm, err = Algorithm(signer.Public()); err != nil {
		return onField(err, "hsmkey")
	}
	if k.Certificate == "" {
		if k.Certificate, err = SelfSign(ctx, signer, k.KeyID, s.now()); err != nil {
			return err
		}
	} else if err := CheckCertificate(k.Certificate, signer.Public()); err != nil {
		return onField(err, "certificate")
	}
	if err := s.putChannels(ctx, k); err != nil {
		return err
	}
	defer s.forgetKey(k.KeyID)
	return s.adminChange(ctx, c, ActionAdminKey, k.KeyID, fmt.Sprintf("put key %s hsmkey %s channels %d", k.KeyID, k.HSMKey, len(k.Channels)), func(ev AuditEvent) error {
		return s.Keys.PutKey(ctx, k, ev)
	})
}

// putChannels sets k.Channels from what the admin gave: nil keeps the
// stored key's channels, a list replaces them (see mergeChannels).
func (s *Service) putChannels(ctx context.Context, k *Key) error {
	stored, err := s.Keys.Key(ctx, k.KeyID)
	switch {
	case ErrorCode(err) == ENOTFOUND:
		stored = &Key{}
	case err != nil:
		return err
	}
	if k.Channels == nil {
		k.Channels = stored.Channels
		return nil
	}
	k.Channels, err = mergeChannels(k.KeyID, k.Channels, stored.Channels)
	return err
}

// DeleteKey removes a key; admin only.
func (s *Service) DeleteKey(ctx context.Context, c Caller, keyID string) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	if err := ValidateKeyID(keyID); err != nil {
		return err
	}
	defer s.forgetKey(keyID)
	return s.adminChange(ctx, c, ActionAdminKey, keyID, "delete key "+keyID, func(ev AuditEvent) error {
		return s.Keys.DeleteKey(ctx, keyID, ev)
	})
}

// CheckCertificate parses a PEM certificate and checks it carries pub.
func CheckCertificate(certPEM string, pub crypto.PublicKey) error {
	block, _ := pem.Decode([]byte(certPEM))
	if block == nil || block.Type != "CERTIFICATE" {
		return Errorf(EINVALID, "certificate must be a PEM-encoded X.509 certificate.")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return Errorf(EINVALID, "certificate cannot be parsed: %v.", err)
	}
	if !samePublicKey(pub, cert.PublicKey) {
		return Errorf(EINVALID, "certificate's public key differs from the HSM key's.")
	}
	return nil
}

// SelfSign makes a self-signed certificate for keyID, signed by the HSM key.
func SelfSign(ctx context.Context, signer ContextSigner, keyID string, now time.Time) (string, error) {
	return issueCertificate(ctx, signer, nil, signer.Public(), keyID, now)
}

// issueCertificate makes a certificate of pub named name, issued by parent
// and signed by signer, parent's key; self-signed by signer when parent is nil.
func issueCertificate(ctx context.Context, signer ContextSigner, parent *x509.Certificate, pub crypto.PublicKey, keyID string, now time.Time) (string, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: keyID, Organization: []string{"Keyserver"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(5, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, contextSigner{ctx, signer})
	if err != nil {
		if ErrorCode(err) != EINTERNAL {
			return "", err
		}
		return "", Wrap(EUNAVAILABLE, err, "The HSM could not self-sign a certificate for key %q.", keyID)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), nil
}

// contextSigner adapts a ContextSigner to crypto.Signer for one call.
type contextSigner struct {
	ctx context.Context
	s   ContextSigner
}

func (c contextSigner) Public() crypto.PublicKey { return c.s.Public() }

func (c contextSigner) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return c.s.SignContext(c.ctx, digest, opts)
}

// onField names field on an EINVALID or ENOTFOUND error about a request
// value; other errors (the HSM down, say) pass unchanged.
func onField(err error, field string) error {
	var e *Error
	if errors.As(err, &e) && (e.Code == EINVALID || e.Code == ENOTFOUND) && e.Field == "" {
		c := *e
		return c.On(field)
	}
	return err
}
