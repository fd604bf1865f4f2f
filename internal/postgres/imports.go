package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/userfile"
	"github.com/userimport/userimport/internal/userrow"
)

// NewImport describes an import job to create.
type NewImport struct {
	Tenant      string
	Kind        lifecycle.Kind
	ParentID    int64  // the import a retry re-processes; 0 for none
	Source      string // s3://bucket/key, or a local file's name
	SourceETag  string
	SourceSize  int64
	Options     lifecycle.Options
	RequestedBy string
}

// Import is an import job as stored.
type Import struct {
	ID         int64
	Tenant     string
	Kind       lifecycle.Kind
	Source     string
	State      lifecycle.ImportState
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
	// Reasons groups the rejected records by what is wrong with them, the
	// largest group first; written with the report (nil before).
	Reasons []userrow.Reason
	// OtherReasons counts the records whose reasons were past the bound of
	// userrow.MaxReasons.
	OtherReasons int
	CreatedAt    time.Time
	StartedAt    *time.Time
	FinishedAt   *time.Time
	// ParentID is the import a retry re-processes or an undo undoes; 0 for
	// none.
	ParentID int64
	// UndoneBy is the latest undo of the import; 0 for none. Only Import
	// reads it, not the lists.
	UndoneBy int64
}

// CreateImport records a new import in state planning, its tenant created on
// first use. It reports false, with the existing import's ID, when an S3
// event announces an object version (source and ETag) announced before.
// Only intake calls it: recording an import goes with enqueueing its plan.
func (s *Store) CreateImport(ctx context.Context, n NewImport) (int64, bool, error) {
	var (
		id      int64
		created bool
	)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		id, created, err = insertImport(ctx, tx, n)
		return err
	})
	return id, created, err
}

