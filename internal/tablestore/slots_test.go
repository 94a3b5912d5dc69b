package tablestore

import (
	"testing"
)

func mustLoadedState(tb testing.TB, b *slotBook, maxUses int, taken ...int) *slotState {
	tb.Helper()
	st := b.state("op1", "k1", maxUses)
	b.load(st, taken)
	if got := b.generation(st); got != 1 {
		tb.Fatalf("generation after one load = %d, want 1", got)
	}
	return st
}

func TestTablestoreSlotBookClaimsOnlyFreeSlots(t *testing.T) {
	tests := []struct {
		name  string
		max   int
		taken []int
		free  int
	}{
		{"empty", 3, nil, 3},
		{"holes", 6, []int{1, 3, 4, 6}, 2},
		{"full", 2, []int{1, 2}, 0},
		{"rows out of range ignored", 2, []int{0, 3, 2}, 1},
		{"wider than the spread", slotSpread*3 + 1, []int{2}, slotSpread * 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b slotBook
			st := mustLoadedState(t, &b, tc.max, tc.taken...)
			got := map[int]bool{}
			for _, n := range tc.taken {
				got[n] = true
			}
			for range tc.free {
				n := b.claim(st)
				if n < 1 || n > tc.max || got[n] {
					t.Fatalf("claim = %d; taken or claimed before: %v", n, got)
				}
				got[n] = true
			}
			if n := b.claim(st); n != 0 {
				t.Fatalf("claim after every free slot = %d, want 0", n)
			}
		})
	}
}

func TestTablestoreSlotBookClaimsNearTheLowestFree(t *testing.T) {
	var b slotBook
	st := mustLoadedState(t, &b, 100, 1, 2, 3, 4, 5)
	for range 50 {
		n := b.claim(st)
		if n <= 5 {
			t.Fatalf("claim = %d, a taken slot", n)
		}
		b.set(st, n, slotFree)
		if n > 5+slotSpread {
			t.Fatalf("claim = %d, want one of the first %d free slots after 5", n, slotSpread)
		}
	}
}

func TestTablestoreSlotBookReleasedSlotIsClaimedAgain(t *testing.T) {
	var b slotBook
	st := mustLoadedState(t, &b, 3, 1, 2, 3)
	if n := b.claim(st); n != 0 {
		t.Fatalf("claim on a full state = %d, want 0", n)
	}
	b.set(b.lookup("op1", "k1"), 2, slotFree)
	if n := b.claim(st); n != 2 {
		t.Fatalf("claim after releasing slot 2 = %d, want 2", n)
	}
}

func TestTablestoreSlotBookLoadKeepsClaims(t *testing.T) {
	var b slotBook
	st := mustLoadedState(t, &b, 2)
	claimed := b.claim(st)
	b.load(st, nil) // the claimed row is not in the table yet
	if n := b.claim(st); n == claimed || n == 0 {
		t.Fatalf("claim after a reload = %d, want the other slot than %d", n, claimed)
	}
	if n := b.claim(st); n != 0 {
		t.Fatalf("third claim of two slots = %d, want 0", n)
	}
	b.load(st, []int{1, 2})
	if got := b.generation(st); got != 3 {
		t.Fatalf("generation after three loads = %d, want 3", got)
	}
}

func TestTablestoreSlotBookStaysWithinItsBudget(t *testing.T) {
	var b slotBook
	const perState = maxSlotBytes / 4
	for i := range 10 {
		b.state(string(rune('a'+i)), "k1", perState)
		if b.bytes > maxSlotBytes {
			t.Fatalf("after %d states the book holds %d bytes, more than %d", i+1, b.bytes, maxSlotBytes)
		}
	}
	if n := len(b.states); n != 4 {
		t.Fatalf("book holds %d states, want 4", n)
	}
	st := b.state("a2", "k1", 10)
	if again := b.state("a2", "k1", 10); again != st {
		t.Fatal("state for the same operation and key was made anew")
	}
	if resized := b.state("a2", "k1", 11); resized == st || len(resized.slots) != 11 {
		t.Fatal("state for another maxUses kept the old size")
	}
}
