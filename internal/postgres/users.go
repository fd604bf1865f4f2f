package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/userimport/userimport/internal/userrow"
)

// UserSummary is a user as a search lists them.
type UserSummary struct {
	LoginID, Name, Email string
	Active               bool
}

// UserSearch is a search of a tenant's users.
type UserSearch struct {
	Query string // the start of the Login ID, or the starts of words of the name or e-mail, any case; "": every user
	After string // the Login ID (any case) the previous page ended with; "": the first page
	Limit int    // users a page; 0: 50
}

// searchWalk is how many users a search first walks in Login ID order (an
// index scan, a heap page and a cheap test each: some 25 ms on this machine)
// before it asks the indexes for the rest.
const searchWalk = 5000

// SearchUsers returns a page of the tenant's users, in Login ID order, and
// whether more follow. A user matches when their Login ID starts with the
// query, or when every word of the query starts a word of their name or
// e-mail (any case): "user9" finds user9, user90…; "lar håk" finds Lars
// Håkansson; "smith" finds j.smith@example.org.
//
// Left to itself the planner walks the Login ID index for a query it
// believes common and filters: seconds on 1M users for one that matches a
// few thousand late in the order; and it reads every match through the
// word index for a query it believes rare: seconds for one that matches
// tens of thousands. So a search walks the next searchWalk users in order
// first, which finds a page of any query that matches one user in 100 or
// more there; when that falls short, the rest of the page comes from the Login ID
// btree (a range in page order) and the word index, past the users walked,
// where the words are rare, so that their matches are few to sort.
func (s *Store) SearchUsers(ctx context.Context, tenant string, q UserSearch) ([]UserSummary, bool, error) {
	return s.searchUsers(ctx, tenant, q, searchWalk)
}

func (s *Store) searchUsers(ctx context.Context, tenant string, q UserSearch, walk int) ([]UserSummary, bool, error) {
	if q.Limit <= 0 {
		q.Limit = 50
	}
	after := strings.ToLower(q.After)
	var users []UserSummary
	var err error
	if m := newUserMatch(q.Query); m.prefix == "" {
		users, err = s.userRows(ctx, `SELECT login_id, name, coalesce(email, '') AS email, active FROM users
			WHERE tenant_id = $1 AND login_key > $2 ORDER BY login_key LIMIT $3`, tenant, after, q.Limit+1)
	} else {
		users, err = s.searchMatch(ctx, tenant, after, m, q.Limit+1, walk)
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

// userMatch is a search as the queries take it.
type userMatch struct {
	prefix, end string   // the Login IDs from prefix up to end (exclusive) start with prefix; end "": no bound
	words       string   // a text search query: every word a prefix; "" when the search has no word
	likes       []string // LIKE patterns each word's match must meet (a cheap test before the text search)
}

// wordText is the expression of the index users_search_words, to the letter.
const wordText = `to_tsvector('simple', translate(name || ' ' || coalesce(email, ''), '.@_-+''', '      '))`

// minPrefix is the shortest word of a search that matches the starts of
// words: a shorter one ("jo", "z") matches whole words only, unless a longer
// word of the search narrows it ("anna b"). One or two letters start the
// words of tens of thousands of users in a million, all of which the word
// index would hand over to be sorted; whole words are few.
const minPrefix = 3

// newUserMatch reads a search: its whole text, lower-cased, is the start of a
// Login ID; its words (letters, digits and marks; anything else separates
// words, as in the index) the starts of words (minPrefix says when). Only
// letters, digits and marks go into the text search query, so nothing can
// break its quoting.
func newUserMatch(search string) userMatch {
	m := userMatch{prefix: strings.ToLower(strings.TrimSpace(search))}
	m.end = prefixEnd(m.prefix)
	words := strings.FieldsFunc(m.prefix, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r)
	})
	starts := slices.ContainsFunc(words, func(w string) bool { return utf8.RuneCountInString(w) >= minPrefix })
	quoted := make([]string, len(words))
	for i, w := range words {
		quoted[i] = "'" + w + "'"
		if starts {
			quoted[i] += ":*"
		}
		m.likes = append(m.likes, "%"+w+"%")
	}
	m.words = strings.Join(quoted, " & ")
	return m
}

// prefixEnd returns the least string after every string that starts with
// prefix, in code point order (the C collation of login_key): its last code
// point incremented; "" when there is none (every code point the highest).
func prefixEnd(prefix string) string {
	r := []rune(prefix)
	for i := len(r) - 1; i >= 0; i-- {
		switch r[i] {
		case utf8.MaxRune:
			continue
		case 0xD7FF: // the surrogates are no code points of UTF-8 text
			r[i] = 0xE000
		default:
			r[i]++
		}
		return string(r[:i+1])
	}
	return ""
}