// insertImport is the one INSERT INTO imports. It holds the tenant's row lock
// until the transaction ends, so that a tenant's import IDs are given in the
// order the imports commit: "accepted earlier" is "smaller ID", which the
// engine's apply order relies on (see waitFor).
func insertImport(ctx context.Context, tx pgx.Tx, n NewImport) (int64, bool, error) {
	if err := ValidTenant(n.Tenant); err != nil {
		return 0, false, err
	}
	if n.Kind == "" {
		n.Kind = lifecycle.KindUpload
	}
	if !n.Kind.Valid() {
		return 0, false, fmt.Errorf("import kind %q: use one of %v", n.Kind, lifecycle.Kinds())
	}
	opts, err := n.Options.Marshal()
	if err != nil {
		return 0, false, err
	}
	if _, err := tx.Exec(ctx, `INSERT INTO tenants (id) VALUES ($1) ON CONFLICT (id) DO NOTHING`, n.Tenant); err != nil {
		return 0, false, err
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM tenants WHERE id = $1 FOR NO KEY UPDATE`, n.Tenant); err != nil {
		return 0, false, err
	}
	var parent *int64
	if n.ParentID != 0 {
		parent = &n.ParentID
	}
	var id int64
	err = tx.QueryRow(ctx, `INSERT INTO imports (tenant_id, kind, parent_id, source, source_etag, source_size,
			options, dry_run, requested_by, state, started_at)
		VALUES ($1, $2, $3, $4, NULLIF($5, ''), NULLIF($6, 0), $7, $8, NULLIF($9, ''), $10, now())
		ON CONFLICT (tenant_id, source, source_etag) WHERE kind = 'event' DO NOTHING
		RETURNING id`,
		n.Tenant, n.Kind, parent, n.Source, n.SourceETag, n.SourceSize, opts, n.Options.DryRun, n.RequestedBy,
		lifecycle.ImportPlanning).Scan(&id)
	if err == nil {
		return id, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return 0, false, err
	}
	err = tx.QueryRow(ctx, `SELECT id FROM imports WHERE tenant_id = $1 AND kind = $2 AND source = $3 AND source_etag = $4`,
		n.Tenant, n.Kind, n.Source, n.SourceETag).Scan(&id)
	return id, false, err
}

// AddChunks records chunks of an import as its plan cuts them; SavePlan then
// says they are all there. Adding the same chunks again (a redelivered plan)
// changes nothing.
//
// It counts only the chunks it inserts, onto the stored count: local imports
// add their chunks from concurrent appliers, and a count(*) subquery would
// miss a chunk another applier committed while this one waited for the row
// lock, leaving chunks_done past chunks and the import never finished.
func (s *Store) AddChunks(ctx context.Context, tenant string, importID int64, chunks []userfile.Chunk) error {
	if len(chunks) == 0 {
		return nil
	}
	n := len(chunks)
	seq, lines, records := make([]int32, n), make([]int32, n), make([]int32, n)
	offsets, lengths := make([]int64, n), make([]int64, n)
	logins := make([][]byte, n)
	for i, c := range chunks {
		seq[i], lines[i], records[i] = int32(c.Seq), int32(c.FirstLine), int32(c.Records)
		offsets[i], lengths[i] = c.Offset, c.Length
		logins[i] = c.Logins.Encode()
	}
	_, err := s.pool.Exec(ctx, `WITH added AS (
			INSERT INTO import_chunks (import_id, seq, tenant_id, byte_offset, byte_length, first_line, records, logins, state)
			SELECT $2, c.seq, $1, c.byte_offset, c.byte_length, c.first_line, c.records, c.logins, $8
			FROM unnest($3::integer[], $4::bigint[], $5::bigint[], $6::integer[], $7::integer[], $9::bytea[])
				AS c(seq, byte_offset, byte_length, first_line, records, logins)
			ON CONFLICT (tenant_id, import_id, seq) DO NOTHING
			RETURNING 1)
		UPDATE imports SET chunks = chunks + (SELECT count(*) FROM added)
		WHERE tenant_id = $1 AND id = $2`, tenant, importID, seq, offsets, lengths, lines, records,
		lifecycle.ChunkPending, logins)
	return err
}

// ErrIllegalMove says a state change is not one the lifecycle allows from
// the row's state (see package lifecycle).
var ErrIllegalMove = errors.New("not allowed from the import's state")

// moveImport changes an import's state to `to`, guarded in SQL by the states
// the lifecycle allows it from, plus set (more columns, from $4 on) and where
// (more conditions). It reports false when the import is in `to` already or
// the extra conditions do not hold; a move from any other state is
// ErrIllegalMove.
func (s *Store) moveImport(ctx context.Context, tenant string, id int64, to lifecycle.ImportState, set, where string, args ...any) (bool, error) {
	from := lifecycle.Strings(lifecycle.From(lifecycle.ImportMoves(), to)...)
	q := `UPDATE imports SET state = $3` + set + ` WHERE tenant_id = $1 AND id = $2 AND state = ANY($` +
		fmt.Sprint(4+len(args)) + `)` + where
	tag, err := s.pool.Exec(ctx, q, append(append([]any{tenant, id, to}, args...), from)...)
	if err != nil || tag.RowsAffected() == 1 {
		return err == nil, err
	}
	var state lifecycle.ImportState
	if err := s.pool.QueryRow(ctx, `SELECT state FROM imports WHERE tenant_id = $1 AND id = $2`, tenant, id).Scan(&state); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return false, fmt.Errorf("import %d: %w", id, ErrNotFound)
		}
		return false, err
	}
	if state == to || slices.Contains(from, string(state)) {
		return false, nil
	}
	return false, fmt.Errorf("import %d: %s → %s: %w", id, state, to, ErrIllegalMove)
}

// RejectImport marks an import rejected as a whole, with the reason. An
// import already ended stays as it is.
func (s *Store) RejectImport(ctx context.Context, tenant string, importID int64, reason string) error {
	_, err := s.moveImport(ctx, tenant, importID, lifecycle.ImportRejected, `, error = $4, finished_at = now()`, "", reason)
	if errors.Is(err, ErrIllegalMove) {
		return nil // finished or failed first: that outcome stands
	}
	return err
}

// FailImport marks an import failed for a reason no retry will mend; the
// chunks already applied stay applied. It reports whether this call failed
// it (false: it had ended already).
func (s *Store) FailImport(ctx context.Context, tenant string, importID int64, reason string) (bool, error) {
	failed, err := s.moveImport(ctx, tenant, importID, lifecycle.ImportFailed, `, error = $4, finished_at = now()`, "", reason)
	if errors.Is(err, ErrIllegalMove) {
		return false, nil
	}
	return failed, err
}

// FinishImport marks an import finished once all its chunks are done. It
// reports whether this call finished it (false: already finished, or chunks
// still pending).
func (s *Store) FinishImport(ctx context.Context, tenant string, importID int64, warnings int) (bool, error) {
	return s.moveImport(ctx, tenant, importID, lifecycle.ImportFinished, `, warnings = $4, finished_at = now()`,
		` AND chunks_done = chunks`, warnings)
}

// importColumns are read into an Import by scanImport.
const importColumns = `id, tenant_id, kind, source, state, coalesce(error, ''), dry_run, records,
	created, updated, unchanged, rejected, chunks, chunks_done, coalesce(report, ''), rejection_reasons, rejection_other, created_at, started_at, finished_at,
	coalesce(parent_id, 0)`

func scanImport(row pgx.Row, extra ...any) (Import, error) {
	var im Import
	err := row.Scan(append([]any{&im.ID, &im.Tenant, &im.Kind, &im.Source, &im.State, &im.Error, &im.DryRun, &im.Records,
		&im.Created, &im.Updated, &im.Unchanged, &im.Rejected, &im.Chunks, &im.ChunksDone, &im.Report,
		&im.Reasons, &im.OtherReasons, &im.CreatedAt, &im.StartedAt, &im.FinishedAt, &im.ParentID}, extra...)...)
	return im, err
}

// Import returns the tenant's import, with its latest undo; another
// tenant's is ErrNotFound.
func (s *Store) Import(ctx context.Context, tenant string, id int64) (Import, error) {
	var undoneBy int64
	im, err := scanImport(s.pool.QueryRow(ctx, `SELECT `+importColumns+`,
			coalesce((SELECT max(u.id) FROM imports u WHERE u.tenant_id = $1 AND u.id > $2 AND u.parent_id = $2 AND u.kind = $3), 0)
		FROM imports WHERE tenant_id = $1 AND id = $2`, tenant, id, lifecycle.KindUndo), &undoneBy)
	if errors.Is(err, pgx.ErrNoRows) {
		return Import{}, fmt.Errorf("import %d: %w", id, ErrNotFound)
	}
	im.UndoneBy = undoneBy
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

// AddFileRejects records records the whole-file checks rejected, as the
// plan finds them. Adding them again (a redelivered plan) changes nothing.
func (s *Store) AddFileRejects(ctx context.Context, tenant string, importID int64, lines []int, probs []userrow.Problem) error {
	if len(lines) == 0 {
		return nil
	}
	cols, msgs := make([]int16, len(probs)), make([]string, len(probs))
	for i, p := range probs {
		cols[i], msgs[i] = int16(p.Column), p.Message
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO import_file_rejects (import_id, line, tenant_id, column_no, message)
		SELECT $2, l, $1, c, m FROM unnest($3::integer[], $4::smallint[], $5::text[]) AS t(l, c, m)
		ON CONFLICT (tenant_id, import_id, line) DO NOTHING`, tenant, importID, lines, cols, msgs)
	return err
}

