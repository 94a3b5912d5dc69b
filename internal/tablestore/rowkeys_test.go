package tablestore

import (
	"fmt"
	"math"
	"testing"
)

// TestRowKeysAsBefore: row keys are spelled as fmt's zero padding spells
// them, for every width of number (row keys sort by these strings).
func TestRowKeysAsBefore(t *testing.T) {
	for _, n := range []int64{0, 1, 9, 10, 123, 999999999, 1000000000, 12345678901, math.MaxInt64, -1, -123, math.MinInt64} {
		for _, width := range []int{0, 1, 10, 19, 25} {
			if got, want := string(appendZeroPadded([]byte("x~"), n, width)), fmt.Sprintf("x~%0*d", width, n); got != want {
				t.Errorf("appendZeroPadded(%d, %d) = %q, want %q", n, width, got, want)
			}
		}
	}
	if got := reservationRowKey("k1", 42); got != reservationPrefix+"k1~0000000042" {
		t.Errorf("reservationRowKey = %q", got)
	}
	if got := recordRowKey(5); got != recordPrefix+fmt.Sprintf("%019d", math.MaxInt64-5) || rowOfRecordKey(got) != 5 {
		t.Errorf("recordRowKey = %q", got)
	}
}
