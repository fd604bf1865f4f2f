package postgres

import (
	"strings"
	"testing"
)

// prefixEnd bounds the strings that start with a prefix, in code point
// order, and nothing else.
func TestPrefixEnd(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"user9", "user:"},
		{"zoë", "zoì"},
		{"a\uD7FF", "a\uE000"},
		{"a\U0010FFFF", "b"},
		{"\U0010FFFF", ""},
	} {
		got := prefixEnd(tc.in)
		if got != tc.want {
			t.Errorf("prefixEnd(%q) = %q, want %q", tc.in, got, tc.want)
			continue
		}
		if got != "" && (got <= tc.in || strings.HasPrefix(got, tc.in)) {
			t.Errorf("prefixEnd(%q) = %q: not after every string that starts with it", tc.in, got)
		}
	}
}
