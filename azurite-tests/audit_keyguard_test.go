package azuritetests

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"keyserver/internal/auditwire"
	"keyserver/internal/keyserver"
	"keyserver/internal/localstack"
)

// TestAuditKeyIsNoSigningKey: an admin cannot register the audit key (any
// version) as a signing key, and a key row pointed at the audit key by a
// storage writer signs nothing.
func TestAuditKeyIsNoSigningKey(t *testing.T) {
	st := mustStack(t)
	auditKey := st.HSMURL + "/keys/" + localstack.AuditKeySpec.Name
	admin := mustToken(t, "adminclient")
	for _, hsmKey := range []string{auditKey, auditKey + "/0123456789abcdef"} {
		body := map[string]any{"hsmkey": hsmKey, "requiredapprovals": 0, "keyinfo": "not the audit key"}
		e := mustDo(t, "PUT", "/api/admin/keys/"+uniqueName("audit"), admin, body).mustRefuse(t, http.StatusBadRequest, keyserver.EINVALID)
		if e.Field != "hsmkey" {
			t.Fatalf("the refusal of hsmkey %s names field %q", hsmKey, e.Field)
		}
	}

	// A storage writer copies a key row, points it at the audit key (with
	// the audit key's own certificate, which anyone may read) and gives an
	// app the orderer role of it.
	mustSeal(t)
	var certs auditwire.Key
	mustDo(t, "GET", "/api/audit/key", admin, nil).mustDecode(t, http.StatusOK, &certs)
	keys := tables(t, "Keys")
	row := entity(t, keys, "key", "key2")
	forged := uniqueName("forge")
	row["RowKey"], row["KeyID"], row["HSMKey"], row["RequiredApprovals"] = forged, forged, auditKey, 0
	row["Certificate"] = certs.Certificates[len(certs.Certificates)-1].Certificate
	upsert(t, keys, row)
	t.Cleanup(func() { remove(t, keys, "key", forged) })
	orderer := mustSubject(t, uniqueName("orderer"), "orderer:"+forged)
	op := mustOpenOp(t, orderer, 600000, map[string]int{forged: 1})
	o, _ := ecOrder(op.ID, forged, "keyserver audit checkpoint v2\n")
	mustDo(t, "POST", "/api/signorders", orderer, o).mustRefuse(t, http.StatusForbidden, keyserver.EFORBIDDEN)
}

// TestAuditVerifyTrust: ks audit verify --trust with the first certificate's
// SHA-256 that GET /api/audit/key served passes, and the OK line prints it;
// another SHA-256 fails. A certificate a storage writer puts where
// certificates were kept before they were recorded changes neither.
func TestAuditVerifyTrust(t *testing.T) {
	auditor := mustSubject(t, uniqueName("auditor"), "auditor")
	mustSeal(t)
	var before auditwire.Key
	mustAudit(t, auditor, "/api/audit/key", nil, &before)

	audit := tables(t, "Audit")
	upsert(t, audit, map[string]any{"PartitionKey": "seal", "RowKey": "certificate", "Certificate": selfSigned(t)})
	t.Cleanup(func() { remove(t, audit, "seal", "certificate") })
	var after auditwire.Key
	mustAudit(t, auditor, "/api/audit/key", nil, &after)
	if after.SHA256 != before.SHA256 || after.Certificate != before.Certificate || len(after.Certificates) != len(before.Certificates) {
		t.Fatalf("GET /api/audit/key serves first certificate %s (%d in all) after a storage write; before it %s (%d)", after.SHA256, len(after.Certificates), before.SHA256, len(before.Certificates))
	}

	env := auditorEnv(t)
	dir := t.TempDir()
	mustKSExit(t, 0, dir, env, "audit", "export", "--since", clock.Now().Add(-time.Minute).UTC().Format(time.RFC3339Nano), "log")
	if r := mustKSExit(t, 0, dir, env, "audit", "verify", "--trust", before.SHA256, "log"); !strings.Contains(r.Stdout, "first audit certificate SHA-256 "+before.SHA256+", as given") {
		t.Fatalf("verify --trust said %q", r.Stdout)
	}
	other := []byte(before.SHA256)
	other[0] = "01"[(other[0]-'0'+1)%2]
	if r := mustKSExit(t, 11, dir, env, "audit", "verify", "--trust", string(other), "log"); !strings.Contains(r.Stdout, "first audit certificate untrusted") {
		t.Fatalf("verify --trust of another certificate said %q", r.Stdout)
	}
}

// selfSigned is a certificate of a key of the test's own, as PEM.
func selfSigned(t *testing.T) string {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mustNil(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "keyserver audit"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	mustNil(t, err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}
