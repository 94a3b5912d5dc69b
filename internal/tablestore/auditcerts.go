package tablestore

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net/http"
	"sort"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"keyserver/internal/auditlog"
	"keyserver/internal/keyserver"
)

// The audit key's certificates are rows "cert~<SHA-256 of its public key>"
// of the auditkey chain's partition ("chain~auditkey" of the audit table),
// each inserted in one transaction with the audit.key record that
// introduces it: one certificate per key version, however many processes
// find the version new at once. A
// certificate stored before certificates were recorded is the row
// "certificate" of the seal partition; it comes first.
const certificatePfx = "cert~"

// AuditCertificates returns the audit key's certificates in the order they
// were first used.
func (s *Store) AuditCertificates(ctx context.Context) ([]keyserver.AuditCertificate, error) {
	rows, err := queryAll(ctx, s.audit, rangeFilter(chainPartition(auditlog.AuditKeyChain), certificatePfx), "reading the audit certificates")
	if err != nil {
		return nil, err
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].num("Seq") < rows[j].num("Seq") })
	var out []keyserver.AuditCertificate
	legacy, err := s.legacyCertificate(ctx)
	if err != nil {
		return nil, err
	}
	if legacy != nil {
		out = append(out, *legacy)
	}
	for _, r := range rows {
		c := keyserver.AuditCertificate{PEM: r.str("Certificate"), SHA256: r.str("SHA256"), HSMKey: r.str("HSMKey"), Record: r.str("Record")}
		if legacy != nil && c.SHA256 == legacy.SHA256 {
			out[0] = c
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// legacyCertificate reads the certificate stored before certificates were
// recorded; nil when there is none.
func (s *Store) legacyCertificate(ctx context.Context) (*keyserver.AuditCertificate, error) {
	resp, err := s.audit.GetEntity(ctx, sealPartition, certificateRow, nil)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, classify(err, "reading the audit certificate")
	}
	r, err := parseRow(resp.Value)
	if err != nil {
		return nil, err
	}
	pemText := r.str("Certificate")
	sha, err := pemSHA256(pemText)
	if err != nil {
		return nil, err
	}
	return &keyserver.AuditCertificate{PEM: pemText, SHA256: sha}, nil
}

// AddAuditCertificate inserts c's row and ev as the next record of the
// auditkey chain in one transaction, and returns the record's id.
func (s *Store) AddAuditCertificate(ctx context.Context, c keyserver.AuditCertificate, ev keyserver.AuditEvent) (string, error) {
	pk := chainPartition(auditlog.AuditKeyChain)
	b, _ := pem.Decode([]byte(c.PEM))
	if b == nil {
		return "", fmt.Errorf("audit certificate %s is not PEM", c.SHA256)
	}
	parsed, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return "", fmt.Errorf("audit certificate %s: %w", c.SHA256, err)
	}
	spki := sha256.Sum256(parsed.RawSubjectPublicKeyInfo)
	if err := s.markChain(ctx, auditlog.AuditKeyChain); err != nil { // lists it for sealing (sealindex.go)
		return "", err
	}
	exists := false
	id, err := s.chained(ctx, s.audit, pk, auditlog.AuditKeyChain, ev, func(rec *row) (bool, error) {
		seq := rowOfRecordKey(rec.RowKey)
		cert := newRow(pk, certificatePfx+hex.EncodeToString(spki[:])).set("Certificate", c.PEM).set("SHA256", c.SHA256).set("HSMKey", c.HSMKey).
			set("Record", auditlog.RecordID(auditlog.AuditKeyChain, seq)).set("Seq", aztables.EDMInt64(seq))
		_, err := s.audit.SubmitTransaction(ctx, []aztables.TransactionAction{
			{ActionType: aztables.TransactionTypeAdd, Entity: cert.marshal()},
			{ActionType: aztables.TransactionTypeAdd, Entity: rec.marshal()},
		}, nil)
		if err != nil && s.committed(ctx, s.audit, rec) {
			return false, nil
		}
		i, status := failedAction(err)
		exists = status == http.StatusConflict && i == 0
		return status == http.StatusConflict && i == 1, classify(err, "storing audit certificate "+c.SHA256)
	})
	if exists {
		return "", auditlog.ErrConflict
	}
	return id, err
}

// pemSHA256 is keyserver.CertificateSHA256 of a PEM certificate.
func pemSHA256(pemText string) (string, error) {
	b, _ := pem.Decode([]byte(pemText))
	if b == nil {
		return "", fmt.Errorf("the stored audit certificate is not PEM")
	}
	return keyserver.CertificateSHA256(b.Bytes), nil
}
