package azuritetests

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	"keyserver/internal/api"
	"keyserver/internal/keyserver"
	"keyserver/internal/localstack"
)

// mustParseCertificate parses a PEM certificate as GET /api/keys returns it.
func mustParseCertificate(tb testing.TB, certPEM string) *x509.Certificate {
	tb.Helper()
	block, rest := pem.Decode([]byte(certPEM))
	if block == nil || block.Type != "CERTIFICATE" || len(strings.TrimSpace(string(rest))) != 0 {
		tb.Fatalf("certificate is not one PEM CERTIFICATE block: %q", certPEM)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		tb.Fatalf("parsing certificate: %v", err)
	}
	return cert
}

// keyFields are exactly the fields GET /api/keys shows.
var keyFields = []string{"algorithm", "certificate", "certissuer", "certnotafter", "certnotbefore", "certsha256", "certsubject", "keyid", "keyinfo", "requiredapprovals"}

// mustListKeys returns GET /api/keys as token's subject, by key id, checking
// each entry has exactly keyFields.
func mustListKeys(tb testing.TB, token string) map[string]map[string]any {
	tb.Helper()
	var list []map[string]any
	mustDo(tb, "GET", "/api/keys", token, nil).mustDecode(tb, http.StatusOK, &list)
	out := map[string]map[string]any{}
	for _, k := range list {
		var names []string
		for n := range k {
			names = append(names, n)
		}
		sort.Strings(names)
		if strings.Join(names, ",") != strings.Join(keyFields, ",") {
			tb.Fatalf("key entry has fields %v, want %v", names, keyFields)
		}
		out[k["keyid"].(string)] = k
	}
	return out
}

