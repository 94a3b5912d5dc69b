package tablestore

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// wire makes the requests of the sign path itself: reading one entity and
// entity-group transactions, through an azcore pipeline with the same
// retries, transport and authorisation as the aztables clients. The aztables
// client makes them too, but for each entity of a transaction it decodes the
// JSON again and copies it through a 32 KiB buffer, does not return the
// ETags the service answers, and re-encodes the entities it reads; on the
// sign path that cost more CPU than all the rest of the handler.
type wire struct {
	pl      runtime.Pipeline
	service string // the table service URL, without a trailing slash
	sas     string // a shared access signature query, or ""
}

const (
	tablesVersion = "2019-02-02" // as aztables sends
	jsonMinimal   = "application/json;odata=minimalmetadata"
)

func newWire(service, sas string, auth policy.Policy) *wire {
	opts := clientOptions().ClientOptions
	var perRetry []policy.Policy
	if auth != nil {
		perRetry = []policy.Policy{auth}
	}
	pl := runtime.NewPipeline("tablestore", "v1", runtime.PipelineOptions{PerRetry: perRetry}, &opts)
	return &wire{pl: pl, service: strings.TrimRight(service, "/"), sas: sas}
}

// wireFromConnectionString reads a connection string as aztables does.
func wireFromConnectionString(connStr string) (*wire, error) {
	kv := map[string]string{}
	for _, part := range strings.Split(strings.TrimRight(connStr, ";"), ";") {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("the connection string has a part without '='")
		}
		kv[k] = v
	}
	account := kv["AccountName"]
	if account == "" {
		return nil, fmt.Errorf("the connection string names no AccountName")
	}
	protocol, suffix := or(kv["DefaultEndpointsProtocol"], "https"), or(kv["EndpointSuffix"], "core.windows.net")
	if kv["AccountKey"] == "" {
		if kv["SharedAccessSignature"] == "" {
			return nil, fmt.Errorf("the connection string has neither AccountKey nor SharedAccessSignature")
		}
		return newWire(fmt.Sprintf("https://%s.table.%s", account, suffix), kv["SharedAccessSignature"], nil), nil
	}
	key, err := base64.StdEncoding.DecodeString(kv["AccountKey"])
	if err != nil {
		return nil, fmt.Errorf("the connection string's AccountKey is not base64: %w", err)
	}
	service := or(kv["TableEndpoint"], fmt.Sprintf("%s://%s.table.%s", protocol, account, suffix))
	return newWire(service, "", sharedKeyLite{account: account, key: key}), nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// sharedKeyLite authorises a request with the account key, as aztables does.
type sharedKeyLite struct {
	account string
	key     []byte
}

func (p sharedKeyLite) Do(req *policy.Request) (*http.Response, error) {
	date := time.Now().UTC().Format(http.TimeFormat)
	mac := hmac.New(sha256.New, p.key)
	mac.Write([]byte(date + "\n/" + p.account + req.Raw().URL.EscapedPath()))
	req.Raw().Header.Set("x-ms-date", date)
	req.Raw().Header.Set("Authorization", "SharedKeyLite "+p.account+":"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	return req.Next()
}

// entityURL is the URL of one entity of table.
func (w *wire) entityURL(table, pk, rk string) string {
	return w.service + "/" + table + "(PartitionKey='" + url.PathEscape(strings.ReplaceAll(pk, "'", "''")) +
		"',RowKey='" + url.PathEscape(strings.ReplaceAll(rk, "'", "''")) + "')"
}

func (w *wire) withSAS(u string) string {
	if w.sas == "" {
		return u
	}
	return u + "?" + w.sas
}

// get reads one entity and returns its JSON (with its odata.etag).
func (w *wire) get(ctx context.Context, table, pk, rk string) ([]byte, error) {
	req, err := runtime.NewRequest(ctx, http.MethodGet, w.withSAS(w.entityURL(table, pk, rk)))
	if err != nil {
		return nil, err
	}
	setTableHeaders(req.Raw().Header)
	resp, err := w.pl.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, runtime.NewResponseError(resp)
	}
	return runtime.Payload(resp)
}

func setTableHeaders(h http.Header) {
	h["Accept"] = []string{jsonMinimal}
	h["X-Ms-Version"] = []string{tablesVersion}
	h["Dataserviceversion"] = []string{"3.0"}
}