// FileRejects returns the whole-file rejections of chunk seq's lines (from
// its first line to the next chunk's), by line; nil when there are none.
func (s *Store) FileRejects(ctx context.Context, tenant string, importID int64, seq int) (map[int]userrow.Problem, error) {
	rows, err := s.pool.Query(ctx, `SELECT r.line, r.column_no, r.message FROM import_chunks c
		JOIN import_file_rejects r ON r.tenant_id = c.tenant_id AND r.import_id = c.import_id AND r.line >= c.first_line
			AND r.line < coalesce((SELECT n.first_line FROM import_chunks n WHERE n.tenant_id = c.tenant_id AND n.import_id = c.import_id AND n.seq = c.seq + 1), 2147483647)
		WHERE c.tenant_id = $1 AND c.import_id = $2 AND c.seq = $3`, tenant, importID, seq)
	if err != nil {
		return nil, err
	}
	var (
		out  map[int]userrow.Problem
		line int
		col  int16
		msg  string
	)
	_, err = pgx.ForEachRow(rows, []any{&line, &col, &msg}, func() error {
		if out == nil {
			out = map[int]userrow.Problem{}
		}
		out[line] = userrow.Problem{Column: userrow.Column(col), Message: msg}
		return nil
	})
	return out, err
}

// SavePlan stores the plan of an import whose chunks are all recorded and
// moves it to running. Saving a plan again (a redelivered plan task) changes
// nothing.
func (s *Store) SavePlan(ctx context.Context, tenant string, importID int64, p userfile.Plan) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	_, err = s.moveImport(ctx, tenant, importID, lifecycle.ImportRunning, `, plan = $4, warnings = $5`, ` AND plan IS NULL`, b, p.Warnings)
	return err
}

