package userrow

// fpTable is a compact hash table from 64-bit key hashes to small values, for
// the checks that span a whole file: at a million records a Go map of them
// costs over 100 MiB, this a quarter of that.
//
// Each entry is one slot word: (probe distance+1) | remainder | value. The
// table is Robin Hood hashed; an entry's home slot, known from its distance,
// supplies the hash bits that are not stored, so two keys are taken for equal
// only when keyBits bits of their hashes agree (a false match every 2^keyBits
// comparisons). Growing turns one remainder bit into a home bit, which is why
// keyBits is fixed when the table is made.
type fpTable[S ~uint32 | ~uint64] struct {
	slots   []S
	log2    uint // len(slots) == 1<<log2
	valBits uint
	remBits uint // bits of the remainder field
	keyBits uint // hash bits compared: the initial log2 + remBits
	n       int
}

const (
	fpInitialLog2 = 14
	fpDistBits    = 5 // probe distances up to 30; a longer one grows the table
	fpMaxDist     = 1<<fpDistBits - 2
)

func newFPTable[S ~uint32 | ~uint64](valBits uint) *fpTable[S] {
	var zero S
	width := uint(0)
	for x := ^zero; x != 0; x >>= 1 {
		width++
	}
	remBits := width - fpDistBits - valBits
	return &fpTable[S]{
		slots:   make([]S, 1<<fpInitialLog2),
		log2:    fpInitialLog2,
		valBits: valBits,
		remBits: remBits,
		keyBits: fpInitialLog2 + remBits,
	}
}

func (t *fpTable[S]) pack(dist int, rem uint64, val uint64) S {
	return S(uint64(dist+1)<<(t.remBits+t.valBits) | rem<<t.valBits | val)
}

func (t *fpTable[S]) unpack(s S) (dist int, rem, val uint64) {
	x := uint64(s)
	return int(x>>(t.remBits+t.valBits)) - 1, x >> t.valBits & (1<<t.remBits - 1), x & (1<<t.valBits - 1)
}

// getOrPut returns the value stored for hash h, or stores val for it and
// reports that h was new.
func (t *fpTable[S]) getOrPut(h uint64, val uint64) (stored uint64, found bool) {
	key := h & (1<<t.keyBits - 1)
	mask := uint64(len(t.slots) - 1)
	pos, rem, dist := key&mask, key>>t.log2, 0
	for {
		s := t.slots[pos]
		if s == 0 {
			break
		}
		sd, srem, sval := t.unpack(s)
		if sd == dist && srem == rem {
			return sval, true
		}
		if sd < dist {
			break // Robin Hood: the key would have been placed by now
		}
		pos, dist = (pos+1)&mask, dist+1
	}
	t.put(key, val)
	return val, false
}

// put inserts a key known to be absent.
func (t *fpTable[S]) put(key, val uint64) {
	if 5*(t.n+1) > 4*len(t.slots) {
		t.grow()
	}
	t.n++
	for {
		var ok bool
		if key, val, ok = t.place(key, val); ok {
			return
		}
		t.grow()
	}
}

// place puts key in the table, displacing entries closer to their home (Robin
// Hood). When a probe distance would overflow its field it stops and returns
// the entry it was carrying at that moment, to be placed after growing.
func (t *fpTable[S]) place(key, val uint64) (uint64, uint64, bool) {
	mask := uint64(len(t.slots) - 1)
	pos, dist := key&mask, 0
	for dist <= fpMaxDist {
		s := t.slots[pos]
		if s == 0 {
			t.slots[pos] = t.pack(dist, key>>t.log2, val)
			return 0, 0, true
		}
		if sd, srem, sval := t.unpack(s); sd < dist {
			t.slots[pos] = t.pack(dist, key>>t.log2, val)
			key, val, dist = srem<<t.log2|(pos-uint64(sd))&mask, sval, sd
		}
		pos, dist = (pos+1)&mask, dist+1
	}
	return key, val, false
}

// grow doubles the table; each entry's lowest remainder bit becomes a home bit.
func (t *fpTable[S]) grow() {
	if t.log2 >= t.keyBits {
		panic("userrow: fingerprint table full") // 2^keyBits entries: far beyond any file
	}
	old, oldMask, oldLog2 := t.slots, uint64(len(t.slots)-1), t.log2
	t.slots = make([]S, 2*len(old))
	t.log2++
	for pos, s := range old {
		if s == 0 {
			continue
		}
		sd, rem, val := t.unpack(s)
		key := rem<<oldLog2 | (uint64(pos)-uint64(sd))&oldMask
		for {
			var ok bool
			if key, val, ok = t.place(key, val); ok {
				break
			}
			t.grow() // rare: a cluster too long even after doubling
		}
	}
}

// set replaces the value stored for h, which must be present.
func (t *fpTable[S]) set(h uint64, val uint64) {
	key := h & (1<<t.keyBits - 1)
	mask := uint64(len(t.slots) - 1)
	pos, rem := key&mask, key>>t.log2
	for dist := 0; t.slots[pos] != 0; dist++ {
		if sd, srem, _ := t.unpack(t.slots[pos]); sd == dist && srem == rem {
			t.slots[pos] = t.pack(dist, rem, val)
			return
		}
		pos = (pos + 1) & mask
	}
}
