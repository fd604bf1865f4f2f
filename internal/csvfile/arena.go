package csvfile

import "unsafe"

// stringArena makes strings out of byte slices by copying them into large
// shared blocks: one allocation per block instead of one per record. A block
// stays alive while any string in it does; its bytes never change once a
// string refers to them, which is what makes unsafe.String safe here.
type stringArena struct {
	block []byte // len: bytes handed out; the rest is free
}

// arenaBlock is large against a record (a few hundred bytes) and small against
// memory: a string kept alive pins at most one block.
const arenaBlock = 32 << 10

// of returns a string with the contents of b.
func (a *stringArena) of(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > arenaBlock/4 {
		return string(b) // large: its own allocation, not a block's worth of waste
	}
	if cap(a.block)-len(a.block) < len(b) {
		// Blocks grow to full size: a reader used for one short record (as
		// reports re-read rejected records) does not pay for 32 KiB.
		size := min(arenaBlock, max(2*cap(a.block), 8*len(b)))
		a.block = make([]byte, 0, size)
	}
	start := len(a.block)
	a.block = append(a.block, b...)
	return unsafe.String(&a.block[start], len(b)) //nolint:gosec // G103: the block's bytes never change once handed out (see stringArena)
}
