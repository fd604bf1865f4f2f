package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// NewImport describes an import job to create.
type NewImport struct {
	Tenant      string
	Kind        string // upload, local, retry or feed
	ParentID    int64  // the import a retry re-processes; 0 for none
	Source      string // s3://bucket/key, or a local file's name
	SourceETag  string
	SourceSize  int64
	Options     map[string]any
	DryRun      bool
	RequestedBy string
}

// Import is an import job as stored.
type Import struct {
	ID         int64
	Tenant     string
	Kind       string
	Source     string
	State      string
	Error      string
	DryRun     bool
	Records    int
	Created    int
	Updated    int
	Unchanged  int
	Rejected   int
	Chunks     int
	ChunksDone int
	Report     string // where the error report is; "" when there is none
	CreatedAt  time.Time
	StartedAt  *time.Time
	FinishedAt *time.Time
}

// ChunkSpec is one chunk of an import's source: a byte range and the records
// in it.
type ChunkSpec struct {
	Seq       int
	Offset    int64
	Length    int64
	FirstLine int
	Records   int
}

// CreateImport records a new import job for the tenant (created on first use).
func (s *Store) CreateImport(ctx context.Context, n NewImport) (int64, error) {
	if err := s.EnsureTenant(ctx, n.Tenant); err != nil {
		return 0, err
	}
	if n.Kind == "" {
		n.Kind = "upload"
	}
	opts, err := json.Marshal(n.Options)
	if err != nil {
		return 0, err
	}
	var parent *int64
	if n.ParentID != 0 {
		parent = &n.ParentID
	}
	var id int64
	err = s.pool.QueryRow(ctx, `INSERT INTO imports (tenant_id, kind, parent_id, source, source_etag, source_size,
			options, dry_run, requested_by, state, started_at)
		VALUES ($1, $2, $3, $4, NULLIF($5, ''), NULLIF($6, 0), $7, $8, NULLIF($9, ''), 'planning', now())
		RETURNING id`,
		n.Tenant, n.Kind, parent, n.Source, n.SourceETag, n.SourceSize, opts, n.DryRun, n.RequestedBy).Scan(&id)
	return id, err
}

// CreateEventImport records an import for an object announced by an S3
// event, once per object version: it reports false (and the existing import's
// ID) when the same source and ETag were announced before.
func (s *Store) CreateEventImport(ctx context.Context, n NewImport) (int64, bool, error) {
	if err := s.EnsureTenant(ctx, n.Tenant); err != nil {
		return 0, false, err
	}
	opts, err := json.Marshal(n.Options)
	if err != nil {
		return 0, false, err
	}
	var id int64
	err = s.pool.QueryRow(ctx, `INSERT INTO imports (tenant_id, kind, source, source_etag, source_size, options, requested_by, state, started_at)
		VALUES ($1, 'event', $2, $3, NULLIF($4, 0), $5, 's3 event', 'planning', now())
		ON CONFLICT (tenant_id, source, source_etag) WHERE kind = 'event' DO NOTHING
		RETURNING id`, n.Tenant, n.Source, n.SourceETag, n.SourceSize, opts).Scan(&id)
	if err == nil {
		return id, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return 0, false, err
	}
	err = s.pool.QueryRow(ctx, `SELECT id FROM imports WHERE tenant_id = $1 AND kind = 'event' AND source = $2 AND source_etag = $3`,
		n.Tenant, n.Source, n.SourceETag).Scan(&id)
	return id, false, err
}

// AddChunks records an import's chunks and moves it to running. Adding the
// same chunks again (a redelivered plan) changes nothing.
func (s *Store) AddChunks(ctx context.Context, tenant string, importID int64, chunks []ChunkSpec) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return addChunks(ctx, tx, tenant, importID, chunks) })
}

// addChunks counts only the chunks it inserts, onto the stored count: local
// imports add their chunks from concurrent appliers, and a count(*) subquery
// would miss a chunk another applier committed while this one waited for the
// row lock, leaving chunks_done past chunks and the import never finished.
func addChunks(ctx context.Context, tx pgx.Tx, tenant string, importID int64, chunks []ChunkSpec) error {
	n := len(chunks)
	seq, lines, records := make([]int32, n), make([]int32, n), make([]int32, n)
	offsets, lengths := make([]int64, n), make([]int64, n)
	for i, c := range chunks {
		seq[i], lines[i], records[i] = int32(c.Seq), int32(c.FirstLine), int32(c.Records)
		offsets[i], lengths[i] = c.Offset, c.Length
	}
	_, err := tx.Exec(ctx, `WITH added AS (
			INSERT INTO import_chunks (import_id, seq, tenant_id, byte_offset, byte_length, first_line, records)
			SELECT $2, c.seq, $1, c.byte_offset, c.byte_length, c.first_line, c.records
			FROM unnest($3::integer[], $4::bigint[], $5::bigint[], $6::integer[], $7::integer[])
				AS c(seq, byte_offset, byte_length, first_line, records)
			ON CONFLICT (import_id, seq) DO NOTHING
			RETURNING 1)
		UPDATE imports SET chunks = chunks + (SELECT count(*) FROM added),
			state = CASE WHEN state = 'planning' THEN 'running' ELSE state END
		WHERE tenant_id = $1 AND id = $2`, tenant, importID, seq, offsets, lengths, lines, records)
	return err
}

