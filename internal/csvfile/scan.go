package csvfile

import (
	"encoding/binary"
	"math/bits"
	"unicode/utf8"
)

// Word-at-a-time scanning: fields are short (a user record has 27, many
// empty), so a call to bytes.IndexByte per field costs more than it saves,
// and a plain byte loop tests four conditions per byte. Eight bytes at a time
// with the classic zero-byte trick beats both.

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
	lows  = 0x7f7f7f7f7f7f7f7f
)

// zeroBytes has the high bit set exactly in the bytes of x that are zero.
func zeroBytes(x uint64) uint64 {
	return ^((x&lows + lows) | x | lows)
}

// specials finds the delimiter, the quote and line breaks in a record. It
// remembers the last word it looked at, so that finding the fields of a line
// one after another reads each word of it once. Call reset for each record.
type specials struct {
	comma, quote, lf uint64 // each byte repeated in all eight lanes
	c                byte
	base             int    // offset of the remembered word, or -1
	m                uint64 // its specials: the high bit of each matching byte
}

func newSpecials(comma byte) specials {
	return specials{comma: ones * uint64(comma), quote: ones * '"', lf: ones * '\n', c: comma, base: -1}
}

func (s *specials) reset() { s.base = -1 }

// next returns the index of the first delimiter, quote or '\n' in b at or
// after i, or len(b). Words are aligned on the start of b.
func (s *specials) next(b []byte, i int) int {
	w := i &^ 7
	if w == s.base {
		if m := s.m & (^uint64(0) << (uint(i-w) * 8)); m != 0 {
			return w + bits.TrailingZeros64(m)/8
		}
		w += 8
	}
	for ; w+8 <= len(b); w += 8 {
		x := binary.LittleEndian.Uint64(b[w:])
		m := zeroBytes(x^s.comma) | zeroBytes(x^s.quote) | zeroBytes(x^s.lf)
		s.base, s.m = w, m
		if w < i {
			m &= ^uint64(0) << (uint(i-w) * 8)
		}
		if m != 0 {
			return w + bits.TrailingZeros64(m)/8
		}
	}
	for j := max(w, i); j < len(b); j++ {
		if c := b[j]; c == s.c || c == '"' || c == '\n' {
			return j
		}
	}
	return len(b)
}

// validUTF8 is utf8.Valid, but it goes back to skipping ASCII eight bytes at
// a time after each multi-byte character: names with accents are the rule in
// user files, and utf8.Valid checks everything after the first one byte by byte.
func validUTF8(b []byte) bool {
	for i := 0; i < len(b); {
		if i+8 <= len(b) {
			hi := binary.LittleEndian.Uint64(b[i:]) & highs
			if hi == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(hi) / 8 // straight to the first non-ASCII byte
		}
		c := b[i]
		if c < utf8.RuneSelf {
			i++
			continue
		}
		// Two-byte characters (the accented letters of European names) inline.
		if 0xC2 <= c && c < 0xE0 && i+1 < len(b) && b[i+1]&0xC0 == 0x80 {
			i += 2
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return false
		}
		i += size
	}
	return true
}
