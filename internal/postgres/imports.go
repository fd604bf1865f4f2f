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

// AddChunks records an import's chunks and moves it to running. Adding the
// same chunks again (a redelivered plan) changes nothing.
func (s *Store) AddChunks(ctx context.Context, tenant string, importID int64, chunks []ChunkSpec) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, c := range chunks {
			if _, err := tx.Exec(ctx, `INSERT INTO import_chunks (import_id, seq, tenant_id, byte_offset, byte_length, first_line, records)
				VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (import_id, seq) DO NOTHING`,
				importID, c.Seq, tenant, c.Offset, c.Length, c.FirstLine, c.Records); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, `UPDATE imports SET chunks = (SELECT count(*) FROM import_chunks WHERE tenant_id = $1 AND import_id = $2),
			state = CASE WHEN state = 'planning' THEN 'running' ELSE state END
			WHERE tenant_id = $1 AND id = $2`, tenant, importID)
		return err
	})
}

// RejectImport marks an import rejected as a whole, with the reason.
func (s *Store) RejectImport(ctx context.Context, tenant string, importID int64, reason string) error {
	_, err := s.pool.Exec(ctx, `UPDATE imports SET state = 'rejected', error = $3, finished_at = now()
		WHERE tenant_id = $1 AND id = $2 AND state NOT IN ('finished', 'rejected')`, tenant, importID, reason)
	return err
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

// Import returns the tenant's import; another tenant's is ErrNotFound.
func (s *Store) Import(ctx context.Context, tenant string, id int64) (Import, error) {
	var im Import
	err := s.pool.QueryRow(ctx, `SELECT id, tenant_id, kind, source, state, coalesce(error, ''), dry_run, records,
			created, updated, unchanged, rejected, chunks, chunks_done, created_at, started_at, finished_at
		FROM imports WHERE tenant_id = $1 AND id = $2`, tenant, id).Scan(
		&im.ID, &im.Tenant, &im.Kind, &im.Source, &im.State, &im.Error, &im.DryRun, &im.Records,
		&im.Created, &im.Updated, &im.Unchanged, &im.Rejected, &im.Chunks, &im.ChunksDone,
		&im.CreatedAt, &im.StartedAt, &im.FinishedAt)
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