// RejectImport marks an import rejected as a whole, with the reason.
func (s *Store) RejectImport(ctx context.Context, tenant string, importID int64, reason string) error {
	_, err := s.pool.Exec(ctx, `UPDATE imports SET state = 'rejected', error = $3, finished_at = now()
		WHERE tenant_id = $1 AND id = $2 AND state NOT IN ('finished', 'rejected')`, tenant, importID, reason)
	return err
}

// FailImport marks an import failed for a reason no retry will mend; the
// chunks already applied stay applied.
func (s *Store) FailImport(ctx context.Context, tenant string, importID int64, reason string) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE imports SET state = 'failed', error = $3, finished_at = now()
		WHERE tenant_id = $1 AND id = $2 AND state NOT IN ('finished', 'rejected', 'failed')`, tenant, importID, reason)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// FinishImport marks an import finished once all its chunks are done. It
// reports whether this call finished it (false: already finished, or chunks
// still pending).
func (s *Store) FinishImport(ctx context.Context, tenant string, importID int64, warnings int) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE imports SET state = 'finished', warnings = $3, finished_at = now()
		WHERE tenant_id = $1 AND id = $2 AND state IN ('planning', 'running', 'finalizing') AND chunks_done = chunks`,
		tenant, importID, warnings)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// importColumns are read into an Import by scanImport.
const importColumns = `id, tenant_id, kind, source, state, coalesce(error, ''), dry_run, records,
	created, updated, unchanged, rejected, chunks, chunks_done, coalesce(report, ''), created_at, started_at, finished_at`

func scanImport(row pgx.Row, extra ...any) (Import, error) {
	var im Import
	err := row.Scan(append([]any{&im.ID, &im.Tenant, &im.Kind, &im.Source, &im.State, &im.Error, &im.DryRun, &im.Records,
		&im.Created, &im.Updated, &im.Unchanged, &im.Rejected, &im.Chunks, &im.ChunksDone, &im.Report,
		&im.CreatedAt, &im.StartedAt, &im.FinishedAt}, extra...)...)
	return im, err
}

// Import returns the tenant's import; another tenant's is ErrNotFound.
func (s *Store) Import(ctx context.Context, tenant string, id int64) (Import, error) {
	im, err := scanImport(s.pool.QueryRow(ctx, `SELECT `+importColumns+` FROM imports WHERE tenant_id = $1 AND id = $2`, tenant, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Import{}, fmt.Errorf("import %d: %w", id, ErrNotFound)
	}
	return im, err
}

// Reject is a rejected record of an import.
type Reject struct {
	Line    int
	LoginID string
	Errors  []ProblemJSON
	Raw     []byte
}

// Rejects calls fn with the import's rejected records in line order.
func (s *Store) Rejects(ctx context.Context, tenant string, importID int64, fn func(Reject) error) error {
	rows, err := s.pool.Query(ctx, `SELECT line, coalesce(login_id, ''), errors, raw FROM import_rejects
		WHERE tenant_id = $1 AND import_id = $2 ORDER BY line`, tenant, importID)
	if err != nil {
		return err
	}
	var (
		r    Reject
		errs []byte
	)
	_, err = pgx.ForEachRow(rows, []any{&r.Line, &r.LoginID, &errs, &r.Raw}, func() error {
		r.Errors = nil
		if err := json.Unmarshal(errs, &r.Errors); err != nil {
			return err
		}
		return fn(r)
	})
	return err
}

// Plan is what the planner stores for the chunks: how to read a range of the
// source, and the records the whole-file checks rejected.
type Plan struct {
	Delimiter string              `json:"delimiter"` // "," or ";"
	Columns   []int               `json:"columns"`   // the layout's columns; null for a positional file
	Rejected  map[int]PlanProblem `json:"rejected"`  // by line
	Warnings  int                 `json:"warnings"`
}

// PlanProblem is a whole-file rejection.
type PlanProblem struct {
	Column  int    `json:"column"`
	Message string `json:"message"`
}

// SavePlan stores the plan and the chunks of an import and moves it to
// running. Saving the same plan again (a redelivered plan task) changes
// nothing.
func (s *Store) SavePlan(ctx context.Context, tenant string, importID int64, p Plan, chunks []ChunkSpec) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	// One transaction: a plan without its chunks would look finished.
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE imports SET plan = $3, warnings = $4 WHERE tenant_id = $1 AND id = $2 AND plan IS NULL`,
			tenant, importID, b, p.Warnings); err != nil {
			return err
		}
		return addChunks(ctx, tx, tenant, importID, chunks)
	})
}

// Job is an import as a worker needs it.
type Job struct {
	Import
	Options map[string]any
	Plan    *Plan // nil before planning
}

// Job returns the import with its options and plan.
func (s *Store) Job(ctx context.Context, tenant string, id int64) (Job, error) {
	var opts, plan []byte
	im, err := scanImport(s.pool.QueryRow(ctx, `SELECT `+importColumns+`, options, plan FROM imports WHERE tenant_id = $1 AND id = $2`,
		tenant, id), &opts, &plan)
	if errors.Is(err, pgx.ErrNoRows) {
		return Job{}, fmt.Errorf("import %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return Job{}, err
	}
	j := Job{Import: im}
	if err := json.Unmarshal(opts, &j.Options); err != nil {
		return Job{}, fmt.Errorf("import %d options: %w", id, err)
	}
	if plan != nil {
		j.Plan = &Plan{}
		if err := json.Unmarshal(plan, j.Plan); err != nil {
			return Job{}, fmt.Errorf("import %d plan: %w", id, err)
		}
	}
	return j, nil
}

// MarkNotified records that the result e-mail went out; it reports false when
// it had already (the e-mail must not go out twice).
func (s *Store) MarkNotified(ctx context.Context, tenant string, id int64) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE imports SET notified_at = now() WHERE tenant_id = $1 AND id = $2 AND notified_at IS NULL`, tenant, id)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// Notified reports whether the result e-mail went out.
func (s *Store) Notified(ctx context.Context, tenant string, id int64) (bool, error) {
	var at *time.Time
	err := s.pool.QueryRow(ctx, `SELECT notified_at FROM imports WHERE tenant_id = $1 AND id = $2`, tenant, id).Scan(&at)
	return at != nil, err
}

