package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/userrow"
)

// A tenant's imports take effect in the order they were accepted: for every
// user, what is stored equals applying the imports one after another by ID,
// whatever order the workers apply their chunks in. The engine holds this by
// making a chunk wait while an earlier import of the tenant may still write
// one of its users:
//
//   - an earlier import still planning (its chunks, and so its users, are not
//     all known yet);
//   - a pending chunk of an earlier import whose Login IDs (userrow.LoginSet,
//     recorded with the chunk) meet this chunk's;
//   - an earlier feed import whose feed step (deactivation, reactivation) has
//     not run: it may change any user's activation.
//
// Imports that share no user run side by side. Extensions are shared between
// users, so their settings are ordered by the row itself (set_by_import,
// set_by_line: see setsAfter). Dry runs neither wait nor hold others up.
//
// insertImport gives a tenant's import IDs in commit order, so an import
// that is not visible yet can only get a larger ID than this chunk's.

// ErrWait says a chunk must wait for an earlier import of its tenant; nothing
// was written. Apply it again later.
var ErrWait = errors.New("an import of the tenant accepted earlier still writes some of the same users")

// WaitError is ErrWait with the import waited for.
type WaitError struct{ Earlier int64 }

func (e *WaitError) Error() string {
	return fmt.Sprintf("waiting for import %d: %v", e.Earlier, ErrWait)
}

func (e *WaitError) Unwrap() error { return ErrWait }

// ChunkWaits reports, without applying anything, whether chunk c would wait
// now (a *WaitError) — so that a worker need not read a chunk's file only to
// find it must wait. ApplyChunk checks again in its transaction.
func (s *Store) ChunkWaits(ctx context.Context, c Chunk) error {
	var (
		b      []byte
		dryRun bool
	)
	err := s.pool.QueryRow(ctx, `SELECT c.logins, i.dry_run FROM import_chunks c JOIN imports i ON i.tenant_id = c.tenant_id AND i.id = c.import_id
		WHERE c.tenant_id = $1 AND c.import_id = $2 AND c.seq = $3`, c.Tenant, c.ImportID, c.Seq).Scan(&b, &dryRun)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("chunk %d of import %d: %w", c.Seq, c.ImportID, ErrNotFound)
	}
	if err != nil || dryRun {
		return err
	}
	return waitFor(ctx, s.pool, c, userrow.DecodeLoginSet(b))
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// waitFor returns a *WaitError when an earlier import of the tenant holds
// up chunk c, which writes the users of logins.
func waitFor(ctx context.Context, q querier, c Chunk, logins userrow.LoginSet) error {
	// The common case, nothing earlier under way, is one index probe.
	rows, err := q.Query(ctx, `SELECT i.id, i.plan IS NOT NULL FROM imports i
			WHERE i.tenant_id = $1 AND i.id < $2 AND i.state = ANY($3) AND NOT i.dry_run
		UNION ALL
		SELECT r.import_id, false FROM feed_runs r
			WHERE r.tenant_id = $1 AND r.import_id < $2 AND r.state = $4
		ORDER BY 1`,
		c.Tenant, c.ImportID, lifecycle.Strings(lifecycle.ImportPlanning, lifecycle.ImportRunning), lifecycle.RunImporting)
	if err != nil {
		return err
	}
	var (
		earlier []int64
		id      int64
		planned bool
		blocker int64
	)
	if _, err := pgx.ForEachRow(rows, []any{&id, &planned}, func() error {
		if !planned && blocker == 0 {
			blocker = id
		}
		earlier = append(earlier, id)
		return nil
	}); err != nil {
		return err
	}
	if blocker != 0 {
		return &WaitError{Earlier: blocker}
	}
	if len(earlier) == 0 {
		return nil
	}
	rows, err = q.Query(ctx, `SELECT import_id, records, logins FROM import_chunks
		WHERE tenant_id = $1 AND import_id = ANY($2) AND state = $3 ORDER BY import_id, seq`,
		c.Tenant, earlier, lifecycle.ChunkPending)
	if err != nil {
		return err
	}
	var (
		records int
		b       []byte
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &records, &b}, func() error {
		if blocker != 0 {
			return nil
		}
		// A chunk recorded without fingerprints (before they existed) may
		// hold anyone.
		if (len(b) == 0 && records > 0) || logins.Intersects(userrow.DecodeLoginSet(b)) {
			blocker = id
		}
		return nil
	})
	if err != nil || blocker == 0 {
		return err
	}
	return &WaitError{Earlier: blocker}
}

// recordLogins returns the fingerprints of the Login IDs a chunk's records
// may write.
func recordLogins(recs []Record) userrow.LoginSet {
	fps := make([]uint64, 0, len(recs))
	for i := range recs {
		if l := recs[i].User.LoginID; l != "" {
			fps = append(fps, userrow.LoginFingerprint(l))
		}
	}
	return userrow.NewLoginSet(fps)
}
