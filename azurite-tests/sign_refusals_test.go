package azuritetests

import (
	"crypto"
	"net/http"
	"testing"
	"time"

	"keyserver/internal/api"
	"keyserver/internal/keyserver"
)

// key1Order is a valid PKCS#1 order for demo key1 (RSA-2048).
func key1Order(tb testing.TB, opID, msg string) api.SignOrder {
	tb.Helper()
	digest := hashOf(crypto.SHA256, []byte(msg))
	return api.SignOrder{OperationID: opID, KeyID: "key1", InputData: encodeInput("hex", mustDigestInfo(tb, crypto.SHA256, digest)),
		InputFormat: "hex", InputPadding: "digestinfo", SignatureFormat: "asn1", Description: "test"}
}

// key2Order is a valid P-256 order for demo key2.
func key2Order(opID, msg string) api.SignOrder {
	o, _ := ecOrder(opID, "key2", msg)
	o.SignatureFormat = "p1363"
	return o
}

// TestSignRefusalsConsumeNothing sends bad orders to an approved operation
// allowing one use of key1 and key2; afterwards both uses are still there.
func TestSignRefusalsConsumeNothing(t *testing.T) {
	t.Parallel()
	orderer := mustToken(t, "orderer-client")
	op := mustOpenOp(t, orderer, 600000, map[string]int{"key1": 1, "key2": 1})
	mustApprove(t, mustToken(t, "approver-key2"), op.ID)
	change := func(o api.SignOrder, f func(*api.SignOrder)) api.SignOrder { f(&o); return o }
	badDigestInfo := mustDigestInfo(t, crypto.SHA256, hashOf(crypto.SHA256, []byte("x")))
	badDigestInfo[6] ^= 0x01 // corrupt the hash OID
	cases := []struct {
		name   string
		client string
		order  api.SignOrder
		status int
		code   string
	}{
		{"RSA PSS digest of 31 bytes", "orderer-client", change(key1Order(t, op.ID, "a"), func(o *api.SignOrder) {
			o.InputPadding, o.InputData = "pss", encodeInput("hex", make([]byte, 31))
		}), 400, keyserver.EINVALID},
		{"PSS digest not of the named hash", "orderer-client", change(key1Order(t, op.ID, "a"), func(o *api.SignOrder) {
			o.InputPadding, o.HashAlgorithm, o.InputData = "pss", "SHA384", encodeInput("hex", make([]byte, 32))
		}), 400, keyserver.EINVALID},
		{"EC digest of 20 bytes", "orderer-client", change(key2Order(op.ID, "a"), func(o *api.SignOrder) {
			o.InputData = encodeInput("hex", make([]byte, 20))
		}), 400, keyserver.EINVALID},
		{"malformed DigestInfo", "orderer-client", change(key1Order(t, op.ID, "a"), func(o *api.SignOrder) {
			o.InputData = encodeInput("hex", badDigestInfo)
		}), 400, keyserver.EINVALID},
		{"raw digest as DigestInfo", "orderer-client", change(key1Order(t, op.ID, "a"), func(o *api.SignOrder) {
			o.InputData = encodeInput("hex", make([]byte, 32))
		}), 400, keyserver.EINVALID},
		{"inputdata not hex", "orderer-client", change(key1Order(t, op.ID, "a"), func(o *api.SignOrder) { o.InputData = "zz" }), 400, keyserver.EINVALID},
		{"EC padding on RSA key", "orderer-client", change(key1Order(t, op.ID, "a"), func(o *api.SignOrder) { o.InputPadding = "none" }), 400, keyserver.EINVALID},
		{"unknown key", "orderer-client", change(key1Order(t, op.ID, "a"), func(o *api.SignOrder) { o.KeyID = "no-such-key" }), 404, keyserver.ENOTFOUND},
		{"key not in the operation", "orderer-client", change(key1Order(t, op.ID, "a"), func(o *api.SignOrder) { o.KeyID = "key3" }), 403, keyserver.EFORBIDDEN},
		{"another requester's operation", "orderer-clientkey1", key1Order(t, op.ID, "a"), 404, keyserver.ENOTFOUND},
		{"an approver signing", "approver-key2", key2Order(op.ID, "a"), 404, keyserver.ENOTFOUND},
		{"unknown operation", "orderer-client", key1Order(t, keyserver.NewID(), "a"), 404, keyserver.ENOTFOUND},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mustDo(t, "POST", "/api/signorders", mustToken(t, tc.client), tc.order).mustRefuse(t, tc.status, tc.code)
			mustUsage(t, orderer, op.ID, map[string]int{"key1": 0, "key2": 0})
		})
	}
	mustDo(t, "POST", "/api/signorders", "", key1Order(t, op.ID, "a")).mustRefuse(t, 401, keyserver.EUNAUTHENTICATED)
	mustSign(t, orderer, key1Order(t, op.ID, "good"))
	mustSign(t, orderer, key2Order(op.ID, "good"))
	mustUsage(t, orderer, op.ID, map[string]int{"key1": 1, "key2": 1})
	mustDo(t, "POST", "/api/signorders", orderer, key1Order(t, op.ID, "again")).mustRefuse(t, http.StatusConflict, keyserver.EEXHAUSTED)
	mustUsage(t, orderer, op.ID, map[string]int{"key1": 1, "key2": 1})
}