// Job is an import as a worker needs it.
type Job struct {
	Import
	Options lifecycle.Options
	Plan    *userfile.Plan // nil before planning
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
	if j.Options, err = lifecycle.ParseOptions(opts); err != nil {
		return Job{}, fmt.Errorf("import %d: %w", id, err)
	}
	if plan != nil {
		j.Plan = &userfile.Plan{}
		if err := json.Unmarshal(plan, j.Plan); err != nil {
			return Job{}, fmt.Errorf("import %d: %w", id, err)
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

// SetReport records where an import's error report is and the reasons of
// its rejections.
func (s *Store) SetReport(ctx context.Context, tenant string, id int64, where string, reasons []userrow.Reason, other int) error {
	_, err := s.pool.Exec(ctx, `UPDATE imports SET report = $3, rejection_reasons = $4, rejection_other = $5
		WHERE tenant_id = $1 AND id = $2`, tenant, id, where, reasons, other)
	return err
}

// PlannedChunk is a chunk of an import and whether it is applied.
type PlannedChunk struct {
	userfile.Chunk
	Done bool
}

// Chunks returns an import's chunks in order.
func (s *Store) Chunks(ctx context.Context, tenant string, importID int64) ([]PlannedChunk, error) {
	rows, err := s.pool.Query(ctx, `SELECT seq, byte_offset, byte_length, first_line, records, state = $3
		FROM import_chunks WHERE tenant_id = $1 AND import_id = $2 ORDER BY seq`, tenant, importID, lifecycle.ChunkDone)
	if err != nil {
		return nil, err
	}
	var (
		out []PlannedChunk
		c   PlannedChunk
	)
	_, err = pgx.ForEachRow(rows, []any{&c.Seq, &c.Offset, &c.Length, &c.FirstLine, &c.Records, &c.Done}, func() error {
		out = append(out, c)
		return nil
	})
	return out, err
}

// Imports lists the tenant's imports, newest first, optionally in one state.
func (s *Store) Imports(ctx context.Context, tenant string, state lifecycle.ImportState, limit int) ([]Import, error) {
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
		WHERE state = ANY($2) AND created_at < now() - $1 * interval '1 millisecond' ORDER BY id`,
		olderThan.Milliseconds(), lifecycle.Strings(lifecycle.ImportPlanning, lifecycle.ImportRunning))
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
		WHERE state = ANY($2) AND notified_at IS NULL
		  AND finished_at < now() - $1 * interval '1 millisecond' AND finished_at > now() - interval '1 day'
		ORDER BY id`, olderThan.Milliseconds(), lifecycle.Strings(lifecycle.ImportFinished, lifecycle.ImportRejected, lifecycle.ImportFailed))
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Import, error) { return scanImport(r) })
}
