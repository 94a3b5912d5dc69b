package azuritetests

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// mustCreateWithKey posts an operation request with an Idempotency-Key header.
func mustCreateWithKey(tb testing.TB, token, key string, body any) apiAnswer {
	tb.Helper()
	data, err := json.Marshal(body)
	if err != nil {
		tb.Fatal(err)
	}
	req, err := http.NewRequest("POST", mustStack(tb).HandlerURL+"/api/operations", bytes.NewReader(data))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := apiClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return apiAnswer{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// TestIdempotencyKeyThroughTheAPI: the same key and request answer the same
// operation (201, then 200 with Idempotent-Replayed), another request with
// that key is refused, and another requester's key is its own.
func TestIdempotencyKeyThroughTheAPI(t *testing.T) {
	key := uniqueName("github:octo/repo:run/7:attempt/1:job/sign")
	orderer := mustToken(t, "orderer-client")
	body := opRequest(60000, map[string]int{"key1": 1, "key4": 2})

	var first, again opView
	mustCreateWithKey(t, orderer, key, body).mustDecode(t, http.StatusCreated, &first)
	a := mustCreateWithKey(t, orderer, key, opRequest(60000, map[string]int{"key4": 2, "key1": 1}))
	a.mustDecode(t, http.StatusOK, &again)
	if again.ID != first.ID || a.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay answered operation %s (Idempotent-Replayed %q), want %s", again.ID, a.Header.Get("Idempotent-Replayed"), first.ID)
	}
	e := mustCreateWithKey(t, orderer, key, opRequest(60000, map[string]int{"key1": 1})).mustRefuse(t, http.StatusConflict, "conflict")
	t.Logf("refusal: %s", e.Message)

	var theirs opView
	mustCreateWithKey(t, mustToken(t, "orderer-clientkey1"), key, opRequest(60000, map[string]int{"key1": 1})).mustDecode(t, http.StatusCreated, &theirs)
	if theirs.ID == first.ID {
		t.Fatalf("another requester got operation %s back", first.ID)
	}
	mustCreateWithKey(t, orderer, "two words", body).mustRefuse(t, http.StatusBadRequest, "invalid_request")
}
