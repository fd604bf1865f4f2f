package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/userimport/userimport/internal/userrow"
)

// UserSummary is a user as a search lists them.
type UserSummary struct {
	LoginID, Name, Email string
	Active               bool
	key                  string // login_key: the order of a search's pages
}

// UserSearch is a search of a tenant's users.
type UserSearch struct {
	Query string // the start of the Login ID or, from three characters, a part of the name or e-mail; "": every user
	After string // the Login ID (any case) the previous page ended with; "": the first page
	Limit int    // users a page; 0: 50
}

// minSubstring is the shortest query searched as a substring: a trigram
// index finds nothing shorter.
const minSubstring = 3

// searchWalk is how many users a search of names and e-mails first walks in
// Login ID order (an index scan, some 5 ms on this machine), and
// searchWalkMax how many at most, at the density the first walk found,
// before it asks the trigram index for the rest. The walk costs about 3 µs
// a user, the trigram index about 5 µs a match (sorted): past the budget,
// the query is rare enough for the index (1M users: under 0.3 %, some
// 3,000 matches).
const (
	searchWalk    = 2000
	searchWalkMax = 20000
)

// SearchUsers returns a page of the tenant's users, in Login ID order, and
// whether more follow: those whose Login ID starts with the query (any case)
// and, for a query of three characters or more, those whose name or e-mail
// holds it.
//
// The Login IDs come from a range scan of the (tenant_id, login_key) btree,
// in the page's order: a page costs the same for any query. A Login ID is
// not searched for a part of it: the sequential IDs of an HR system
// (user000001…) make a middle part such as "ser9" match a tenth of a million
// users, all late in the order, and no index finds the first fifty of those
// without reading them all (some 300 ms; see bench/RESULTS.md).
//
// Names and e-mails: left to itself the planner walks the Login ID index for
// a query it believes common and filters: seconds on 1M users for one that
// matches a few thousand late in the order; and it reads every match through
// the trigram index for a query it believes rare: seconds for one that
// matches most users. So a substring search walks the users in order first,
// which finds a page of a common query (searchNames); when that falls short,
// the rest of the page comes from the trigram index alone, past the users
// walked: the query is rare there, and its matches are sorted.
func (s *Store) SearchUsers(ctx context.Context, tenant string, q UserSearch) ([]UserSummary, bool, error) {
	return s.searchUsers(ctx, tenant, q, searchWalk)
}

func (s *Store) searchUsers(ctx context.Context, tenant string, q UserSearch, walk int) ([]UserSummary, bool, error) {
	if q.Limit <= 0 {
		q.Limit = 50
	}
	text := strings.ToLower(strings.TrimSpace(q.Query))
	after := strings.ToLower(q.After)
	// The start of the Login ID as a range of login_key (collation "C":
	// the order of the code points), which the planner always takes for
	// one: a LIKE pattern in a parameter it may not.
	from, to := max(after, text), prefixEnd(text)
	var users []UserSummary
	var err error
	if to == "" { // every Login ID
		users, err = s.userRows(ctx, `SELECT `+summaryCols+` FROM users WHERE tenant_id = $1 AND login_key > $2
			ORDER BY login_key LIMIT $3`, tenant, after, q.Limit+1)
	} else {
		users, err = s.userRows(ctx, `SELECT `+summaryCols+` FROM users WHERE tenant_id = $1 AND login_key > $2
			AND login_key >= $4 AND login_key < $5 ORDER BY login_key LIMIT $3`, tenant, after, q.Limit+1, from, to)
	}
	if err == nil && utf8.RuneCountInString(text) >= minSubstring {
		var named []UserSummary
		named, err = s.searchNames(ctx, tenant, after, "%"+escapeLike(text)+"%", q.Limit+1, walk)
		users = mergeUsers(users, named, q.Limit+1)
	}
	if err != nil {
		return nil, false, err
	}
	more := len(users) > q.Limit
	if more {
		users = users[:q.Limit]
	}
	return users, more, nil
}

// prefixEnd is the first string after every string that starts with p, in
// code point order: p with its last character incremented; "" when there is
// none (p is empty).
func prefixEnd(p string) string {
	rs := []rune(p)
	for len(rs) > 0 {
		last := rs[len(rs)-1] + 1
		if last == 0xD800 { // the surrogates are no characters
			last = 0xE000
		}
		if last <= utf8.MaxRune {
			rs[len(rs)-1] = last
			return string(rs)
		}
		rs = rs[:len(rs)-1]
	}
	return ""
}

