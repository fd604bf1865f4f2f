package userrow

import "math/bits"

// fpTable maps 64-bit key hashes to small values, for the checks that span a
// whole file. At a million records a Go map of them costs over 100 MiB; this
// keeps 9 or 12 bytes a slot at a load of 0.6 to 0.9.
//
// Keys are compared as whole 64-bit hashes, so two different keys are taken
// for equal with a chance of about n²/2⁶⁵ per file (3·10⁻⁸ at two million).
// Robin Hood hashing keeps probe sequences short at a high load; the capacity
// need not be a power of two (a key's home slot is its hash scaled to the
// capacity), so a table grows by half, not by doubling. The table is split in
// segments by the hash's low bits, each growing on its own, so that growing
// never holds two copies of the whole table at once.
type fpTable[V uint8 | uint32] struct {
	segs [fpSegments]fpSegment[V]
	n    int
}

const (
	fpSegments     = 256
	fpInitialSlots = 16 // per segment
)

type fpSegment[V uint8 | uint32] struct {
	keys []uint64 // 0: empty slot (a zero hash is stored as 1)
	vals []V
	n    int
}

// newFPTable returns a table sized for about n entries at a load of 0.8: an
// estimate 10 % off either way still fits without growing.
func newFPTable[V uint8 | uint32](n int) *fpTable[V] {
	slots := max(fpInitialSlots, n*5/4/fpSegments)
	t := &fpTable[V]{}
	for i := range t.segs {
		t.segs[i] = fpSegment[V]{keys: make([]uint64, slots), vals: make([]V, slots)}
	}
	return t
}

func (t *fpTable[V]) segment(key uint64) *fpSegment[V] { return &t.segs[key%fpSegments] }

// getOrPut returns the value stored for hash h, or stores val for it and
// reports that h was new.
func (t *fpTable[V]) getOrPut(h uint64, val V) (stored V, found bool) {
	key := nonZero(h)
	stored, found = t.segment(key).getOrPut(key, val)
	if !found {
		t.n++
	}
	return stored, found
}

// set replaces the value stored for hash h, which must be present.
func (t *fpTable[V]) set(h uint64, val V) {
	key := nonZero(h)
	t.segment(key).set(key, val)
}

// home is the slot a key would take in an empty table.
func (t *fpSegment[V]) home(key uint64) int {
	hi, _ := bits.Mul64(key, uint64(len(t.keys)))
	return int(hi)
}

// dist is how far slot pos is from key's home, going forward with wrap-around.
func (t *fpSegment[V]) dist(pos int, key uint64) int {
	d := pos - t.home(key)
	if d < 0 {
		d += len(t.keys)
	}
	return d
}

func nonZero(h uint64) uint64 {
	if h == 0 {
		return 1
	}
	return h
}

// find returns the slot holding key, or -1.
func (t *fpSegment[V]) find(key uint64) int {
	pos := t.home(key)
	for d := 0; ; d++ {
		k := t.keys[pos]
		if k == key {
			return pos
		}
		// Robin Hood: past an empty slot or an entry nearer its home than the
		// key would be here, the key is not in the table.
		if k == 0 || t.dist(pos, k) < d {
			return -1
		}
		if pos++; pos == len(t.keys) {
			pos = 0
		}
	}
}

// getOrPut looks for key and, when it is absent, inserts it from where the
// search stopped: one probe sequence for both.
func (t *fpSegment[V]) getOrPut(key uint64, val V) (stored V, found bool) {
	if 10*(t.n+1) > 9*len(t.keys) {
		t.grow()
	}
	pos := t.home(key)
	for d := 0; ; d++ {
		k := t.keys[pos]
		if k == key {
			return t.vals[pos], true
		}
		if k == 0 || t.dist(pos, k) < d {
			t.placeFrom(pos, d, key, val)
			t.n++
			return val, false
		}
		if pos++; pos == len(t.keys) {
			pos = 0
		}
	}
}

func (t *fpSegment[V]) set(key uint64, val V) {
	if pos := t.find(key); pos >= 0 {
		t.vals[pos] = val
	}
}

// place inserts a key known to be absent, displacing entries that are nearer
// their home than the carried entry is to its own.
func (t *fpSegment[V]) place(key uint64, val V) {
	t.placeFrom(t.home(key), 0, key, val)
}

// placeFrom continues placing key at slot pos, d slots from its home.
func (t *fpSegment[V]) placeFrom(pos, d int, key uint64, val V) {
	for ; ; d++ {
		k := t.keys[pos]
		if k == 0 {
			t.keys[pos], t.vals[pos] = key, val
			return
		}
		if kd := t.dist(pos, k); kd < d {
			t.keys[pos], key = key, k
			t.vals[pos], val = val, t.vals[pos]
			d = kd
		}
		if pos++; pos == len(t.keys) {
			pos = 0
		}
	}
}

// grow enlarges the segment by half and places every entry again: the load
// stays between 0.6 and 0.9, and each entry is placed again twice on average.
func (t *fpSegment[V]) grow() {
	oldKeys, oldVals := t.keys, t.vals
	size := len(oldKeys) + len(oldKeys)/2
	t.keys, t.vals = make([]uint64, size), make([]V, size)
	for i, k := range oldKeys {
		if k != 0 {
			t.place(k, oldVals[i])
		}
	}
}
