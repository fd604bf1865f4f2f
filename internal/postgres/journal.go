package postgres

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/userimport/userimport/internal/lifecycle"
)

// pruneBatch is how many imports one PruneJournal call drops the journal of
// (most have little: an import's journal is the users it changed).
const pruneBatch = 500

// PruneJournal drops the change journal of imports created more than
// retention ago, over all tenants, a batch of imports per call (the sweep
// calls it every interval), and marks them: such an import can no longer be
// undone. It returns how many imports it pruned.
func (s *Store) PruneJournal(ctx context.Context, retention time.Duration) (int, error) {
	var n int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `UPDATE imports SET journal_pruned = true
			WHERE id IN (SELECT id FROM imports WHERE NOT journal_pruned
				AND created_at < now() - $1 * interval '1 millisecond' ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)
			RETURNING tenant_id, id`, retention.Milliseconds(), pruneBatch)
		if err != nil {
			return err
		}
		var (
			tenants []string
			ids     []int64
			tenant  string
			id      int64
		)
		if _, err := pgx.ForEachRow(rows, []any{&tenant, &id}, func() error {
			tenants, ids = append(tenants, tenant), append(ids, id)
			return nil
		}); err != nil {
			return err
		}
		n = len(ids)
		if n == 0 {
			return nil
		}
		for _, table := range []string{"journal_users", "journal_objects"} {
			if _, err := tx.Exec(ctx, `DELETE FROM `+table+` j USING unnest($1::text[], $2::bigint[]) AS t(tenant_id, import_id)
				WHERE j.tenant_id = t.tenant_id AND j.import_id = t.import_id`, tenants, ids); err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}

// Change is one column or list an import changed: its value before and after.
type Change struct {
	Column string `json:"column"`
	Old    string `json:"old"`
	New    string `json:"new"`
}

// HistoryEntry is what one import did to a user.
type HistoryEntry struct {
	ImportID int64          `json:"import_id"`
	Kind     lifecycle.Kind `json:"kind"`
	At       time.Time      `json:"at"`
	Created  bool           `json:"created,omitempty"`
	Changes  []Change       `json:"changes,omitempty"`
}

// hiddenColumns are changed but never shown: a history says the password
// changed, not from what to what.
var hiddenColumns = map[string]bool{"password_md5": true}

// History returns every import in the journal that changed the user with the
// Login ID, newest first, with each change's old and new value (the new one
// is the next entry's old one, or the user's current value). ErrNotFound when
// the tenant has no such user.
func (s *Store) History(ctx context.Context, tenant, loginID string) ([]HistoryEntry, error) {
	var (
		userID int64
		cur    map[string]any
	)
	err := s.pool.QueryRow(ctx, `SELECT u.id, to_jsonb(u) || jsonb_build_object(
			'groups', coalesce((SELECT array_agg(group_id ORDER BY group_id) FROM user_groups WHERE tenant_id = $1 AND user_id = u.id), '{}'),
			'roles', coalesce((SELECT array_agg(role_id ORDER BY role_id) FROM user_roles WHERE tenant_id = $1 AND user_id = u.id), '{}'),
			'extensions', coalesce((SELECT array_agg(extension_id ORDER BY extension_id) FROM user_extensions WHERE tenant_id = $1 AND user_id = u.id), '{}'))
		FROM users u WHERE u.tenant_id = $1 AND u.login_key = lower($2)`, tenant, loginID).Scan(&userID, &cur)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("user %q: %w", loginID, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	names, err := s.memberNames(ctx, tenant)
	if err != nil {
		return nil, err
	}
	// A created user is in its row (created_by_import), and in the journal
	// only when that import's feed step or an undo's undo wrote it too.
	rows, err := s.pool.Query(ctx, `WITH u AS (SELECT created_by_import, created_at FROM users WHERE tenant_id = $1 AND id = $2),
		j AS (SELECT import_id, at, created, old, old_groups, old_roles, old_exts, old_active
				FROM journal_users WHERE tenant_id = $1 AND user_id = $2
			UNION ALL
			SELECT created_by_import, created_at, true, NULL, NULL, NULL, NULL, NULL FROM u
			WHERE created_by_import IS NOT NULL AND NOT EXISTS (SELECT 1 FROM journal_users
				WHERE tenant_id = $1 AND user_id = $2 AND import_id = u.created_by_import))
		SELECT j.import_id, coalesce(i.kind, ''), j.at, j.created OR j.import_id = (SELECT created_by_import FROM u), coalesce(j.old, '{}'),
			jsonb_strip_nulls(jsonb_build_object('groups', j.old_groups, 'roles', j.old_roles, 'extensions', j.old_exts, 'active', j.old_active))
		FROM j LEFT JOIN imports i ON i.id = j.import_id AND i.tenant_id = $1
		ORDER BY j.import_id DESC`, tenant, userID)
	if err != nil {
		return nil, err
	}
	var (
		out           []HistoryEntry
		e             HistoryEntry
		old, oldLists map[string]any
	)
	_, err = pgx.ForEachRow(rows, []any{&e.ImportID, &e.Kind, &e.At, &e.Created, &old, &oldLists}, func() error {
		h := HistoryEntry{ImportID: e.ImportID, Kind: e.Kind, At: e.At, Created: e.Created}
		maps.Copy(old, oldLists)
		for _, k := range slices.Sorted(maps.Keys(old)) {
			c := Change{Column: k}
			if hiddenColumns[k] {
				c.Old, c.New = "(hidden)", "(hidden)"
			} else {
				c.Old, c.New = names.show(k, old[k]), names.show(k, cur[k])
			}
			cur[k] = old[k]
			h.Changes = append(h.Changes, c)
		}
		out = append(out, h)
		return nil
	})
	return out, err
}

// memberNames are the names of a tenant's groups, roles and extensions by id,
// to show a list's members.
type memberNames map[string]map[int64]string

func (s *Store) memberNames(ctx context.Context, tenant string) (memberNames, error) {
	n := memberNames{}
	for list, q := range map[string]string{
		"groups":     `SELECT id, name FROM groups WHERE tenant_id = $1`,
		"roles":      `SELECT id, name FROM roles WHERE tenant_id = $1`,
		"extensions": `SELECT id, number FROM extensions WHERE tenant_id = $1`,
	} {
		rows, err := s.pool.Query(ctx, q, tenant)
		if err != nil {
			return nil, err
		}
		n[list] = map[int64]string{}
		var (
			id   int64
			name string
		)
		if _, err := pgx.ForEachRow(rows, []any{&id, &name}, func() error { n[list][id] = name; return nil }); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// show writes a journaled value: a list by its members' names (sorted; a
// member removed since by its id), a scalar as it is, NULL as "".
func (n memberNames) show(column string, v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case []any:
		if byID, ok := n[column]; ok {
			parts := make([]string, 0, len(v))
			for _, x := range v {
				id, _ := x.(float64)
				if name, ok := byID[int64(id)]; ok {
					parts = append(parts, name)
				} else {
					parts = append(parts, fmt.Sprintf("#%d", int64(id)))
				}
			}
			slices.Sort(parts)
			return strings.Join(parts, ";")
		}
	case string:
		return v
	}
	return fmt.Sprint(v)
}