// TestSignClosedOperations checks unapproved, rejected and cancelled operations.
func TestSignClosedOperations(t *testing.T) {
	t.Parallel()
	orderer := mustToken(t, "orderer-client")
	approver := mustToken(t, "approver-key2")
	unapproved := mustOpenOp(t, orderer, 600000, map[string]int{"key2": 1})
	rejected := mustOpenOp(t, orderer, 600000, map[string]int{"key2": 1})
	mustApprove(t, approver, rejected.ID)
	mustDo(t, "POST", "/api/operations/"+rejected.ID+"/reject", approver, map[string]string{"reason": "wrong branch"}).mustDecode(t, http.StatusOK, &opView{})
	cancelled := mustOpenOp(t, orderer, 600000, map[string]int{"key1": 1})
	mustDo(t, "POST", "/api/operations/"+cancelled.ID+"/cancel", orderer, nil).mustDecode(t, http.StatusOK, &opView{})
	cases := []struct {
		name   string
		order  api.SignOrder
		status int
		code   string
	}{
		{"unapproved", key2Order(unapproved.ID, "a"), http.StatusConflict, keyserver.ENOTAPPROVED},
		{"rejected", key2Order(rejected.ID, "a"), http.StatusConflict, keyserver.ECLOSED},
		{"cancelled", key1Order(t, cancelled.ID, "a"), http.StatusConflict, keyserver.ECLOSED},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mustDo(t, "POST", "/api/signorders", orderer, tc.order).mustRefuse(t, tc.status, tc.code)
			mustUsage(t, orderer, tc.order.OperationID, map[string]int{tc.order.KeyID: 0})
		})
	}
	// Once approved, the unapproved operation's use is still there.
	mustApprove(t, approver, unapproved.ID)
	mustSign(t, orderer, key2Order(unapproved.ID, "a"))
	mustUsage(t, orderer, unapproved.ID, map[string]int{"key2": 1})
}

// TestSignExpiredOperationIsGone moves the clock, so it does not run in parallel.
func TestSignExpiredOperationIsGone(t *testing.T) {
	orderer := mustToken(t, "orderer-client")
	op := mustOpenOp(t, orderer, 1000, map[string]int{"key1": 1})
	clock.Advance(2 * time.Second)
	mustDo(t, "POST", "/api/signorders", orderer, key1Order(t, op.ID, "late")).mustRefuse(t, http.StatusGone, keyserver.EEXPIRED)
	got := mustGetOp(t, orderer, op.ID)
	if g := got.grant(t, "key1"); g.UsageCount != 0 || got.Status != string(keyserver.StatusExpired) {
		t.Fatalf("after a refused late order: usagecount %d, status %s; want 0, expired", g.UsageCount, got.Status)
	}
}
