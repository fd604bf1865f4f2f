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
}

// UserSearch is a search of a tenant's users.
type UserSearch struct {
	Query string // a part of the Login ID, name or e-mail from three characters; the start of the Login ID below; "": every user
	After string // the Login ID (any case) the previous page ended with; "": the first page
	Limit int    // users a page; 0: 50
}

// minSubstring is the shortest query searched as a substring: a trigram
// index finds nothing shorter.
const minSubstring = 3

// searchWalk is how many users a substring search first walks in Login ID
// order (an index scan, some 40 ms on this machine) before it asks the trigram
// index for the rest.
const searchWalk = 5000

// SearchUsers returns a page of the tenant's users, in Login ID order, and
// whether more follow. A query of three characters or more is a part of the
// Login ID, name or e-mail (any case); a shorter one is the start of the
// Login ID.
//
// Left to itself the planner walks the Login ID index for a query it
// believes common and filters: seconds on 1M users for one that matches a
// few thousand late in the order; and it reads every match through the
// trigram index for a query it believes rare: seconds for one that matches
// most users. So a substring search walks the next searchWalk users in
// order first, which finds a page of a common query; when that falls short,
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
	const cols = `login_id, name, coalesce(email, '') AS email, active`
	var users []UserSummary
	var err error
	switch {
	case text == "":
		users, err = s.userRows(ctx, `SELECT `+cols+` FROM users WHERE tenant_id = $1 AND login_key > $2
			ORDER BY login_key LIMIT $3`, tenant, after, q.Limit+1)
	case utf8.RuneCountInString(text) < minSubstring:
		users, err = s.userRows(ctx, `SELECT `+cols+` FROM users WHERE tenant_id = $1 AND login_key > $2 AND login_key LIKE $4
			ORDER BY login_key LIMIT $3`, tenant, after, q.Limit+1, escapeLike(text)+"%")
	default:
		users, err = s.searchSubstring(ctx, tenant, after, "%"+escapeLike(text)+"%", q.Limit+1, walk)
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

// matchUser is the expression of the index users_search_trgm, to the letter.
const matchUser = `lower(login_id || ' ' || name || ' ' || coalesce(email, '')) LIKE $4`

func (s *Store) searchSubstring(ctx context.Context, tenant, after, pattern string, n, walk int) ([]UserSummary, error) {
	// The walk stops as soon as it has a page.
	users, err := s.userRows(ctx, `SELECT login_id, name, email, active FROM (
			SELECT login_key, login_id, name, coalesce(email, '') AS email, active, `+matchUser+` AS matched
			FROM users WHERE tenant_id = $1 AND login_key > $2 ORDER BY login_key LIMIT $5) w
		WHERE matched ORDER BY login_key LIMIT $3`, tenant, after, n, pattern, walk)
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
	// The rest through the trigram index: the planner is told not to walk
	// the Login ID index again, nor to read the table whole.
	var rest []UserSummary
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL enable_indexscan = off`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT login_id, name, coalesce(email, ''), active FROM users
			WHERE tenant_id = $1 AND login_key > $2 AND `+matchUser+` ORDER BY login_key LIMIT $3`, tenant, last, n-len(users), pattern)
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
