package csvfile

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"unicode/utf8"
)

func TestScanHelpersAgreeWithNaive(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	alphabet := []byte("ab ,;\"\n\r\x00\x7f\x80\xc3\xa9\xe2\x82\xac\xff\x01")
	for range 20000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		if got, want := validUTF8(b), utf8.Valid(b); got != want {
			t.Fatalf("validUTF8(%q) = %v, want %v", b, got, want)
		}
		for _, comma := range []byte{',', ';'} {
			s := newSpecials(comma)
			start := 0
			if len(b) > 0 {
				start = rng.IntN(len(b))
			}
			want := len(b)
			if i := bytes.IndexAny(b[start:], string([]byte{comma, '"', '\n'})); i >= 0 {
				want = start + i
			}
			if got := s.next(b, start); got != want {
				t.Fatalf("next(%q, %d) with %q = %d, want %d", b, start, comma, got, want)
			}
			// Walking a record field by field, as the reader does.
			s.reset()
			for i := 0; i < len(b); {
				j := s.next(b, i)
				k := bytes.IndexAny(b[i:], string([]byte{comma, '"', '\n'}))
				if k < 0 {
					k = len(b) - i
				}
				if j != i+k {
					t.Fatalf("walking %q from %d: next = %d, want %d", b, i, j, i+k)
				}
				i = j + 1
			}
		}
	}
}
