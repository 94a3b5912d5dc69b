package tablestore

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"keyserver/internal/keyserver"
)

// Row keys of the operations table.
const (
	opRow             = "op"
	approvalPrefix    = "op~approval~"
	usePrefix         = "op~use~" // uses of operations from before the op row counted them
	reservationPrefix = "op~res~"
	auditPrefix       = "x~audit~"
	eventPrefix       = "x~event~"
	keysPartition     = "key"
)

// auditTimeLayout is RFC 3339 with a fixed-width fraction, so that row keys sort by time.
const auditTimeLayout = "2006-01-02T15:04:05.000000000Z"

// encodeKey makes an arbitrary string safe as a PartitionKey or RowKey
// (no / \ # ? or control characters): unpadded base64url.
func encodeKey(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func decodeKey(k string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(k)
	return string(b), err
}

// principalHash names an approver inside a row key. An app's hash is what
// it was before people were told apart; a person's differs from any app's.
func principalHash(p keyserver.Principal) string {
	s := encodeKey(p.Issuer) + "|" + encodeKey(p.Subject)
	if p.Kind == keyserver.KindPerson {
		s += "|person"
	}
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:32]
}

// setPrincipal writes p as <prefix>Issuer and <prefix>Subject, and
// <prefix>Kind for a person; rows without a kind are apps', as every
// principal was before people could sign in.
func (r *row) setPrincipal(prefix string, p keyserver.Principal) *row {
	r.set(prefix+"Issuer", p.Issuer).set(prefix+"Subject", p.Subject)
	if p.Kind == keyserver.KindPerson {
		r.set(prefix+"Kind", p.Kind.String())
	}
	return r
}

func (r *row) principal(prefix string) keyserver.Principal {
	return entityPrincipal(r.str(prefix+"Issuer"), r.str(prefix+"Subject"), r.str(prefix+"Kind"))
}

func approvalRowKey(keyID string, p keyserver.Principal) string {
	return approvalPrefix + keyID + "~" + principalHash(p)
}

// auditRowKey orders audit rows by time; the random suffix keeps two events
// of the same instant apart.
func auditRowKey(t time.Time) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		panic("tablestore: reading random bytes: " + err.Error())
	}
	return auditPrefix + t.UTC().Format(auditTimeLayout) + "~" + hex.EncodeToString(b)
}

// keyIDOfRow returns the key id in an approval or use row key.
func keyIDOfRow(rowKey, prefix string) string {
	rest := strings.TrimPrefix(rowKey, prefix)
	keyID, _, _ := strings.Cut(rest, "~")
	return keyID
}

// safeKeyPart reports whether s may be used in a row key as it is.
var safeKeyPart = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// quote makes s a string literal in an OData filter.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func filterTime(t time.Time) string {
	return "datetime'" + t.UTC().Format("2006-01-02T15:04:05.0000000Z") + "'"
}

// row is an entity read back from a table.
type row struct {
	aztables.EDMEntity
}

func newRow(pk, rk string) *row {
	return &row{aztables.EDMEntity{Entity: aztables.Entity{PartitionKey: pk, RowKey: rk}, Properties: map[string]any{}}}
}

func parseRow(b []byte) (*row, error) {
	r := &row{}
	if err := json.Unmarshal(b, &r.EDMEntity); err != nil {
		return nil, fmt.Errorf("decoding table entity: %w", err)
	}
	return r, nil
}

// marshal encodes the row as aztables.EDMEntity does, without its map
// and reflection for the property types rows use.
func (r *row) marshal() []byte {
	b := make([]byte, 0, 128+64*len(r.Properties))
	b = append(b, `{"PartitionKey":`...)
	b = appendJSONString(b, strings.ReplaceAll(r.PartitionKey, "'", "''"))
	b = append(b, `,"RowKey":`...)
	b = appendJSONString(b, strings.ReplaceAll(r.RowKey, "'", "''"))
	for name, v := range r.Properties {
		b = append(b, ',')
		b = appendJSONString(b, name)
		b = append(b, ':')
		switch v := v.(type) {
		case string:
			b = appendJSONString(b, v)
		case bool:
			b = strconv.AppendBool(b, v)
		case int32:
			b = strconv.AppendInt(b, int64(v), 10)
		case aztables.EDMInt64: // a string, as JSON numbers lose 64-bit precision
			b = append(b, '"')
			b = strconv.AppendInt(b, int64(v), 10)
			b = append(b, `",`...)
			b = appendJSONString(b, name+"@odata.type")
			b = append(b, `:"Edm.Int64"`...)
		case aztables.EDMDateTime:
			b = append(b, '"')
			b = time.Time(v).AppendFormat(b, edmTimeLayout)
			b = append(b, `",`...)
			b = appendJSONString(b, name+"@odata.type")
			b = append(b, `:"Edm.DateTime"`...)
		default:
			enc, err := json.Marshal(r.EDMEntity)
			if err != nil {
				panic("tablestore: encoding entity: " + err.Error()) // only strings, numbers, bools and times
			}
			return enc
		}
	}
	return append(b, '}')
}

