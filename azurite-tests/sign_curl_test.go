package azuritetests

import (
	"bytes"
	"crypto"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// mustCurl runs the curl CLI, fails unless the HTTP status is want, and
// decodes the JSON answer into out.
func mustCurl(tb testing.TB, want string, out any, args ...string) {
	tb.Helper()
	args = append([]string{"-sS", "--max-time", "30", "-o", "-", "-w", "\n%{http_code}"}, args...)
	cmd := exec.Command("curl", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		tb.Fatalf("curl: %v: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	i := bytes.LastIndexByte(stdout, '\n')
	body, status := stdout[:i], string(stdout[i+1:])
	if status != want {
		tb.Fatalf("curl: HTTP %s, want %s: %s", status, want, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		tb.Fatalf("curl: decoding the answer: %v: %s", err, body)
	}
}

// TestSignSeed001WithCurl follows seed 001 with the real curl: a token, an
// operation for key1, a sign order, and openssl checks the signature
// against key1's certificate.
func TestSignSeed001WithCurl(t *testing.T) {
	t.Parallel()
	st := mustStack(t)
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	mustCurl(t, "200", &tok, "-X", "POST", "-u", "orderer-client:orderer-client", "-d", "grant_type=client_credentials", st.AuthURL+"/oauth2/token")
	// The header goes through a file so that the token is not on a command line.
	headerFile := filepath.Join(t.TempDir(), "auth.txt")
	if err := os.WriteFile(headerFile, []byte("Authorization: Bearer "+tok.AccessToken+"\n"), 0o600); err != nil {
		t.Fatalf("writing the header file: %v", err)
	}
	auth := "@" + headerFile
	var op opView
	mustCurl(t, "201", &op, "-X", "POST", st.HandlerURL+"/api/operations", "-H", auth, "-H", "accept: application/json", "-H", "Content-Type: application/json",
		"-d", `{"validms": 60000, "description": "Building of firmware for XYZ development board", "new-keyusagerestrictions": [{"keyid": "key1", "maxusagecount": 1}]}`)
	if !op.Approved {
		t.Fatalf("an operation for key1 alone is not approved at once")
	}

	digest := hashOf(crypto.SHA256, []byte("firmware for the XYZ development board"))
	order, err := json.Marshal(map[string]string{
		"operationid": op.ID, "keyid": "key1", "inputdata": hex.EncodeToString(mustDigestInfo(t, crypto.SHA256, digest)),
		"inputformat": "hex", "inputpadding": "digestinfo", "signatureformat": "asn1", "description": "Building of firmware for XYZ development board",
	})
	if err != nil {
		t.Fatalf("encoding the order: %v", err)
	}
	var res struct {
		KeyID           string `json:"keyid"`
		InputData       string `json:"inputdata"`
		SignatureFormat string `json:"signatureformat"`
		Result          string `json:"result"`
	}
	mustCurl(t, "201", &res, "-X", "POST", st.HandlerURL+"/api/signorders", "-H", auth, "-H", "Content-Type: application/json", "--data-binary", string(order))
	if res.KeyID != "key1" || res.SignatureFormat != "asn1" {
		t.Fatalf("sign answer keyid %q, signatureformat %q", res.KeyID, res.SignatureFormat)
	}
	var key struct {
		Certificate string `json:"certificate"`
	}
	mustCurl(t, "200", &key, st.HandlerURL+"/api/keys/key1", "-H", auth)
	v := mustVerifier(t, key.Certificate)
	if err := v.verify(digest, mustDecodeResult(t, "hex", res.Result), "digest:sha256"); err != nil {
		t.Fatalf("openssl does not verify key1's signature: %v", err)
	}
	var spent opView
	mustCurl(t, "200", &spent, st.HandlerURL+"/api/operations/"+op.ID, "-H", auth)
	if g := spent.grant(t, "key1"); g.UsageCount != 1 {
		t.Fatalf("usagecount after one signature = %d", g.UsageCount)
	}
}