// batch runs an entity-group transaction on table and returns the ETag each
// action left (empty for a delete). A failed action fails it with the
// service's answer, as aztables does.
func (w *wire) batch(ctx context.Context, table string, actions []aztables.TransactionAction) ([]azcore.ETag, error) {
	batchID, changeset := boundary("batch"), boundary("changeset")
	size := 256
	for _, a := range actions {
		size += len(a.Entity) + 2*len(w.service) + 384
	}
	var body bytes.Buffer
	body.Grow(size)
	body.WriteString("--" + batchID + "\r\nContent-Type: multipart/mixed; boundary=" + changeset + "\r\n\r\n")
	for _, a := range actions {
		if err := w.writeAction(&body, changeset, table, a); err != nil {
			return nil, err
		}
	}
	body.WriteString("--" + changeset + "--\r\n\r\n--" + batchID + "--\r\n")
	req, err := runtime.NewRequest(ctx, http.MethodPost, w.withSAS(w.service+"/$batch"))
	if err != nil {
		return nil, err
	}
	setTableHeaders(req.Raw().Header)
	if err := req.SetBody(bodyReader{bytes.NewReader(body.Bytes())}, "multipart/mixed; boundary="+batchID); err != nil {
		return nil, err
	}
	resp, err := w.pl.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusAccepted {
		return nil, runtime.NewResponseError(resp)
	}
	answer, err := runtime.Payload(resp)
	if err != nil {
		return nil, err
	}
	statuses, etags := answerParts(answer)
	for _, st := range statuses {
		if st >= 400 {
			return nil, runtime.NewResponseError(resp)
		}
	}
	if len(statuses) != len(actions) {
		return nil, fmt.Errorf("the transaction's answer has %d parts for %d actions", len(statuses), len(actions))
	}
	return etags, nil
}

// bodyReader is a request body that net/http copies with WriteTo, without
// the 32 KiB buffer it would take for a reader without it.
type bodyReader struct{ *bytes.Reader }

func (bodyReader) Close() error { return nil }

func (w *wire) writeAction(b *bytes.Buffer, changeset, table string, a aztables.TransactionAction) error {
	keys, err := entityKeys(a.Entity)
	if err != nil {
		return err
	}
	ifMatch := "*"
	if a.IfMatch != nil {
		ifMatch = string(*a.IfMatch)
	}
	b.WriteString("--" + changeset + "\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n")
	entity := w.entityURL(table, keys.PartitionKey, keys.RowKey)
	switch a.ActionType {
	case aztables.TransactionTypeAdd:
		b.WriteString("POST " + w.service + "/" + table + " HTTP/1.1\r\nPrefer: return-no-content\r\n")
	case aztables.TransactionTypeUpdateMerge:
		b.WriteString("PATCH " + entity + " HTTP/1.1\r\nIf-Match: " + ifMatch + "\r\n")
	case aztables.TransactionTypeUpdateReplace:
		b.WriteString("PUT " + entity + " HTTP/1.1\r\nIf-Match: " + ifMatch + "\r\n")
	case aztables.TransactionTypeDelete:
		b.WriteString("DELETE " + entity + " HTTP/1.1\r\nIf-Match: " + ifMatch + "\r\nAccept: " + jsonMinimal + "\r\n\r\n\r\n")
		return nil
	default:
		return fmt.Errorf("transaction action %q is not used by the Keyserver", a.ActionType)
	}
	b.WriteString("Accept: " + jsonMinimal + "\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(a.Entity)) + "\r\n\r\n")
	b.Write(a.Entity)
	b.WriteString("\r\n")
	return nil
}

// entityKeys reads the PartitionKey and RowKey of an entity: at once when
// they come first and unescaped, as row.marshal writes them.
func entityKeys(entity []byte) (keys struct{ PartitionKey, RowKey string }, err error) {
	rest, ok := bytes.CutPrefix(entity, []byte(`{"PartitionKey":"`))
	if ok {
		pk, rest, ok1 := bytes.Cut(rest, []byte(`"`))
		rest, ok2 := bytes.CutPrefix(rest, []byte(`,"RowKey":"`))
		rk, _, ok3 := bytes.Cut(rest, []byte(`"`))
		if ok1 && ok2 && ok3 && bytes.IndexByte(pk, '\\') < 0 && bytes.IndexByte(rk, '\\') < 0 {
			keys.PartitionKey, keys.RowKey = string(pk), string(rk)
			return keys, nil
		}
	}
	if err := json.Unmarshal(entity, &keys); err != nil {
		return keys, fmt.Errorf("a transaction entity is not JSON: %w", err)
	}
	return keys, nil
}

func boundary(kind string) string {
	return kind + "_" + strconv.FormatUint(rand.Uint64(), 16) + strconv.FormatUint(rand.Uint64(), 16)
}

// answerParts reads the status and ETag header of each part of a
// transaction's answer, in order.
func answerParts(body []byte) (statuses []int, etags []azcore.ETag) {
	for len(body) > 0 {
		line, rest, _ := bytes.Cut(body, []byte("\n"))
		body = rest
		line = bytes.TrimSuffix(line, []byte("\r"))
		switch {
		case bytes.HasPrefix(line, []byte("HTTP/1.1 ")) && len(line) >= 12:
			st, _ := strconv.Atoi(string(line[9:12]))
			statuses = append(statuses, st)
			etags = append(etags, "")
		case len(etags) > 0 && len(line) > 5 && bytes.EqualFold(line[:5], []byte("etag:")):
			etags[len(etags)-1] = azcore.ETag(bytes.TrimSpace(line[5:]))
		}
	}
	return statuses, etags
}