// mergeUsers merges two pages in Login ID order, a user in both once, up to
// n users.
func mergeUsers(a, b []UserSummary, n int) []UserSummary {
	out := make([]UserSummary, 0, min(n, len(a)+len(b)))
	for len(out) < n && (len(a) > 0 || len(b) > 0) {
		switch {
		case len(b) == 0 || len(a) > 0 && a[0].key < b[0].key:
			out, a = append(out, a[0]), a[1:]
		case len(a) == 0 || b[0].key < a[0].key:
			out, b = append(out, b[0]), b[1:]
		default: // the same user
			out, a, b = append(out, a[0]), a[1:], b[1:]
		}
	}
	return out
}

const summaryCols = `login_id, name, coalesce(email, ''), active, login_key`

// matchName is the expression of the index users_search_name_trgm, to the letter.
const matchName = `lower(name || ' ' || coalesce(email, '')) LIKE $4`

// searchNames returns the first n users past after whose name or e-mail
// matches the LIKE pattern, in Login ID order: it walks the first walk users
// in order; when that falls short but found some, it walks on as far as
// their density says a page needs, up to searchWalkMax users; then the rest
// comes from the trigram index.
func (s *Store) searchNames(ctx context.Context, tenant, after, pattern string, n, walk int) ([]UserSummary, error) {
	var users []UserSummary
	for walked := 0; walk > 0; {
		found, err := s.userRows(ctx, `SELECT login_id, name, email, active, login_key FROM (
				SELECT login_key, login_id, name, coalesce(email, '') AS email, active, `+matchName+` AS matched
				FROM users WHERE tenant_id = $1 AND login_key > $2 ORDER BY login_key LIMIT $5) w
			WHERE matched ORDER BY login_key LIMIT $3`, tenant, after, n-len(users), pattern, walk)
		if err != nil {
			return nil, err
		}
		users = append(users, found...)
		if len(users) >= n {
			return users, nil // the walk stopped as soon as it had a page
		}
		err = s.pool.QueryRow(ctx, `SELECT login_key FROM users WHERE tenant_id = $1 AND login_key > $2
			ORDER BY login_key OFFSET $3 LIMIT 1`, tenant, after, walk-1).Scan(&after)
		if errors.Is(err, pgx.ErrNoRows) {
			return users, nil // every user walked
		}
		if err != nil {
			return nil, err
		}
		walked += walk
		// At the density found so far, how many more users hold the rest
		// of the page; none found, or more than the walk's budget: the
		// trigram index.
		walk = 0
		if len(users) > 0 {
			if more := (n - len(users)) * walked / len(users) * 3 / 2; walked+more <= searchWalkMax {
				walk = more
			}
		}
	}
	// The rest through the trigram index: the planner is told not to walk
	// the Login ID index again, nor to read the table whole.
	var rest []UserSummary
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL enable_indexscan = off`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+summaryCols+` FROM users
			WHERE tenant_id = $1 AND login_key > $2 AND `+matchName+` ORDER BY login_key LIMIT $3`, tenant, after, n-len(users), pattern)
		if err != nil {
			return err
		}
		rest, err = collectSummaries(rows)
		return err
	})
	return append(users, rest...), err
}

func (s *Store) userRows(ctx context.Context, sql string, args ...any) ([]UserSummary, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return collectSummaries(rows)
}

func collectSummaries(rows pgx.Rows) ([]UserSummary, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (UserSummary, error) {
		var u UserSummary
		err := r.Scan(&u.LoginID, &u.Name, &u.Email, &u.Active, &u.key)
		return u, err
	})
}

// escapeLike makes s match itself in a LIKE pattern (backslash is LIKE's
// default escape).
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// UserRecord is a user's current values, as stored.
type UserRecord struct {
	User          userrow.User // the password hash left empty
	Active        bool
	DeactivatedAt *time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
	LastImportID  *int64
}

var userQuery = userSelect + `, u.active, u.deactivated_at, u.created_at, u.updated_at, u.last_import_id
	FROM users u WHERE u.tenant_id = $1 AND u.login_key = lower($2)`

// User returns the tenant's user with the Login ID (any case); another
// tenant's, or none, is ErrNotFound.
func (s *Store) User(ctx context.Context, tenant, loginID string) (UserRecord, error) {
	var rec UserRecord
	sc := newUserScanner(&rec.User)
	sc.dest = append(sc.dest, &rec.Active, &rec.DeactivatedAt, &rec.CreatedAt, &rec.UpdatedAt, &rec.LastImportID)
	err := s.pool.QueryRow(ctx, userQuery, tenant, loginID).Scan(sc.dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return UserRecord{}, fmt.Errorf("user: %w", ErrNotFound)
	}
	if err != nil {
		return UserRecord{}, err
	}
	sc.finish()
	rec.User.PasswordMD5 = ""
	return rec, nil
}
