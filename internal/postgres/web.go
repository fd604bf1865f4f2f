package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/userrow"
)

// What the tenant admins' web page (producer/web) keeps: sessions rest on API
// tokens, previews of dry runs and the records corrected in them.

// TokenLogin returns the tenant and the ID of a valid (not revoked) token, and
// notes its use. An unknown or revoked token is ErrNotFound.
func (s *Store) TokenLogin(ctx context.Context, secret string) (tenant string, id int64, err error) {
	if !strings.HasPrefix(secret, tokenPrefix) {
		return "", 0, ErrNotFound
	}
	// Two statements: the global lookup by hash, then the token under its
	// tenant, so that the second one reaches a single shard on Citus.
	err = s.pool.QueryRow(ctx, `SELECT tenant_id, token_id FROM api_token_hashes WHERE hash = $1`,
		tokenHash(secret)).Scan(&tenant, &id)
	if err == nil {
		err = s.pool.QueryRow(ctx, `UPDATE api_tokens SET last_used_at = now() WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL
			RETURNING id`, tenant, id).Scan(&id)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return "", 0, ErrNotFound
	}
	return tenant, id, err
}

// Preview is a dry run started from the web page, to be corrected and
// executed.
type Preview struct {
	ImportID   int64
	Notify     []string
	ExecutedID int64  // the real import; 0 before
	Corrected  string // s3://… of the corrected file; "" without edits
}

