package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// pruneBatch is how many imports one PruneJournal call drops the journal of.
const pruneBatch = 50

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
