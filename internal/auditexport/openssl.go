package auditexport

import "fmt"

// OpenSSLCommands are the shell commands, run in an export directory, that
// check checkpoint stem's signature with openssl alone (docs/AUDIT.md).
// They print "Verified OK" and exit 0 only when it holds.
func OpenSSLCommands(stem string) string {
	return fmt.Sprintf("openssl x509 -in %s -noout -pubkey > audit-key.pub && "+
		"openssl dgst -sha256 -verify audit-key.pub -signature %s/%s.sig %s/%s.body",
		CertificateFile, CheckpointDir, stem, CheckpointDir, stem)
}
