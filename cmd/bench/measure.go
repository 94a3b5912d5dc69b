package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"keyserver/internal/api"
	"keyserver/internal/keyserver"
	"keyserver/internal/localstack"
)

type result struct {
	rate     float64
	p50, p99 time.Duration
	err      error
}

// measure runs op n times over the given number of concurrent clients.
func measure(n, clients int, op func() error) result {
	lat := make([]time.Duration, n)
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t := time.Now()
				if err := op(); err != nil {
					firstErr.CompareAndSwap(nil, err)
				}
				lat[i] = time.Since(t)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err, _ := firstErr.Load().(error); err != nil {
		return result{err: err}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return result{rate: float64(n) / elapsed.Seconds(), p50: lat[n/2], p99: lat[(n*99)/100]}
}

// restSigner signs through the HSM fake's REST API with one keep-alive client.
func restSigner(st *localstack.Stack, name, alg string, digest []byte) (func() error, error) {
	ca, err := os.ReadFile(st.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, MaxIdleConnsPerHost: 64}}
	body, _ := json.Marshal(map[string]string{"alg": alg, "value": base64.RawURLEncoding.EncodeToString(digest)})
	url := st.HSMURL + "/keys/" + name + "/" + "sign?api-version=7.5"
	return func() error {
		req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer bench")
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var out struct{ Value string }
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 || out.Value == "" {
			return fmt.Errorf("REST sign: %s", resp.Status)
		}
		return nil
	}, nil
}

// signOrderer opens an approved operation for keyID with n uses and returns
// a function that makes one signature through POST /api/signorders.
func signOrderer(ctx context.Context, st *localstack.Stack, keyID string, n int, digest []byte) (func() error, error) {
	token, err := st.Token(ctx, "orderer-client")
	if err != nil {
		return nil, err
	}
	var op struct{ ID string }
	req := map[string]any{"validms": 600000, "description": "benchmark run",
		"new-keyusagerestrictions": []map[string]any{{"keyid": keyID, "maxusagecount": n}}}
	if _, err := st.Call(ctx, "POST", "/api/operations", token, req, &op); err != nil {
		return nil, err
	}
	var k struct{ RequiredApprovals int }
	if _, err := st.Call(ctx, "GET", "/api/keys/"+keyID, token, nil, &k); err != nil {
		return nil, err
	}
	if k.RequiredApprovals > 0 {
		approver, err := st.Token(ctx, "adminclient")
		if err != nil {
			return nil, err
		}
		if _, err := st.Call(ctx, "POST", "/api/operations/"+op.ID+"/approve", approver, nil, nil); err != nil {
			return nil, err
		}
	}
	order := api.SignOrder{OperationID: op.ID, KeyID: keyID, InputFormat: "hex", Description: "benchmark"}
	if keyID == "key1" {
		order.InputData, order.InputPadding, order.SignatureFormat = hex.EncodeToString(keyserver.DigestInfo(sha256Hash, digest)), "digestinfo", "asn1"
	} else {
		order.InputData, order.InputPadding, order.SignatureFormat = hex.EncodeToString(digest), "none", "p1363"
	}
	body, _ := json.Marshal(order)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	return func() error {
		req, _ := http.NewRequest("POST", st.HandlerURL+"/api/signorders", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var out api.SignResult
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("signorders: %s", resp.Status)
		}
		return nil
	}, nil
}

var sha256Hash = crypto.SHA256
