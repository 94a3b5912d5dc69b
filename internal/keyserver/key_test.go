package keyserver

import (
	"regexp"
	"strings"
	"testing"
)

// TestValidKeyIDAsItsPattern: the byte loop accepts exactly what
// ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ does.
func TestValidKeyIDAsItsPattern(t *testing.T) {
	pattern := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	ids := []string{"", "a", "key1", "Key-1.x_y", ".a", "-a", "_a", "a b", "a/b", "ä", "a\x00", strings.Repeat("a", 64), strings.Repeat("a", 65), "a.", "9"}
	for c := 0; c < 256; c++ {
		ids = append(ids, string([]byte{byte(c)}), "a"+string([]byte{byte(c)}))
	}
	for _, id := range ids {
		if got, want := validKeyID(id), pattern.MatchString(id); got != want {
			t.Errorf("validKeyID(%q) = %v, want %v", id, got, want)
		}
	}
}
