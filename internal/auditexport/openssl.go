package auditexport

import "fmt"

// OpenSSLCommands are the shell commands, run in an export directory, that
// check checkpoint stem's signature with openssl alone (docs/AUDIT.md): with
// the certificate a v2 body names on its seventh line, kept as
// certificates/<sha256>.pem, or audit-certificate.pem for a v1 body. They
// print "Verified OK" and exit 0 only when it holds.
func OpenSSLCommands(stem string) string {
	body := CheckpointDir + "/" + stem + ".body"
	return fmt.Sprintf("cert=%s; h=$(sed -n 7p %s); [ -z \"$h\" ] || cert=%s/$h.pem; "+
		"openssl x509 -in \"$cert\" -noout -pubkey > audit-key.pub && "+
		"openssl dgst -sha256 -verify audit-key.pub -signature %s/%s.sig %s",
		CertificateFile, body, CertificatesDir, CheckpointDir, stem, body)
}
