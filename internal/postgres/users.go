package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

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
	Query string // the starts of words of the Login ID, name or e-mail, any case; "": every user
	After string // the Login ID (any case) the previous page ended with; "": the first page
	Limit int    // users a page; 0: 50
}

// searchWalk is how many users a search first walks in Login ID order (an
// index scan, some 40 ms on this machine) before it asks the word index for
// the rest.
const searchWalk = 5000

// SearchUsers returns a page of the tenant's users, in Login ID order, and
// whether more follow. Every word of the query must start a word of the
// user's Login ID, name or e-mail (any case): "lar håk" finds Lars
// Håkansson, "smith" finds j.smith@example.org.
//
// Left to itself the planner walks the Login ID index for a query it
// believes common and filters: seconds on 1M users for one that matches a
// few thousand late in the order; and it reads every match through the
// word index for a query it believes rare: seconds for one that matches
// most users. So a search walks the next searchWalk users in order first,
// which finds a page of a common query; when that falls short, the rest of
// the page comes from the word index alone, past the users walked: the query
// is rare there, and its matches are sorted.
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
	if words := wordsQuery(q.Query); words == "" {
		users, err = s.userRows(ctx, `SELECT login_id, name, coalesce(email, '') AS email, active FROM users
			WHERE tenant_id = $1 AND login_key > $2 ORDER BY login_key LIMIT $3`, tenant, after, q.Limit+1)
	} else {
		users, err = s.searchWords(ctx, tenant, after, words, q.Limit+1, walk)
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

// matchUser is the expression of the index users_search_words, to the
// letter, matched against the query $4 (see wordsQuery).
const matchUser = `to_tsvector('simple', translate(login_id || ' ' || name || ' ' || coalesce(email, ''), '.@_-+''', '      '))
	@@ to_tsquery('simple', $4)`

// wordsQuery turns a search into a text search query: each word (letters,
// digits and marks; anything else separates words, as in the index) a
// prefix, all of them required; "" when the search has no word. Only
// letters, digits and marks are left, so nothing can break the quoting.
func wordsQuery(search string) string {
	words := strings.FieldsFunc(strings.ToLower(search), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsMark(r)
	})
	for i, w := range words {
		words[i] = "'" + w + "':*"
	}
	return strings.Join(words, " & ")
}

func (s *Store) searchWords(ctx context.Context, tenant, after, query string, n, walk int) ([]UserSummary, error) {
	// The walk stops as soon as it has a page.
	users, err := s.userRows(ctx, `SELECT login_id, name, email, active FROM (
			SELECT login_key, login_id, name, coalesce(email, '') AS email, active, `+matchUser+` AS matched
			FROM users WHERE tenant_id = $1 AND login_key > $2 ORDER BY login_key LIMIT $5) w
		WHERE matched ORDER BY login_key LIMIT $3`, tenant, after, n, query, walk)
	if err != nil || len(users) >= n {
		return users, err
	}
	var last string
	err = s.pool.QueryRow(ctx, `SELECT login_key FROM users WHERE tenant_id = $1 AND login_key > $2
		ORDER BY login_key OFFSET $3 LIMIT 1`, tenant, after, walk-1).Scan(&last)
	if errors.Is(err, pgx.ErrNoRows) {
		return users, nil // every user walked
	}
	if err != nil {
		return nil, err
	}
	// The rest through the word index: the planner is told not to walk the
	// Login ID index again, nor to read the table whole.
	var rest []UserSummary
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL enable_indexscan = off`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT login_id, name, coalesce(email, ''), active FROM users
			WHERE tenant_id = $1 AND login_key > $2 AND `+matchUser+` ORDER BY login_key LIMIT $3`, tenant, last, n-len(users), query)
		if err != nil {
			return err
		}
		rest, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (UserSummary, error) {
			var u UserSummary
			err := r.Scan(&u.LoginID, &u.Name, &u.Email, &u.Active)
			return u, err
		})
		return err
	})
	return append(users, rest...), err
}

func (s *Store) userRows(ctx context.Context, sql string, args ...any) ([]UserSummary, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (UserSummary, error) {
		var u UserSummary
		err := r.Scan(&u.LoginID, &u.Name, &u.Email, &u.Active)
		return u, err
	})
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