// SetReport records where an import's error report is.
func (s *Store) SetReport(ctx context.Context, tenant string, id int64, where string) error {
	_, err := s.pool.Exec(ctx, `UPDATE imports SET report = $3 WHERE tenant_id = $1 AND id = $2`, tenant, id, where)
	return err
}

// ChunkState is a chunk of an import and whether it is applied.
type ChunkState struct {
	ChunkSpec
	Done bool
}

// Chunks returns an import's chunks in order.
func (s *Store) Chunks(ctx context.Context, tenant string, importID int64) ([]ChunkState, error) {
	rows, err := s.pool.Query(ctx, `SELECT seq, byte_offset, byte_length, first_line, records, state = 'done'
		FROM import_chunks WHERE tenant_id = $1 AND import_id = $2 ORDER BY seq`, tenant, importID)
	if err != nil {
		return nil, err
	}
	var (
		out []ChunkState
		c   ChunkState
	)
	_, err = pgx.ForEachRow(rows, []any{&c.Seq, &c.Offset, &c.Length, &c.FirstLine, &c.Records, &c.Done}, func() error {
		out = append(out, c)
		return nil
	})
	return out, err
}

// Imports lists the tenant's imports, newest first, optionally in one state.
func (s *Store) Imports(ctx context.Context, tenant, state string, limit int) ([]Import, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+importColumns+` FROM imports WHERE tenant_id = $1 AND ($2 = '' OR state = $2)
		ORDER BY id DESC LIMIT $3`, tenant, state, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Import, error) { return scanImport(r) })
}

// WouldCreate counts, for a dry run, the groups and extensions the import
// would create.
func (s *Store) WouldCreate(ctx context.Context, tenant string, importID int64) (groups, extensions int, err error) {
	err = s.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE kind = 'group'), count(*) FILTER (WHERE kind = 'extension')
		FROM import_would_create WHERE tenant_id = $1 AND import_id = $2`, tenant, importID).Scan(&groups, &extensions)
	return groups, extensions, err
}

// Unfinished returns the imports that are planning or running, of every
// tenant: the sweep checks that each has its tasks on the queue.
func (s *Store) Unfinished(ctx context.Context, olderThan time.Duration) ([]Import, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+importColumns+` FROM imports
		WHERE state IN ('planning', 'running') AND created_at < now() - $1 * interval '1 millisecond' ORDER BY id`, olderThan.Milliseconds())
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Import, error) { return scanImport(r) })
}

// Unnotified lists the imports that ended more than olderThan ago, within the
// last day, whose finalize did not complete: the e-mail (and a feed run's
// step) is still owed. Over all tenants, for the sweep.
func (s *Store) Unnotified(ctx context.Context, olderThan time.Duration) ([]Import, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+importColumns+` FROM imports
		WHERE state IN ('finished', 'rejected', 'failed') AND notified_at IS NULL
		  AND finished_at < now() - $1 * interval '1 millisecond' AND finished_at > now() - interval '1 day'
		ORDER BY id`, olderThan.Milliseconds())
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Import, error) { return scanImport(r) })
}
