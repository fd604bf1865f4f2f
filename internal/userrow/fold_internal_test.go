package userrow

import (
	"math/rand/v2"
	"testing"
)

// compareFold, comparing ASCII in place, orders every pair of strings as
// comparing their strings.ToLower forms (then the strings) does: ASCII,
// non-ASCII letters whose lower case is longer or shorter, invalid UTF-8,
// and strings that are starts of each other.
func TestCompareFoldIsTheLowerCaseOrder(t *testing.T) {
	t.Parallel()
	pieces := []string{"", "a", "A", "b", "Z", "z", "_", "0", " ", "é", "É", "ß", "ẞ", "İ", "K", "Ω", "\xff", "sales", "Sales", "SALES-2"}
	rng := rand.New(rand.NewPCG(1, 2))
	word := func() string {
		var s string
		for range rng.IntN(4) {
			s += pieces[rng.IntN(len(pieces))]
		}
		return s
	}
	sign := func(n int) int { return min(max(n, -1), 1) }
	for range 200000 {
		a, b := word(), word()
		if got, want := sign(compareFold(a, b)), sign(compareFoldUnicode(a, b)); got != want {
			t.Fatalf("compareFold(%q, %q) = %d, want %d", a, b, got, want)
		}
	}
}