func keyIDs(m map[string]map[string]any) []string {
	var ids []string
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func TestAPIKeysListsWhatTheCallerHasARoleOn(t *testing.T) {
	t.Parallel()
	wantAlg := map[string]string{"key1": "RSA-2048", "key2": "EC-P256", "key3": "RSA-4096", "key4": "EC-P384"}
	all := mustListKeys(t, mustToken(t, "orderer-client"))
	for _, dk := range localstack.DemoKeys {
		k, ok := all[dk.KeyID]
		if !ok {
			t.Fatalf("orderer-client does not see %s; sees %v", dk.KeyID, keyIDs(all))
		}
		if k["keyinfo"] != dk.KeyInfo || k["algorithm"] != wantAlg[dk.KeyID] || k["requiredapprovals"] != float64(dk.RequiredApprovals) {
			t.Fatalf("%s = %v, want keyinfo %q, algorithm %s, requiredapprovals %d", dk.KeyID, k, dk.KeyInfo, wantAlg[dk.KeyID], dk.RequiredApprovals)
		}
		mustParseCertificate(t, k["certificate"].(string))
	}
	for client, want := range map[string]string{"approver-key2": "key2", "orderer-clientkey1": "key1", "approver2-key3": "key3"} {
		if got := keyIDs(mustListKeys(t, mustToken(t, client))); len(got) != 1 || got[0] != want {
			t.Fatalf("%s sees keys %v, want [%s]", client, got, want)
		}
	}
	stranger := mustSubject(t, uniqueName("noroles"))
	if got := mustListKeys(t, stranger); len(got) != 0 {
		t.Fatalf("a subject without roles sees keys %v", keyIDs(got))
	}
}

func TestAPIKeyCertificateIsPEM(t *testing.T) {
	t.Parallel()
	token := mustToken(t, "orderer-clientkey1")
	var k map[string]any
	mustDo(t, "GET", "/api/keys/key1", token, nil).mustDecode(t, http.StatusOK, &k)
	cert := mustParseCertificate(t, k["certificate"].(string))
	if pub, ok := cert.PublicKey.(*rsa.PublicKey); !ok || pub.N.BitLen() != 2048 {
		t.Fatalf("key1's certificate carries %T, want an RSA-2048 key", cert.PublicKey)
	}
	mustDo(t, "GET", "/api/keys/key2", token, nil).mustRefuse(t, http.StatusNotFound, keyserver.ENOTFOUND)
	mustDo(t, "GET", "/api/keys/no-such-key", token, nil).mustRefuse(t, http.StatusNotFound, keyserver.ENOTFOUND)
	mustDo(t, "GET", "/api/keys/key1", "", nil).mustRefuse(t, http.StatusUnauthorized, keyserver.EUNAUTHENTICATED)
}

func TestAPIHealthIsAnonymous(t *testing.T) {
	t.Parallel()
	var h struct {
		Status       string            `json:"status"`
		Dependencies map[string]string `json:"dependencies"`
	}
	mustDo(t, "GET", "/api/health", "", nil).mustDecode(t, http.StatusOK, &h)
	if h.Status != "ok" || h.Dependencies["tables"] != "ok" {
		t.Fatalf("health = %+v, want ok with tables ok", h)
	}
}

func TestAPIAdminSubjects(t *testing.T) {
	t.Parallel()
	st := mustStack(t)
	admin := mustToken(t, "adminclient")
	id := uniqueName("subject")
	path := "/api/admin/subjects/" + id
	body := map[string]any{"issuer": st.AuthURL, "name": "Pipeline " + id, "roles": []string{"orderer:key1"}}
	var put api.Subject
	mustDo(t, "PUT", path, admin, body).mustDecode(t, http.StatusOK, &put)
	for _, p := range []string{path, path + "?issuer=" + url.QueryEscape(st.AuthURL)} {
		var got api.Subject
		mustDo(t, "GET", p, admin, nil).mustDecode(t, http.StatusOK, &got)
		if got.Subject != id || got.Issuer != st.AuthURL || len(got.Roles) != 1 || got.Roles[0] != "orderer:key1" {
			t.Fatalf("GET %s = %+v", p, got)
		}
	}
	token := mustSubjectToken(t, id)
	if got := keyIDs(mustListKeys(t, token)); len(got) != 1 || got[0] != "key1" {
		t.Fatalf("the new subject sees %v, want [key1]", got)
	}

	nonAdmin := mustToken(t, "orderer-client")
	mustDo(t, "GET", path, nonAdmin, nil).mustRefuse(t, http.StatusForbidden, keyserver.EFORBIDDEN)
	mustDo(t, "PUT", path, nonAdmin, map[string]any{"issuer": st.AuthURL, "roles": []string{"admin"}}).mustRefuse(t, http.StatusForbidden, keyserver.EFORBIDDEN)
	mustDo(t, "DELETE", path, nonAdmin, nil).mustRefuse(t, http.StatusForbidden, keyserver.EFORBIDDEN)
	mustDo(t, "PUT", path, admin, map[string]any{"issuer": st.AuthURL, "roles": []string{"superuser"}}).mustRefuse(t, http.StatusBadRequest, keyserver.EINVALID)
	var got api.Subject
	mustDo(t, "GET", path, admin, nil).mustDecode(t, http.StatusOK, &got)
	if len(got.Roles) != 1 || got.Roles[0] != "orderer:key1" {
		t.Fatalf("refused PUTs changed the subject: %+v", got)
	}

	if a := mustDo(t, "DELETE", path, admin, nil); a.Status != http.StatusNoContent {
		t.Fatalf("DELETE subject: status %d, want 204; %s", a.Status, a.Body)
	}
	mustDo(t, "GET", path, admin, nil).mustRefuse(t, http.StatusNotFound, keyserver.ENOTFOUND)
	mustDo(t, "GET", "/api/keys", token, nil).mustRefuse(t, http.StatusForbidden, keyserver.EFORBIDDEN)
}

func TestAPIAdminKeys(t *testing.T) {
	t.Parallel()
	st := mustStack(t)
	admin := mustToken(t, "adminclient")
	id := uniqueName("adminkey")
	path := "/api/admin/keys/" + id
	body := map[string]any{"hsmkey": st.HSMURL + "/keys/key2", "requiredapprovals": 1, "keyinfo": "a second binding of key2"}

	nonAdmin := mustToken(t, "orderer-client")
	mustDo(t, "PUT", path, nonAdmin, body).mustRefuse(t, http.StatusForbidden, keyserver.EFORBIDDEN)
	mustDo(t, "GET", path, admin, nil).mustRefuse(t, http.StatusNotFound, keyserver.ENOTFOUND)

	var put api.AdminKey
	mustDo(t, "PUT", path, admin, body).mustDecode(t, http.StatusOK, &put)
	if put.Algorithm != "EC-P256" || !put.Enabled {
		t.Fatalf("PUT key answered %+v", put)
	}
	cert := mustParseCertificate(t, put.Certificate)
	if _, ok := cert.PublicKey.(*ecdsa.PublicKey); !ok {
		t.Fatalf("self-signed certificate carries %T", cert.PublicKey)
	}
	var got api.AdminKey
	mustDo(t, "GET", path, admin, nil).mustDecode(t, http.StatusOK, &got)
	if !strings.HasPrefix(got.HSMKey, body["hsmkey"].(string)+"/") || got.HSMKey != put.HSMKey || got.RequiredApprovals != 1 || got.KeyInfo != body["keyinfo"] || got.Certificate != put.Certificate {
		t.Fatalf("GET key = %+v", got)
	}
	mustDo(t, "GET", path, nonAdmin, nil).mustRefuse(t, http.StatusForbidden, keyserver.EFORBIDDEN)
	mustDo(t, "DELETE", path, nonAdmin, nil).mustRefuse(t, http.StatusForbidden, keyserver.EFORBIDDEN)

	// key1's certificate does not carry key2's public key.
	var key1 map[string]any
	mustDo(t, "GET", "/api/keys/key1", admin, nil).mustDecode(t, http.StatusOK, &key1)
	mismatch := uniqueName("mismatch")
	bad := map[string]any{"hsmkey": st.HSMURL + "/keys/key2", "requiredapprovals": 0, "keyinfo": "x", "certificate": key1["certificate"]}
	mustDo(t, "PUT", "/api/admin/keys/"+mismatch, admin, bad).mustRefuse(t, http.StatusBadRequest, keyserver.EINVALID)
	mustDo(t, "GET", "/api/admin/keys/"+mismatch, admin, nil).mustRefuse(t, http.StatusNotFound, keyserver.ENOTFOUND)
	// The same certificate with its own HSM key is accepted and kept.
	good := map[string]any{"hsmkey": st.HSMURL + "/keys/key1", "requiredapprovals": 0, "keyinfo": "x", "certificate": key1["certificate"]}
	var same api.AdminKey
	mustDo(t, "PUT", "/api/admin/keys/"+mismatch, admin, good).mustDecode(t, http.StatusOK, &same)
	if same.Certificate != key1["certificate"] {
		t.Fatalf("PUT with a matching certificate stored another one")
	}
	for _, b := range []map[string]any{
		{"hsmkey": st.HSMURL + "/keys/key2", "requiredapprovals": -1},
		{"hsmkey": st.HSMURL + "/keys/key2", "requiredapprovals": 11},
		{"hsmkey": "", "requiredapprovals": 0},
		{"hsmkey": st.HSMURL + "/keys/key2", "requiredapprovals": 0, "certificate": "not PEM"},
		{"hsmkey": st.HSMURL + "/keys/key2"}, // requiredapprovals must be explicit
	} {
		a := mustDo(t, "PUT", "/api/admin/keys/"+uniqueName("badkey"), admin, b)
		if a.Status != http.StatusBadRequest {
			data, _ := json.Marshal(b)
			t.Fatalf("PUT key %s: status %d, want 400; %s", data, a.Status, a.Body)
		}
	}

	for _, p := range []string{path, "/api/admin/keys/" + mismatch} {
		if a := mustDo(t, "DELETE", p, admin, nil); a.Status != http.StatusNoContent {
			t.Fatalf("DELETE %s: status %d, want 204; %s", p, a.Status, a.Body)
		}
		mustDo(t, "GET", p, admin, nil).mustRefuse(t, http.StatusNotFound, keyserver.ENOTFOUND)
		mustDo(t, "DELETE", p, admin, nil).mustRefuse(t, http.StatusNotFound, keyserver.ENOTFOUND)
	}
}