func (s *Store) searchMatch(ctx context.Context, tenant, after string, m userMatch, n, walk int) ([]UserSummary, error) {
	// The walk stops as soon as it has a page. Each user walked costs a
	// comparison and, unless the search has no word, LIKEs; the text search
	// only for a user that passes them.
	end := m.end
	if end == "" {
		end = string(utf8.MaxRune) + string(utf8.MaxRune)
	}
	wordMatch, args := `false`, []any{tenant, after, n, m.prefix, end, walk}
	if m.words != "" {
		wordMatch = `(lower(name || ' ' || coalesce(email, '')) LIKE ALL($7) AND ` + wordText + ` @@ to_tsquery('simple', $8))`
		args = append(args, m.likes, m.words)
	}
	// The walk's last user comes back too, matched or not (the outer LIMIT
	// can only cut the walk short after n matches): where the indexes go on.
	rows, err := s.pool.Query(ctx, `SELECT login_key, login_id, name, email, active, matched, walked, last FROM (
			SELECT *, row_number() OVER w AS walked, lead(login_key) OVER w IS NULL AS last FROM (
				SELECT login_key, login_id, name, coalesce(email, '') AS email, active,
					(login_key >= $4 AND login_key < $5) OR `+wordMatch+` AS matched
				FROM users WHERE tenant_id = $1 AND login_key > $2 ORDER BY login_key LIMIT $6) u
			WINDOW w AS (ORDER BY login_key)) x
		WHERE matched OR last ORDER BY login_key LIMIT $3`, args...)
	if err != nil {
		return nil, err
	}
	var (
		users         []UserSummary
		u             UserSummary
		key, last     string
		matched, tail bool
		walked        int
	)
	_, err = pgx.ForEachRow(rows, []any{&key, &u.LoginID, &u.Name, &u.Email, &u.Active, &matched, &walked, &tail}, func() error {
		if matched {
			users = append(users, u)
		}
		if tail {
			last = key
		}
		return nil
	})
	if err != nil || len(users) >= n || last == "" || walked < walk {
		return users, err // a page, or every user walked
	}
	// The rest: the Login IDs that start with the query, a range of the
	// btree in page order; and the words' matches through their index (the
	// planner is told not to walk the Login ID index again, nor to read the
	// table whole), rare past the users walked. Merged in Login ID order.
	want := n - len(users)
	byLogin, err := s.userRows(ctx, `SELECT login_id, name, coalesce(email, ''), active FROM users
		WHERE tenant_id = $1 AND login_key > $2 AND login_key >= $4 AND login_key < $5 ORDER BY login_key LIMIT $3`,
		tenant, last, want, m.prefix, end)
	if err != nil || m.words == "" {
		return append(users, byLogin...), err
	}
	var byWords []UserSummary
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL enable_indexscan = off`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT login_id, name, coalesce(email, ''), active FROM users
			WHERE tenant_id = $1 AND login_key > $2 AND `+wordText+` @@ to_tsquery('simple', $4)
			ORDER BY login_key LIMIT $3`, tenant, last, want, m.words)
		if err != nil {
			return err
		}
		byWords, err = pgx.CollectRows(rows, scanUserSummary)
		return err
	})
	if err != nil {
		return nil, err
	}
	return append(users, mergeByLogin(byLogin, byWords, want)...), nil
}

// mergeByLogin merges two lists in Login ID order (each in that order), a
// user in both once, up to n users.
func mergeByLogin(a, b []UserSummary, n int) []UserSummary {
	out := make([]UserSummary, 0, min(n, len(a)+len(b)))
	for len(out) < n && (len(a) > 0 || len(b) > 0) {
		switch {
		case len(b) == 0:
			out, a = append(out, a[0]), a[1:]
		case len(a) == 0:
			out, b = append(out, b[0]), b[1:]
		default:
			ka, kb := strings.ToLower(a[0].LoginID), strings.ToLower(b[0].LoginID)
			switch {
			case ka < kb:
				out, a = append(out, a[0]), a[1:]
			case kb < ka:
				out, b = append(out, b[0]), b[1:]
			default:
				out, a, b = append(out, a[0]), a[1:], b[1:]
			}
		}
	}
	return out
}

func scanUserSummary(r pgx.CollectableRow) (UserSummary, error) {
	var u UserSummary
	err := r.Scan(&u.LoginID, &u.Name, &u.Email, &u.Active)
	return u, err
}

func (s *Store) userRows(ctx context.Context, sql string, args ...any) ([]UserSummary, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanUserSummary)
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
