package azuritetests

import (
	"net/http"
	"testing"

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

	// A storage writer copies a key row, points it at the audit key and
	// gives an app the orderer role of it.
	keys := tables(t, "Keys")
	row := entity(t, keys, "key", "key2")
	forged := uniqueName("forge")
	row["RowKey"], row["KeyID"], row["HSMKey"], row["RequiredApprovals"] = forged, forged, auditKey, 0
	upsert(t, keys, row)
	t.Cleanup(func() { remove(t, keys, "key", forged) })
	orderer := mustSubject(t, uniqueName("orderer"), "orderer:"+forged)
	op := mustOpenOp(t, orderer, 600000, map[string]int{forged: 1})
	o, _ := ecOrder(op.ID, forged, "keyserver audit checkpoint v2\n")
	mustDo(t, "POST", "/api/signorders", orderer, o).mustRefuse(t, http.StatusForbidden, keyserver.EFORBIDDEN)
}
