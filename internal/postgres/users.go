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
	Query string // Login ID, name or e-mail: a substring from three characters, a prefix below; "": every user
	After string // the Login ID (any case) the previous page ended with; "": the first page
	Limit int    // users a page; 0: 50
}

// minSubstring is the shortest query searched as a substring: a trigram
// index finds nothing shorter.
const minSubstring = 3

// SearchUsers returns a page of the tenant's users whose Login ID, name or
// e-mail contains the query (case-insensitive), in Login ID order, and
// whether more follow.
func (s *Store) SearchUsers(ctx context.Context, tenant string, q UserSearch) ([]UserSummary, bool, error) {
	if q.Limit <= 0 {
		q.Limit = 50
	}
	text := strings.ToLower(strings.TrimSpace(q.Query))
	sql := `SELECT login_id, name, coalesce(email, ''), active FROM users WHERE tenant_id = $1 AND login_key > $2`
	args := []any{tenant, strings.ToLower(q.After)}
	switch {
	case text == "":
	case utf8.RuneCountInString(text) >= minSubstring:
		// The expression of the index users_search_trgm, to the letter.
		sql += ` AND lower(login_id || ' ' || name || ' ' || coalesce(email, '')) LIKE $3`
		args = append(args, "%"+escapeLike(text)+"%")
	default:
		sql += ` AND (login_key LIKE $3 OR lower(name) LIKE $3 OR lower(email) LIKE $3)`
		args = append(args, escapeLike(text)+"%")
	}
	sql += fmt.Sprintf(` ORDER BY login_key LIMIT %d`, q.Limit+1)
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, false, err
	}
	users, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (UserSummary, error) {
		var u UserSummary
		err := r.Scan(&u.LoginID, &u.Name, &u.Email, &u.Active)
		return u, err
	})
	if err != nil {
		return nil, false, err
	}
	more := len(users) > q.Limit
	if more {
		users = users[:q.Limit]
	}
	return users, more, nil
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
	dest := append(sc.dest, &rec.Active, &rec.DeactivatedAt, &rec.CreatedAt, &rec.UpdatedAt, &rec.LastImportID)
	err := s.pool.QueryRow(ctx, userQuery, tenant, loginID).Scan(dest...)
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
