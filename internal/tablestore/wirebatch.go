package tablestore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// batch runs an entity-group transaction on table and returns the ETag each
// action left (empty for a delete). A failed action fails it with the
// service's answer, as aztables does. It is tried again as wire.do does, but
// never applied twice (wireonce.go).
func (w *wire) batch(ctx context.Context, table string, actions []aztables.TransactionAction) ([]azcore.ETag, error) {
	batchID, changeset := boundary("batch"), boundary("changeset")
	size := 256
	for _, a := range actions {
		size += len(a.Entity) + 2*len(w.service) + 384
	}
	var body bytes.Buffer
	body.Grow(size)
	writeStrings(&body, "--", batchID, "\r\nContent-Type: multipart/mixed; boundary=", changeset, "\r\n\r\n")
	for _, a := range actions {
		if err := w.writeAction(&body, changeset, table, a); err != nil {
			return nil, err
		}
	}
	writeStrings(&body, "--", changeset, "--\r\n\r\n--", batchID, "--\r\n")
	return w.submitOnce(ctx, table, actions, body.Bytes(), "multipart/mixed; boundary="+batchID)
}

func (w *wire) writeAction(b *bytes.Buffer, changeset, table string, a aztables.TransactionAction) error {
	pk, rk, ok := plainKeys(a.Entity)
	if !ok {
		keys, err := entityKeys(a.Entity)
		if err != nil {
			return err
		}
		pk, rk = []byte(keys.PartitionKey), []byte(keys.RowKey)
	}
	ifMatch := "*"
	if a.IfMatch != nil {
		ifMatch = string(*a.IfMatch)
	}
	writeStrings(b, "--", changeset, "\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n")
	switch a.ActionType {
	case aztables.TransactionTypeAdd:
		writeStrings(b, "POST ", w.service, "/", table, " HTTP/1.1\r\nPrefer: return-no-content\r\n")
	case aztables.TransactionTypeUpdateMerge:
		b.WriteString("PATCH ")
		w.writeEntityURL(b, table, pk, rk)
		writeStrings(b, " HTTP/1.1\r\nIf-Match: ", ifMatch, "\r\n")
	case aztables.TransactionTypeUpdateReplace:
		b.WriteString("PUT ")
		w.writeEntityURL(b, table, pk, rk)
		writeStrings(b, " HTTP/1.1\r\nIf-Match: ", ifMatch, "\r\n")
	case aztables.TransactionTypeDelete:
		b.WriteString("DELETE ")
		w.writeEntityURL(b, table, pk, rk)
		writeStrings(b, " HTTP/1.1\r\nIf-Match: ", ifMatch, "\r\nAccept: ", jsonMinimal, "\r\n\r\n\r\n")
		return nil
	default:
		return fmt.Errorf("transaction action %q is not used by the Keyserver", a.ActionType)
	}
	writeStrings(b, "Accept: ", jsonMinimal, "\r\nContent-Type: application/json\r\nContent-Length: ")
	b.Write(strconv.AppendInt(b.AvailableBuffer(), int64(len(a.Entity)), 10))
	b.WriteString("\r\n\r\n")
	b.Write(a.Entity)
	b.WriteString("\r\n")
	return nil
}

// writeStrings writes each of parts to b, without joining them first.
func writeStrings(b *bytes.Buffer, parts ...string) {
	for _, p := range parts {
		b.WriteString(p)
	}
}

// writeEntityURL writes entityURL(table, pk, rk) to b; keys of characters
// that need no escape in a URL path (nor a doubled quote) are written as
// they are.
func (w *wire) writeEntityURL(b *bytes.Buffer, table string, pk, rk []byte) {
	if !pathSafe(pk) || !pathSafe(rk) {
		b.WriteString(w.entityURL(table, string(pk), string(rk)))
		return
	}
	writeStrings(b, w.service, "/", table, "(PartitionKey='")
	b.Write(pk)
	b.WriteString("',RowKey='")
	b.Write(rk)
	b.WriteString("')")
}

// pathSafe reports whether k has only letters, digits and - . _ ~, which
// url.PathEscape leaves as they are.
func pathSafe(k []byte) bool {
	for _, c := range k {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// plainKeys returns the PartitionKey and RowKey of an entity that has them
// first and unescaped, as row.marshal writes them, without copying them.
func plainKeys(entity []byte) (pk, rk []byte, ok bool) {
	rest, ok := bytes.CutPrefix(entity, []byte(`{"PartitionKey":"`))
	if !ok {
		return nil, nil, false
	}
	pk, rest, ok1 := bytes.Cut(rest, []byte(`"`))
	rest, ok2 := bytes.CutPrefix(rest, []byte(`,"RowKey":"`))
	rk, _, ok3 := bytes.Cut(rest, []byte(`"`))
	if !ok1 || !ok2 || !ok3 || bytes.IndexByte(pk, '\\') >= 0 || bytes.IndexByte(rk, '\\') >= 0 {
		return nil, nil, false
	}
	return pk, rk, true
}

// entityKeys reads the PartitionKey and RowKey of an entity: at once when
// they come first and unescaped, as row.marshal writes them.
func entityKeys(entity []byte) (keys struct{ PartitionKey, RowKey string }, err error) {
	if pk, rk, ok := plainKeys(entity); ok {
		keys.PartitionKey, keys.RowKey = string(pk), string(rk)
		return keys, nil
	}
	if err := json.Unmarshal(entity, &keys); err != nil {
		return keys, fmt.Errorf("a transaction entity is not JSON: %w", err)
	}
	return keys, nil
}

func boundary(kind string) string {
	b := make([]byte, 0, len(kind)+1+32)
	b = strconv.AppendUint(append(append(b, kind...), '_'), rand.Uint64(), 16)
	return string(strconv.AppendUint(b, rand.Uint64(), 16))
}

// answerParts reads the status and ETag header of each part of a
// transaction's answer, in order.
func answerParts(body []byte) (statuses []int, etags []azcore.ETag) {
	if n := bytes.Count(body, []byte("HTTP/1.1 ")); n > 0 { // room for the parts, at most
		statuses, etags = make([]int, 0, n), make([]azcore.ETag, 0, n)
	}
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
