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