// CreatePreview records a dry run as previewable; doing it again changes
// nothing.
func (s *Store) CreatePreview(ctx context.Context, tenant string, importID int64, notify []string) error {
	if notify == nil {
		notify = []string{}
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO web_previews (import_id, tenant_id, notify)
		SELECT id, tenant_id, $3 FROM imports WHERE tenant_id = $1 AND id = $2 AND dry_run
		ON CONFLICT (tenant_id, import_id) DO NOTHING`, tenant, importID, notify)
	return err
}

// Preview returns the tenant's preview of dry run importID; ErrNotFound when
// there is none.
func (s *Store) Preview(ctx context.Context, tenant string, importID int64) (Preview, error) {
	p := Preview{ImportID: importID}
	err := s.pool.QueryRow(ctx, `SELECT notify, coalesce(executed_id, 0), coalesce(corrected, '') FROM web_previews
		WHERE tenant_id = $1 AND import_id = $2`, tenant, importID).Scan(&p.Notify, &p.ExecutedID, &p.Corrected)
	if errors.Is(err, pgx.ErrNoRows) {
		return Preview{}, fmt.Errorf("preview of import %d: %w", importID, ErrNotFound)
	}
	return p, err
}

// ClaimExecution reserves the preview's execution for the caller: false when
// it was executed, or another request is executing it (a claim older than
// five minutes is taken to have failed).
func (s *Store) ClaimExecution(ctx context.Context, tenant string, importID int64) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE web_previews SET executing_at = now()
		WHERE tenant_id = $1 AND import_id = $2 AND executed_id IS NULL
		AND (executing_at IS NULL OR executing_at < now() - interval '5 minutes')`, tenant, importID)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// ReleaseExecution gives a claim back after a failed execution.
func (s *Store) ReleaseExecution(ctx context.Context, tenant string, importID int64) error {
	_, err := s.pool.Exec(ctx, `UPDATE web_previews SET executing_at = NULL WHERE tenant_id = $1 AND import_id = $2 AND executed_id IS NULL`,
		tenant, importID)
	return err
}

// SetExecuted records the real import started from the preview.
func (s *Store) SetExecuted(ctx context.Context, tenant string, importID, executedID int64, corrected string) error {
	_, err := s.pool.Exec(ctx, `UPDATE web_previews SET executed_id = $3, corrected = NULLIF($4, '')
		WHERE tenant_id = $1 AND import_id = $2`, tenant, importID, executedID, corrected)
	return err
}

// Edit is a record corrected on the web page.
type Edit struct {
	Line        int
	Offset, End int64    // the record's bytes in the original file
	Fields      []string // all its fields after the edits, in the file's layout
	Errors      []ProblemJSON
}

// SaveEdit stores a corrected record of a preview, replacing an earlier
// correction of it.
func (s *Store) SaveEdit(ctx context.Context, tenant string, importID int64, e Edit) error {
	fields, err := json.Marshal(e.Fields)
	if err != nil {
		return err
	}
	if e.Errors == nil {
		e.Errors = []ProblemJSON{}
	}
	errs, err := json.Marshal(e.Errors)
	if err != nil {
		return err
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO web_edits (import_id, line, tenant_id, byte_offset, byte_end, fields, errors)
		SELECT import_id, $3, tenant_id, $4, $5, $6, $7 FROM web_previews WHERE tenant_id = $1 AND import_id = $2
		ON CONFLICT (tenant_id, import_id, line) DO UPDATE SET fields = excluded.fields, errors = excluded.errors, edited_at = now()`,
		tenant, importID, e.Line, e.Offset, e.End, fields, errs)
	return err
}

// Edits returns the corrected records of a preview, by line.
func (s *Store) Edits(ctx context.Context, tenant string, importID int64) (map[int]Edit, error) {
	rows, err := s.pool.Query(ctx, `SELECT line, byte_offset, byte_end, fields, errors FROM web_edits
		WHERE tenant_id = $1 AND import_id = $2`, tenant, importID)
	if err != nil {
		return nil, err
	}
	out := map[int]Edit{}
	var (
		e            Edit
		fields, errs []byte
	)
	_, err = pgx.ForEachRow(rows, []any{&e.Line, &e.Offset, &e.End, &fields, &errs}, func() error {
		e.Fields, e.Errors = nil, nil
		if err := json.Unmarshal(fields, &e.Fields); err != nil {
			return err
		}
		if err := json.Unmarshal(errs, &e.Errors); err != nil {
			return err
		}
		out[e.Line] = e
		return nil
	})
	return out, err
}

// RejectLines returns a page of the lines an import rejected, in order, and
// how many it rejected in all.
func (s *Store) RejectLines(ctx context.Context, tenant string, importID int64, offset, limit int) (lines []int, total int, err error) {
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM import_rejects WHERE tenant_id = $1 AND import_id = $2`,
		tenant, importID).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := s.pool.Query(ctx, `SELECT line FROM import_rejects WHERE tenant_id = $1 AND import_id = $2
		ORDER BY line OFFSET $3 LIMIT $4`, tenant, importID, offset, limit)
	if err != nil {
		return nil, 0, err
	}
	lines, err = pgx.CollectRows(rows, pgx.RowTo[int])
	return lines, total, err
}

// RejectsAt returns the problems of the import's rejected records at lines.
func (s *Store) RejectsAt(ctx context.Context, tenant string, importID int64, lines []int) (map[int][]ProblemJSON, error) {
	rows, err := s.pool.Query(ctx, `SELECT line, errors FROM import_rejects WHERE tenant_id = $1 AND import_id = $2 AND line = ANY($3)`,
		tenant, importID, lines)
	if err != nil {
		return nil, err
	}
	out := map[int][]ProblemJSON{}
	var (
		line int
		errs []byte
	)
	_, err = pgx.ForEachRow(rows, []any{&line, &errs}, func() error {
		var p []ProblemJSON
		if err := json.Unmarshal(errs, &p); err != nil {
			return err
		}
		out[line] = p
		return nil
	})
	return out, err
}

// WouldChange says, without writing anything, what importing each of the
// tenant's valid users now would do: create, update or unchanged, by the same
// comparison of column hashes as the engine's.
func (s *Store) WouldChange(ctx context.Context, tenant string, users []*userrow.User) ([]lifecycle.RecordOutcome, error) {
	keys := make([]string, len(users))
	for i, u := range users {
		keys[i] = strings.ToLower(u.LoginID)
	}
	rows, err := s.pool.Query(ctx, `SELECT login_key, column_hashes FROM users WHERE tenant_id = $1 AND login_key = ANY($2)`, tenant, keys)
	if err != nil {
		return nil, err
	}
	existing := make(map[string][userrow.NumColumns]uint64, len(users))
	var (
		key string
		b   []byte
	)
	if _, err := pgx.ForEachRow(rows, []any{&key, &b}, func() error {
		existing[key] = decodeHashes(b)
		return nil
	}); err != nil {
		return nil, err
	}
	out := make([]lifecycle.RecordOutcome, len(users))
	for i, u := range users {
		old, ok := existing[keys[i]]
		switch {
		case !ok:
			out[i] = lifecycle.OutcomeCreate
		case func() bool { _, changed := compare(u, &old); return changed != 0 }():
			out[i] = lifecycle.OutcomeUpdate
		default:
			out[i] = lifecycle.OutcomeUnchanged
		}
	}
	return out, nil
}

// ChangedLines returns a page (offset, limit) of the lines of a dry run's
// records that would create or update a user, and how many there are in
// all. The lines in edited are left out of the stored outcomes (corrected
// since, their outcome is another); extra, the edited ones that change
// something now, are counted and paged in with them.
func (s *Store) ChangedLines(ctx context.Context, tenant string, importID int64, edited, extra []int, offset, limit int) (lines []int, total int, err error) {
	const changed = `SELECT line FROM import_records WHERE tenant_id = $1 AND import_id = $2 AND outcome = ANY($3)
			AND NOT line = ANY(coalesce($4::integer[], '{}'))
		UNION ALL SELECT unnest($5::integer[])`
	outcomes := lifecycle.Strings(lifecycle.OutcomeCreate, lifecycle.OutcomeUpdate)
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM (`+changed+`) c`, tenant, importID, outcomes, edited, extra).Scan(&total); err != nil {
		return nil, 0, err
	}
	rows, err := s.pool.Query(ctx, `SELECT line FROM (`+changed+`) c ORDER BY line OFFSET $6 LIMIT $7`,
		tenant, importID, outcomes, edited, extra, offset, limit)
	if err != nil {
		return nil, 0, err
	}
	lines, err = pgx.CollectRows(rows, pgx.RowTo[int])
	return lines, total, err
}
