package keyserver

import (
	"encoding/hex"
	"strings"
	"testing"
)

// TestValidIDAsHex: ValidID accepts exactly 40 hex digits, as decoding
// them would.
func TestValidIDAsHex(t *testing.T) {
	ids := []string{"", strings.Repeat("a", 40), strings.Repeat("A", 40), strings.Repeat("0", 39), strings.Repeat("0", 41), strings.Repeat("g", 40)}
	for c := 0; c < 256; c++ {
		ids = append(ids, strings.Repeat("0", 39)+string([]byte{byte(c)}))
	}
	for _, id := range ids {
		_, err := hex.DecodeString(id)
		if got, want := ValidID(id), len(id) == 40 && err == nil; got != want {
			t.Errorf("ValidID(%q) = %v, want %v", id, got, want)
		}
	}
}