// edmTimeLayout is how aztables writes an Edm.DateTime.
const edmTimeLayout = "2006-01-02T15:04:05.9999999Z"

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	if !utf8.ValidString(s) {
		enc, _ := json.Marshal(s) // replaces invalid bytes
		return append(b, enc...)
	}
	b = append(b, '"')
	plain := 0 // s[plain:i] needs no escape
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[plain:i]...)
		plain = i + 1
		if c < 0x20 {
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		} else {
			b = append(b, '\\', c)
		}
	}
	b = append(b, s[plain:]...)
	return append(b, '"')
}

// appendZeroPadded appends n in decimal as fmt's %0*d does with width.
func appendZeroPadded(b []byte, n int64, width int) []byte {
	if n < 0 {
		return fmt.Appendf(b, "%0*d", width, n)
	}
	var digits [20]byte
	d := strconv.AppendInt(digits[:0], n, 10)
	for range width - len(d) {
		b = append(b, '0')
	}
	return append(b, d...)
}

const hexDigits = "0123456789abcdef"

func (r *row) set(name string, v any) *row { r.Properties[name] = v; return r }

func (r *row) setTime(name string, t time.Time) *row {
	r.Properties[name] = aztables.EDMDateTime(t.UTC())
	return r
}

func (r *row) setJSON(name string, v any) *row {
	b, err := json.Marshal(v)
	if err != nil {
		panic("tablestore: encoding " + name + ": " + err.Error())
	}
	r.Properties[name] = string(b)
	return r
}

func (r *row) str(name string) string {
	s, _ := r.Properties[name].(string)
	return s
}

func (r *row) num(name string) int {
	switch v := r.Properties[name].(type) {
	case int32:
		return int(v)
	case aztables.EDMInt64:
		return int(v)
	case float64:
		return int(v)
	}
	return 0
}

func (r *row) flag(name string) bool {
	b, _ := r.Properties[name].(bool)
	return b
}

func (r *row) time(name string) time.Time {
	switch v := r.Properties[name].(type) {
	case aztables.EDMDateTime:
		return time.Time(v).UTC()
	case string:
		t, _ := time.Parse(time.RFC3339Nano, v)
		return t.UTC()
	}
	return time.Time{}
}

func (r *row) json(name string, v any) error {
	s := r.str(name)
	if s == "" {
		return nil
	}
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return fmt.Errorf("decoding %s of row %s/%s: %w", name, r.PartitionKey, r.RowKey, err)
	}
	return nil
}

// payload returns a response body, which the SDK keeps after reading it.
func payload(resp *http.Response) []byte {
	b, err := runtime.Payload(resp)
	if err != nil {
		return nil
	}
	return b
}

var (
	batchStatusPattern = regexp.MustCompile(`(?m)^HTTP/1\.1 (\d{3})`)
	batchCodePattern   = regexp.MustCompile(`"code"\s*:\s*"([A-Za-z]+)"`)
)

// batchFailure finds the failing status and error code in the multipart
// body of an entity-group transaction; status is 0 when none failed.
func batchFailure(body []byte) (status int, code string) {
	for _, m := range batchStatusPattern.FindAllSubmatch(body, -1) {
		if st, _ := strconv.Atoi(string(m[1])); st >= 400 {
			status = st
			break
		}
	}
	if status == 0 {
		return 0, ""
	}
	if m := batchCodePattern.FindSubmatch(body); m != nil {
		code = string(m[1])
	}
	return status, code
}
