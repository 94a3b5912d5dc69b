package main

import (
	"bytes"
	"context"
	"crypto"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"

	"keyserver/internal/api"
	"keyserver/internal/keyserver"
	"keyserver/internal/localstack"
)

// pipeline talks to the handler as a signing pipeline does: orderer-client's
// token, keep-alive connections.
type pipeline struct {
	st    *localstack.Stack
	token string
	http  *http.Client
	url   string // the handler signing requests go to
}

func newPipeline(ctx context.Context, st *localstack.Stack) (*pipeline, error) {
	token, err := st.Token(ctx, "orderer-client")
	if err != nil {
		return nil, err
	}
	return &pipeline{st: st, token: token, http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}, url: st.HandlerURL}, nil
}

// at is p with its signing requests sent to the handler at url.
func (p *pipeline) at(url string) *pipeline {
	q := *p
	q.url = url
	return &q
}

// open opens an operation for uses of keyID and approves it when the key
// needs approvals; it returns the operation id.
func (p *pipeline) open(ctx context.Context, keyID string, uses int, description string) (string, error) {
	var op struct{ ID string }
	req := map[string]any{"validms": 3600000, "description": description,
		"new-keyusagerestrictions": []map[string]any{{"keyid": keyID, "maxusagecount": uses}}}
	if _, err := p.st.Call(ctx, "POST", "/api/operations", p.token, req, &op); err != nil {
		return "", err
	}
	var k struct{ RequiredApprovals int }
	if _, err := p.st.Call(ctx, "GET", "/api/keys/"+keyID, p.token, nil, &k); err != nil {
		return "", err
	}
	if k.RequiredApprovals > 0 {
		approver, err := p.st.Token(ctx, "adminclient")
		if err != nil {
			return "", err
		}
		if _, err := p.st.Call(ctx, "POST", "/api/operations/"+op.ID+"/approve", approver, nil, nil); err != nil {
			return "", err
		}
	}
	return op.ID, nil
}

// order returns a function that posts one sign order for digest and checks
// that the answer is a signature (201) or, with exhausted, the refusal for
// uses spent (409 usage_exhausted).
func (p *pipeline) order(opID, keyID string, digest []byte, exhausted bool) func() error {
	order := api.SignOrder{OperationID: opID, KeyID: keyID, InputFormat: "hex", Description: "benchmark"}
	if keyID == "key1" || keyID == "key3" {
		order.InputData, order.InputPadding, order.SignatureFormat = hex.EncodeToString(keyserver.DigestInfo(crypto.SHA256, digest)), "digestinfo", "asn1"
	} else {
		order.InputData, order.InputPadding, order.SignatureFormat = hex.EncodeToString(digest), "none", "p1363"
	}
	body, _ := json.Marshal(order)
	return func() error {
		req, _ := http.NewRequest("POST", p.url+"/api/signorders", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+p.token)
		resp, err := p.http.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var out struct{ Result, Error, Message string }
		err = json.NewDecoder(resp.Body).Decode(&out)
		switch {
		case err != nil:
			return fmt.Errorf("signorders: %s: %v", resp.Status, err)
		case exhausted && (resp.StatusCode != http.StatusConflict || out.Error != keyserver.EEXHAUSTED):
			return fmt.Errorf("signorders on an exhausted operation: %s %s", resp.Status, out.Error)
		case !exhausted && (resp.StatusCode != http.StatusCreated || out.Result == ""):
			return fmt.Errorf("signorders: %s %s: %s", resp.Status, out.Error, out.Message)
		}
		return nil
	}
}
