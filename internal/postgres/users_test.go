package postgres_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/userrow"
)

// A substring search finds the same users, in the same pages, whether the
// page comes from the walk in Login ID order or from the trigram index past
// it, and never another tenant's.
func TestSearchUsersWalkOrIndex(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	tenant, other := pgtest.Tenant(t), pgtest.Tenant(t)
	var want []string
	for _, tn := range []string{tenant, other} {
		var rows []map[userrow.Column]string
		for i := range 300 {
			login := "u" + strconv.Itoa(1000+i)
			name := "Plain Person"
			if i%7 == 3 || i > 280 {
				name = "Rare Zoë Name"
				if tn == tenant {
					want = append(want, login)
				}
			}
			rows = append(rows, map[userrow.Column]string{userrow.LoginID: login, userrow.UserName: name, userrow.Language: "en"})
		}
		apply(t, s, tn, parse(t, nil, rows...))
	}
	for _, walk := range []int{1, 10, 100, 10000} {
		var got []string
		after := ""
		for page := 0; ; page++ {
			users, more, err := s.SearchUsersWalking(t.Context(), tenant, postgres.UserSearch{Query: "zoË", After: after, Limit: 7}, walk)
			if err != nil || page > 20 {
				t.Fatalf("walk %d, page %d: %v", walk, page, err)
			}
			for _, u := range users {
				got = append(got, u.LoginID)
			}
			if !more {
				break
			}
			after = users[len(users)-1].LoginID
		}
		if !slices.Equal(got, want) {
			t.Errorf("walk %d: %s\nwant %s", walk, strings.Join(got, ","), strings.Join(want, ","))
		}
	}
}

// A search finds users by the starts of the words of their name and
// e-mail, every word of the query required, any case, or by the start of
// their Login ID; punctuation separates words in both; a word of one or two
// characters matches whole words only, unless a longer word comes with it;
// an empty query lists every user; and quoting in the query is only text.
func TestSearchUsersByWordStarts(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	tenant, other := pgtest.Tenant(t), pgtest.Tenant(t)
	people := []map[userrow.Column]string{
		{userrow.LoginID: "lars.h", userrow.UserName: "Lars Håkansson", userrow.Email: "lars.haakansson@example.org"},
		{userrow.LoginID: "jsmith", userrow.UserName: "John Smith", userrow.Email: "j.smith@example.com"},
		{userrow.LoginID: "obrien", userrow.UserName: "Siobhán O'Brien", userrow.Email: "sob@example.net"},
		{userrow.LoginID: "u42", userrow.UserName: "Zoë Quote", userrow.Email: ""},
		{userrow.LoginID: "w.ng", userrow.UserName: "Jo Ng", userrow.Email: "jo@ng.example"},
	}
	for i := range people {
		people[i][userrow.Language] = "en"
	}
	apply(t, s, tenant, parse(t, nil, people...))
	apply(t, s, other, parse(t, nil, map[userrow.Column]string{userrow.LoginID: "lars.other", userrow.UserName: "Lars Other", userrow.Language: "en"}))
	for _, c := range []struct {
		query string
		want  []string
	}{
		{"lar", []string{"lars.h"}},
		{"LAR HÅK", []string{"lars.h"}},
		{"håkansson lars", []string{"lars.h"}},
		{"haak", []string{"lars.h"}}, // the e-mail's word
		{"smith", []string{"jsmith"}},
		{"j.smith", []string{"jsmith"}},
		{"lars.", []string{"lars.h"}}, // the start of the Login ID, punctuation and all
		{"js", []string{"jsmith"}},
		{"sm", nil}, // too short to start a word
		{"smi", []string{"jsmith"}},
		{"jo", []string{"w.ng"}}, // a whole word: not John
		{"JO NG", []string{"w.ng"}},
		{"joh", []string{"jsmith"}},
		{"john s", []string{"jsmith"}}, // the longer word lets the short one start words
		{"jo s", nil},
		{"w.", []string{"w.ng"}}, // any Login ID's start, however short
		{"example", []string{"jsmith", "lars.h", "obrien", "w.ng"}},
		{"o'brien", []string{"obrien"}},
		{"brien", []string{"obrien"}},
		{"zoë", []string{"u42"}},
		{"u4", []string{"u42"}}, // the Login ID's start
		{"42", nil},             // not a Login ID's word: a Login ID matches by its start
		{"akan", nil},           // inside a word: not a start
		{"lars smith", nil},     // every word must match
		{"'; DROP TABLE users; --", nil},
		{"...", nil}, // no Login ID starts so, and no word
		{"  ", []string{"jsmith", "lars.h", "obrien", "u42", "w.ng"}}, // nothing: everyone
	} {
		users, more, err := s.SearchUsers(t.Context(), tenant, postgres.UserSearch{Query: c.query})
		if err != nil {
			t.Fatalf("%q: %v", c.query, err)
		}
		var got []string
		for _, u := range users {
			got = append(got, u.LoginID)
		}
		if !slices.Equal(got, c.want) || more {
			t.Errorf("%q: %v (more %v), want %v", c.query, got, more, c.want)
		}
	}
}

// prefixEnd bounds exactly the strings that start with a prefix, in code
// point order.
func TestPrefixEnd(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"user9", "user:"},
		{"zoë", "zoì"},
		{"a\uD7FF", "a\uE000"},
		{"a\U0010FFFF", "b"},
		{"\U0010FFFF", ""},
	} {
		got := postgres.PrefixEnd(c.in)
		if got != c.want {
			t.Errorf("prefixEnd(%q) = %q, want %q", c.in, got, c.want)
			continue
		}
		if got != "" && (got <= c.in || strings.HasPrefix(got, c.in)) {
			t.Errorf("prefixEnd(%q) = %q: not after every string that starts with it", c.in, got)
		}
	}
}
