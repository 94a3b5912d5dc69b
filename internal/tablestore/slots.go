package tablestore

import (
	"math/rand/v2"
	"sync"
)

// Slot states in a slotBook.
const (
	slotFree    byte = iota
	slotTaken        // a use row exists, as far as this process knows
	slotClaimed      // this process is inserting the use row now
)

// slotSpread is how many free slots a reservation picks from at random, so
// that reservations from other instances rarely collide on the same slot.
const slotSpread = 16

// maxSlotBytes bounds the memory of a slotBook: one byte per slot.
const maxSlotBytes = 4 << 20

// slotBook remembers, per operation and key, which use slots this process
// knows to be taken and which it is reserving now, so that a reservation goes
// straight to a free slot instead of probing taken ones. It is only a hint:
// the insert of the use row alone decides whether a slot is had.
type slotBook struct {
	mu     sync.Mutex
	states map[slotKey]*slotState
	bytes  int
}

type slotKey struct{ opID, keyID string }

// slotState is guarded by the book's mutex, except loadMu, which serialises
// reading the use rows from the table.
type slotState struct {
	loadMu sync.Mutex
	gen    int    // how often the use rows were read; 0 means never
	slots  []byte // slot n is slots[n-1]
	low    int    // no slot below low+1 is free
}

// state returns the state of opID and keyID for maxUses slots, making an
// empty one when there is none or its size differs. Room is made by
// forgetting other states, which are read again when needed.
func (b *slotBook) state(opID, keyID string, maxUses int) *slotState {
	k := slotKey{opID, keyID}
	b.mu.Lock()
	defer b.mu.Unlock()
	if st := b.states[k]; st != nil && len(st.slots) == maxUses {
		return st
	}
	if b.states == nil {
		b.states = map[slotKey]*slotState{}
	}
	b.forget(k)
	for old := range b.states {
		if b.bytes+maxUses <= maxSlotBytes {
			break
		}
		b.forget(old)
	}
	st := &slotState{slots: make([]byte, maxUses)}
	b.states[k] = st
	b.bytes += maxUses
	return st
}

func (b *slotBook) forget(k slotKey) {
	if st := b.states[k]; st != nil {
		b.bytes -= len(st.slots)
		delete(b.states, k)
	}
}

// lookup returns the state of opID and keyID, or nil.
func (b *slotBook) lookup(opID, keyID string) *slotState {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.states[slotKey{opID, keyID}]
}

// load replaces what st knows with the slots taken in the table, keeping
// this process's claims.
func (b *slotBook) load(st *slotState, taken []int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, s := range st.slots {
		if s != slotClaimed {
			st.slots[i] = slotFree
		}
	}
	for _, n := range taken {
		if n >= 1 && n <= len(st.slots) && st.slots[n-1] != slotClaimed {
			st.slots[n-1] = slotTaken
		}
	}
	st.low = 0
	st.gen++
}

// claim picks one of the first slotSpread free slots at random and marks it
// claimed; 0 means none is free as far as st knows.
func (b *slotBook) claim(st *slotState) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	var free [slotSpread]int
	n := 0
	for i := st.low; i < len(st.slots) && n < slotSpread; i++ {
		if st.slots[i] == slotFree {
			if n == 0 {
				st.low = i
			}
			free[n] = i + 1
			n++
		}
	}
	if n == 0 {
		st.low = len(st.slots)
		return 0
	}
	slot := free[rand.IntN(n)]
	st.slots[slot-1] = slotClaimed
	return slot
}

// set records what became of a slot of st, which may be nil.
func (b *slotBook) set(st *slotState, slot int, state byte) {
	if st == nil || slot < 1 || slot > len(st.slots) {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	st.slots[slot-1] = state
	if state == slotFree {
		st.low = min(st.low, slot-1)
	}
}

// free returns how many slots of st are free as far as this process knows.
func (b *slotBook) free(st *slotState) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, s := range st.slots[st.low:] {
		if s == slotFree {
			n++
		}
	}
	return n
}

// generation returns how often st was loaded.
func (b *slotBook) generation(st *slotState) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return st.gen
}
