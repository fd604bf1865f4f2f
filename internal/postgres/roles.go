package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Roles returns the tenant's role catalog, sorted.
func (s *Store) Roles(ctx context.Context, tenant string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT name FROM roles WHERE tenant_id = $1 ORDER BY name_key`, tenant)
	if err != nil {
		return nil, err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if names == nil {
		names = []string{} // a tenant with an empty catalog: every role is unknown
	}
	return names, err
}

// SetRoles replaces the tenant's role catalog. Users lose the roles removed.
func (s *Store) SetRoles(ctx context.Context, tenant string, names []string) error {
	return s.changeRoles(ctx, tenant, names, true)
}

// AddRoles adds roles to the tenant's catalog; existing ones stay.
func (s *Store) AddRoles(ctx context.Context, tenant string, names []string) error {
	return s.changeRoles(ctx, tenant, names, false)
}

// RemoveRoles removes roles from the tenant's catalog and from its users.
func (s *Store) RemoveRoles(ctx context.Context, tenant string, names []string) error {
	keys := make([]string, len(names))
	for i, n := range names {
		keys[i] = strings.ToLower(n)
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return deleteRoles(ctx, tx, tenant, `name_key = ANY($2)`, keys)
	})
}

// deleteRoles removes the tenant's roles that match cond (on $2), and takes
// them from the users who have them.
func deleteRoles(ctx context.Context, tx pgx.Tx, tenant, cond string, arg any) error {
	if _, err := tx.Exec(ctx, `DELETE FROM user_roles WHERE tenant_id = $1 AND role_id IN
		(SELECT id FROM roles WHERE tenant_id = $1 AND `+cond+`)`, tenant, arg); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `DELETE FROM roles WHERE tenant_id = $1 AND `+cond, tenant, arg)
	return err
}

func (s *Store) changeRoles(ctx context.Context, tenant string, names []string, replace bool) error {
	for _, n := range names {
		if strings.TrimSpace(n) == "" || len(n) > 64 || strings.ContainsAny(n, "\r\n") {
			return fmt.Errorf("role %q: a role name is 1 to 64 characters on one line", n)
		}
	}
	if err := s.EnsureTenant(ctx, tenant); err != nil {
		return err
	}
	keys := make([]string, len(names))
	for i, n := range names {
		keys[i] = strings.ToLower(n)
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if replace {
			if err := deleteRoles(ctx, tx, tenant, `NOT (name_key = ANY($2))`, keys); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO roles (tenant_id, name) SELECT $1, unnest($2::text[])
			ON CONFLICT (tenant_id, name_key) DO NOTHING`, tenant, names)
		return err
	})
}

// RoleUse is a role of the catalog and how many of the tenant's users hold it.
type RoleUse struct {
	Name  string
	Users int
}

// RoleUses returns the tenant's role catalog, sorted, with the users of each
// role: what removing one would take from them.
func (s *Store) RoleUses(ctx context.Context, tenant string) ([]RoleUse, error) {
	rows, err := s.pool.Query(ctx, `SELECT r.name, count(ur.user_id)::int FROM roles r
		LEFT JOIN user_roles ur ON ur.tenant_id = r.tenant_id AND ur.role_id = r.id
		WHERE r.tenant_id = $1 GROUP BY r.id, r.name, r.name_key ORDER BY r.name_key`, tenant)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[RoleUse])
}
