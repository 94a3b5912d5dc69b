package triggers

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
)

// messageBody returns the Service Bus message body in a trigger's Data
// value. With "dataType": "string" the host sends the body as a JSON string;
// it may also send the JSON itself, or, for a binary body, base64.
func messageBody(raw json.RawMessage) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, errors.New("the message has no body")
	}
	if raw[0] != '"' {
		return raw, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	if json.Valid([]byte(s)) {
		return []byte(s), nil
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil && json.Valid(b) {
		return b, nil
	}
	return nil, errors.New("the message body is neither JSON nor base64 of JSON")
}

// metaValue decodes a Metadata value, which the host may have encoded twice
// (a JSON string holding "\"abc\"" or "1").
func metaValue(raw json.RawMessage) any {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return nil
	}
	if s, ok := v.(string); ok {
		var inner any
		if json.Unmarshal([]byte(s), &inner) == nil {
			switch inner.(type) {
			case string, float64:
				return inner
			}
		}
	}
	return v
}

func metaString(raw json.RawMessage) string {
	switch v := metaValue(raw).(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return ""
}

func metaInt(raw json.RawMessage) int {
	switch v := metaValue(raw).(type) {
	case float64:
		return int(v)
	case string:
		n, _ := strconv.Atoi(v)
		return n
	}
	return 0
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"Outputs":{},"Logs":["encoding the response failed"],"ReturnValue":null}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
