package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/userimport/userimport/internal/lifecycle"
)

// Feed errors.
var (
	ErrFeedExists = errors.New("the tenant already has a feed of that name")
	// ErrRunNotPending says a feed run's deactivations are not waiting for a
	// decision (already decided, superseded by a later run, or never held).
	ErrRunNotPending = errors.New("the run is not waiting for approval")
)

// Feed is a tenant's scheduled HR feed.
type Feed struct {
	ID       int64
	Tenant   string
	Name     string
	Prefix   string // feeds/<tenant>/...
	Schedule string // cron, a descriptor (@daily) or @every <duration>
	TimeZone string // IANA name
	// Delimiter and Header are the CSV options, as an import takes them.
	Delimiter, Header string
	Mode              string // upsert or full
	// MaxDeactivatePercent and MaxDeactivateCount (nil: none) bound what a
	// full-mode run deactivates without approval.
	MaxDeactivatePercent float64
	MaxDeactivateCount   *int
	Notify               []string
	StaleAfterDays       *int // warn when the newest object is older; nil: never
	Enabled              bool
	CreatedAt, UpdatedAt time.Time
}

const feedColumns = `id, tenant_id, name, prefix, schedule, time_zone, delimiter, header, mode,
	max_deactivate_percent, max_deactivate_count, notify, stale_after_days, enabled, created_at, updated_at`

func scanFeed(row pgx.Row) (Feed, error) {
	var f Feed
	err := row.Scan(&f.ID, &f.Tenant, &f.Name, &f.Prefix, &f.Schedule, &f.TimeZone, &f.Delimiter, &f.Header, &f.Mode,
		&f.MaxDeactivatePercent, &f.MaxDeactivateCount, &f.Notify, &f.StaleAfterDays, &f.Enabled, &f.CreatedAt, &f.UpdatedAt)
	if f.Notify == nil {
		f.Notify = []string{}
	}
	return f, err
}

// CreateFeed records a new feed for the tenant (created on first use). The
// caller validates it (package feed); the database checks the prefix is the
// tenant's own.
func (s *Store) CreateFeed(ctx context.Context, f Feed) (Feed, error) {
	if err := s.EnsureTenant(ctx, f.Tenant); err != nil {
		return Feed{}, err
	}
	out, err := scanFeed(s.pool.QueryRow(ctx, `INSERT INTO feeds (tenant_id, name, prefix, schedule, time_zone, delimiter, header,
			mode, max_deactivate_percent, max_deactivate_count, notify, stale_after_days, enabled)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING `+feedColumns,
		f.Tenant, f.Name, f.Prefix, f.Schedule, f.TimeZone, f.Delimiter, f.Header, f.Mode, f.MaxDeactivatePercent,
		f.MaxDeactivateCount, notifyList(f.Notify), f.StaleAfterDays, f.Enabled))
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" {
		return Feed{}, fmt.Errorf("feed %q: %w", f.Name, ErrFeedExists)
	}
	return out, err
}

func notifyList(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// UpdateFeed replaces the settings of the tenant's feed f.ID (its name
// included) with f's.
func (s *Store) UpdateFeed(ctx context.Context, f Feed) (Feed, error) {
	out, err := scanFeed(s.pool.QueryRow(ctx, `UPDATE feeds SET name = $3, prefix = $4, schedule = $5, time_zone = $6,
			delimiter = $7, header = $8, mode = $9, max_deactivate_percent = $10, max_deactivate_count = $11,
			notify = $12, stale_after_days = $13, enabled = $14, updated_at = now()
		WHERE tenant_id = $1 AND id = $2 RETURNING `+feedColumns,
		f.Tenant, f.ID, f.Name, f.Prefix, f.Schedule, f.TimeZone, f.Delimiter, f.Header, f.Mode, f.MaxDeactivatePercent,
		f.MaxDeactivateCount, notifyList(f.Notify), f.StaleAfterDays, f.Enabled))
	var pe *pgconn.PgError
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return Feed{}, fmt.Errorf("feed %d: %w", f.ID, ErrNotFound)
	case errors.As(err, &pe) && pe.Code == "23505":
		return Feed{}, fmt.Errorf("feed %q: %w", f.Name, ErrFeedExists)
	}
	return out, err
}

// DeleteFeed removes the tenant's feed and its runs' records. The imports
// the runs made, and the users, stay.
func (s *Store) DeleteFeed(ctx context.Context, tenant, name string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM feeds WHERE tenant_id = $1 AND name = $2`, tenant, name)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("feed %q: %w", name, ErrNotFound)
	}
	return nil
}

// FeedByName returns the tenant's feed; another tenant's is ErrNotFound.
func (s *Store) FeedByName(ctx context.Context, tenant, name string) (Feed, error) {
	f, err := scanFeed(s.pool.QueryRow(ctx, `SELECT `+feedColumns+` FROM feeds WHERE tenant_id = $1 AND name = $2`, tenant, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return Feed{}, fmt.Errorf("feed %q: %w", name, ErrNotFound)
	}
	return f, err
}

// FeedByID returns the tenant's feed by ID.
func (s *Store) FeedByID(ctx context.Context, tenant string, id int64) (Feed, error) {
	f, err := scanFeed(s.pool.QueryRow(ctx, `SELECT `+feedColumns+` FROM feeds WHERE tenant_id = $1 AND id = $2`, tenant, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Feed{}, fmt.Errorf("feed %d: %w", id, ErrNotFound)
	}
	return f, err
}

// Feeds lists the tenant's feeds by name.
func (s *Store) Feeds(ctx context.Context, tenant string) ([]Feed, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+feedColumns+` FROM feeds WHERE tenant_id = $1 ORDER BY name`, tenant)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Feed, error) { return scanFeed(r) })
}

// EnabledFeeds lists the enabled feeds of every tenant, for the scheduler.
func (s *Store) EnabledFeeds(ctx context.Context) ([]Feed, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+feedColumns+` FROM feeds WHERE enabled ORDER BY id`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Feed, error) { return scanFeed(r) })
}

// FeedRun is one scheduled run of a feed.
type FeedRun struct {
	ID           int64
	FeedID       int64
	Feed         string // its name
	Tenant       string
	ScheduledFor time.Time
	State        lifecycle.FeedRunState
	ObjectKey    string
	ObjectETag   string
	ImportID     int64 // 0: none
	ActiveBefore *int
	Absent       *int
	Deactivated  int
	Reactivated  int
	Pending      int // users on the list waiting for approval
	Stale        bool
	Error        string // why the run failed, or why its deactivations wait for approval
	DecidedBy    string
	CreatedAt    time.Time
	FinishedAt   *time.Time
}

var runColumns = `r.id, r.feed_id, f.name, r.tenant_id, r.scheduled_for, r.state, coalesce(r.object_key, ''),
	coalesce(r.object_etag, ''), coalesce(r.import_id, 0), r.active_before, r.absent, r.deactivated, r.reactivated,
	CASE WHEN r.state = '` + string(lifecycle.RunNeedsApproval) + `' THEN (SELECT count(*) FROM feed_run_deactivations d WHERE d.tenant_id = r.tenant_id AND d.run_id = r.id) ELSE 0 END,
	r.stale, coalesce(r.error, ''), coalesce(r.decided_by, ''), r.created_at, r.finished_at
	FROM feed_runs r JOIN feeds f ON f.tenant_id = r.tenant_id AND f.id = r.feed_id`

func scanRun(row pgx.Row) (FeedRun, error) {
	var r FeedRun
	err := row.Scan(&r.ID, &r.FeedID, &r.Feed, &r.Tenant, &r.ScheduledFor, &r.State, &r.ObjectKey, &r.ObjectETag,
		&r.ImportID, &r.ActiveBefore, &r.Absent, &r.Deactivated, &r.Reactivated, &r.Pending, &r.Stale, &r.Error,
		&r.DecidedBy, &r.CreatedAt, &r.FinishedAt)
	return r, err
}

func (s *Store) oneRun(ctx context.Context, q pgx.Tx, where string, args ...any) (FeedRun, error) {
	var row pgx.Row
	if q != nil {
		row = q.QueryRow(ctx, `SELECT `+runColumns+` WHERE `+where, args...)
	} else {
		row = s.pool.QueryRow(ctx, `SELECT `+runColumns+` WHERE `+where, args...)
	}
	r, err := scanRun(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return FeedRun{}, ErrNotFound
	}
	return r, err
}

// FeedRun returns the tenant's feed run; another tenant's is ErrNotFound.
func (s *Store) FeedRun(ctx context.Context, tenant string, id int64) (FeedRun, error) {
	r, err := s.oneRun(ctx, nil, `r.tenant_id = $1 AND r.id = $2`, tenant, id)
	if errors.Is(err, ErrNotFound) {
		return r, fmt.Errorf("feed run %d: %w", id, err)
	}
	return r, err
}

// FeedRunAt returns the run of the feed scheduled for at, or ErrNotFound.
func (s *Store) FeedRunAt(ctx context.Context, tenant string, feedID int64, at time.Time) (FeedRun, error) {
	return s.oneRun(ctx, nil, `r.tenant_id = $1 AND r.feed_id = $2 AND r.scheduled_for = $3`, tenant, feedID, at)
}

// FeedRunByImport returns the run that made the import, or ErrNotFound (the
// import is no feed's).
func (s *Store) FeedRunByImport(ctx context.Context, tenant string, importID int64) (FeedRun, error) {
	return s.oneRun(ctx, nil, `r.tenant_id = $1 AND r.import_id = $2`, tenant, importID)
}

// FeedRuns lists the runs of the tenant's feed, newest first.
func (s *Store) FeedRuns(ctx context.Context, tenant string, feedID int64, limit int) ([]FeedRun, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+runColumns+` WHERE r.tenant_id = $1 AND r.feed_id = $2
		ORDER BY r.scheduled_for DESC, r.id DESC LIMIT $3`, tenant, feedID, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (FeedRun, error) { return scanRun(r) })
}

// NothingNew reports whether the object version key + etag is nothing new
// for the feed: it is the object of the feed's last applied run, or of a run
// importing it now. The last applied run is the latest (by schedule) whose
// import finished and whose file the feed step took: finished, needs_approval
// (the file's records are imported; only the deactivations wait), applied or
// rejected by approval (the decision about that file is made), superseded (its
// records were imported, but a later run's file is always the newer one then).
//
// Only that run counts, not every earlier one: an HR system that re-exports an
// earlier night's bytes after another night's file (the same ETag, under a new
// key or the same one) sends a file that differs from what the users reflect
// now, and it must be imported. The key is compared too: two objects with the
// same bytes are two exports. Runs whose file was rejected as a whole or
// whose import failed applied nothing: the next run tries the newest object
// again (a feed's settings may have been corrected meanwhile, a failure may
// have been transient), and the feed's people hear of each rejection.
func (s *Store) NothingNew(ctx context.Context, tenant string, feedID int64, key, etag string) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `WITH last AS (
			SELECT r.scheduled_for, r.id, r.object_key, r.object_etag FROM feed_runs r
			WHERE r.tenant_id = $7 AND r.feed_id = $1 AND r.import_id IS NOT NULL AND r.state = ANY($4)
			ORDER BY r.scheduled_for DESC, r.id DESC LIMIT 1)
		SELECT EXISTS (SELECT 1 FROM last WHERE last.object_key = $2 AND last.object_etag = $3)
			OR EXISTS (SELECT 1 FROM feed_runs r JOIN imports i ON i.tenant_id = r.tenant_id AND i.id = r.import_id
				WHERE r.tenant_id = $7 AND r.feed_id = $1 AND r.state = $5 AND NOT i.state = ANY($6)
					AND r.object_key = $2 AND r.object_etag = $3)`, feedID, key, etag,
		lifecycle.Strings(lifecycle.RunsStepped()...), lifecycle.RunImporting,
		lifecycle.Strings(lifecycle.ImportFailed, lifecycle.ImportRejected), tenant).Scan(&ok)
	return ok, err
}

// NewFeedRun is a run to start.
type NewFeedRun struct {
	Feed         Feed
	ScheduledFor time.Time
	// Source, ObjectKey and ObjectETag name the object to import; an empty
	// Source records the run as nothing_new.
	Source, ObjectKey, ObjectETag string
	ObjectSize                    int64
	Stale                         bool // nothing new, and the newest object is older than the feed allows
}

// StartFeedRun records the run of the feed scheduled for n.ScheduledFor and,
// when there is an object to import (im), its import, in one transaction. It
// reports false when the run exists already: another scheduler or delivery
// started it, and this one must do nothing. intake.StartFeedRun is its only
// caller: it enqueues the import's plan.
func (s *Store) StartFeedRun(ctx context.Context, n NewFeedRun, im *NewImport) (FeedRun, bool, error) {
	var (
		runID   int64
		started bool
	)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		state := lifecycle.RunImporting
		if im == nil {
			state = lifecycle.RunNothingNew
		}
		err := tx.QueryRow(ctx, `INSERT INTO feed_runs (feed_id, tenant_id, scheduled_for, state, object_key, object_etag, stale, finished_at)
			VALUES ($1, $2, $3, $4, NULLIF($5, ''), NULLIF($6, ''), $7, CASE WHEN $4 = $8 THEN now() END)
			ON CONFLICT (tenant_id, feed_id, scheduled_for) DO NOTHING RETURNING id`,
			n.Feed.ID, n.Feed.Tenant, n.ScheduledFor, state, n.ObjectKey, n.ObjectETag, n.Stale, lifecycle.RunNothingNew).Scan(&runID)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		started = true
		if im == nil {
			return nil
		}
		importID, _, err := insertImport(ctx, tx, *im)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE feed_runs SET import_id = $3 WHERE tenant_id = $1 AND id = $2`, n.Feed.Tenant, runID, importID)
		return err
	})
	if err != nil || !started {
		return FeedRun{}, false, err
	}
	r, err := s.FeedRun(ctx, n.Feed.Tenant, runID)
	return r, true, err
}

// ClaimRunNotice marks the run's warning e-mail as sent; false: it was
// already (or is being sent by another delivery). ReleaseRunNotice undoes
// the claim when sending failed.
func (s *Store) ClaimRunNotice(ctx context.Context, tenant string, runID int64) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE feed_runs SET notified_at = now() WHERE tenant_id = $1 AND id = $2 AND notified_at IS NULL`, tenant, runID)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// ReleaseRunNotice undoes ClaimRunNotice.
func (s *Store) ReleaseRunNotice(ctx context.Context, tenant string, runID int64) error {
	_, err := s.pool.Exec(ctx, `UPDATE feed_runs SET notified_at = NULL WHERE tenant_id = $1 AND id = $2`, tenant, runID)
	return err
}

// RunNotified reports whether the run's warning e-mail went out.
func (s *Store) RunNotified(ctx context.Context, tenant string, runID int64) (bool, error) {
	var at *time.Time
	err := s.pool.QueryRow(ctx, `SELECT notified_at FROM feed_runs WHERE tenant_id = $1 AND id = $2`, tenant, runID).Scan(&at)
	return at != nil, err
}

// FailFeedRun ends an importing run as failed, deactivating nobody.
func (s *Store) FailFeedRun(ctx context.Context, tenant string, runID int64, reason string) error {
	_, err := s.pool.Exec(ctx, `UPDATE feed_runs SET state = $4, error = $3, finished_at = now()
		WHERE tenant_id = $1 AND id = $2 AND state = ANY($5)`, tenant, runID, reason, lifecycle.RunFailed,
		lifecycle.Strings(lifecycle.From(lifecycle.FeedRunMoves(), lifecycle.RunFailed)...))
	return err
}

// UserRef names a user.
type UserRef struct {
	ID      int64
	LoginID string
	Name    string
}

// SyncPlan is what a full feed's file means for the tenant's users besides
// the import: who would be deactivated and reactivated.
type SyncPlan struct {
	Active     int       // active users now
	Absent     []UserRef // active users absent from the file, by Login ID
	Reactivate []UserRef // inactive users the file imports
}

// PlanSync computes, reading only, the SyncPlan of a file whose records
// carry the Login IDs present (every record whose Login ID could be read,
// rejected or not: a user in the file is never deactivated because its
// record was rejected) and imported (the records imported).
func (s *Store) PlanSync(ctx context.Context, tenant string, present, imported []string) (SyncPlan, error) {
	var p SyncPlan
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		var err error
		p, err = planSync(ctx, tx, tenant, present, imported)
		return err
	})
	return p, err
}

// planSync reads the tenant's users once and compares their Login IDs (as
// the engine does: lower-cased) with the file's, in memory: a hash lookup
// per user, whatever the tenant's size.
func planSync(ctx context.Context, tx pgx.Tx, tenant string, present, imported []string) (SyncPlan, error) {
	var p SyncPlan
	in := make(map[string]bool, len(present))
	for _, l := range present {
		in[strings.ToLower(l)] = true
	}
	back := make(map[string]bool, len(imported))
	for _, l := range imported {
		back[strings.ToLower(l)] = true
	}
	rows, err := tx.Query(ctx, `SELECT id, login_id, login_key, name, active FROM users WHERE tenant_id = $1 ORDER BY login_key`, tenant)
	if err != nil {
		return p, err
	}
	var (
		u      UserRef
		key    string
		active bool
	)
	_, err = pgx.ForEachRow(rows, []any{&u.ID, &u.LoginID, &key, &u.Name, &active}, func() error {
		switch {
		case active:
			p.Active++
			if !in[key] {
				p.Absent = append(p.Absent, u)
			}
		case back[key]:
			p.Reactivate = append(p.Reactivate, u)
		}
		return nil
	})
	return p, err
}

// SyncInput is what the deactivation step of a feed run takes.
type SyncInput struct {
	Present, Imported []string // Login IDs, as for PlanSync
}

// FeedStep is what a run's step finds in its transaction, for package feed
// to decide on.
type FeedStep struct {
	// LaterApplied says a later run of the feed took its file's step first
	// (this import was slow).
	LaterApplied bool
	Plan         SyncPlan
}

// FeedOutcome is what a run's step does, as package feed decided it.
type FeedOutcome struct {
	// State is the run's next state: RunFinished, RunNeedsApproval or
	// RunSuperseded (then nobody is reactivated or deactivated).
	State lifecycle.FeedRunState
	// Full lists the absent users on the run: deactivated at once when
	// State is RunFinished, held for approval when RunNeedsApproval.
	Full bool
	// Reason is recorded as the run's error: why it waits for approval, or
	// why it was superseded.
	Reason string
}

// ApplyFeedRun is a run's step after its import finished. In one
// transaction, holding the tenant's feed lock, it computes the run's
// SyncPlan, asks decide what to do with it, and does it: it reactivates the
// inactive users the file imported and lists the absent users (deactivating
// them, or holding them for approval) — or, superseded, changes nobody.
// Users are never deleted, and never deactivated when an import accepted
// after the run's changed them. Older runs of the feed still waiting for
// approval are superseded when a run's file is applied: at most one list
// waits, the newest file's. A run already past this step is returned as it
// is, so that a redelivered finalize changes nothing.
func (s *Store) ApplyFeedRun(ctx context.Context, f *Feed, runID int64, in SyncInput, decide func(FeedStep) FeedOutcome) (FeedRun, error) {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		state, importID, err := lockRun(ctx, tx, f.Tenant, runID)
		if err != nil || state != lifecycle.RunImporting {
			return err
		}
		if err := lockFeedSync(ctx, tx, f.Tenant); err != nil {
			return err
		}
		var step FeedStep
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM feed_runs r JOIN feed_runs l ON l.tenant_id = r.tenant_id AND l.feed_id = r.feed_id
				WHERE r.tenant_id = $3 AND r.id = $1 AND l.scheduled_for > r.scheduled_for AND l.state = ANY($2) AND l.import_id IS NOT NULL)`,
			runID, lifecycle.Strings(lifecycle.RunsStepped()...), f.Tenant).Scan(&step.LaterApplied); err != nil {
			return err
		}
		if step.Plan, err = planSync(ctx, tx, f.Tenant, in.Present, in.Imported); err != nil {
			return err
		}
		switch out := decide(step); {
		case out.State == lifecycle.RunSuperseded:
			_, err := tx.Exec(ctx, `UPDATE feed_runs SET state = $2, finished_at = now(), error = NULLIF($3, '') WHERE tenant_id = $4 AND id = $1`,
				runID, out.State, out.Reason, f.Tenant)
			return err
		case out.State == lifecycle.RunFinished, out.State == lifecycle.RunNeedsApproval && out.Full:
			return applyStep(ctx, tx, f, runID, importID, step.Plan, out)
		default: // failing a run is FailFeedRun's
			return fmt.Errorf("feed run %d: no step from %s to %s (full %t)", runID, state, out.State, out.Full)
		}
	})
	if err != nil {
		return FeedRun{}, err
	}
	return s.FeedRun(ctx, f.Tenant, runID)
}

// lockRun locks the tenant's run for the transaction and returns its state
// and import.
func lockRun(ctx context.Context, tx pgx.Tx, tenant string, runID int64) (lifecycle.FeedRunState, int64, error) {
	var (
		state    lifecycle.FeedRunState
		importID int64
	)
	err := tx.QueryRow(ctx, `SELECT state, coalesce(import_id, 0) FROM feed_runs WHERE tenant_id = $1 AND id = $2 FOR UPDATE`,
		tenant, runID).Scan(&state, &importID)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", 0, fmt.Errorf("feed run %d: %w", runID, ErrNotFound)
	}
	return state, importID, err
}

// lockFeedSync takes the tenant's feed lock for the transaction: one feed
// step or approval of a tenant at a time, since two of them deciding from
// the same users would count the limits twice.
func lockFeedSync(ctx context.Context, tx pgx.Tx, tenant string) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('feed-sync:' || $1, 0))`, tenant)
	return err
}

// applyStep does a run's decided step (finished or needs_approval) in
// ApplyFeedRun's transaction.
func applyStep(ctx context.Context, tx pgx.Tx, f *Feed, runID, importID int64, p SyncPlan, out FeedOutcome) error {
	if len(p.Reactivate) > 0 {
		// The run's import is now the last to have changed them: a run
		// of the feed approved later leaves them alone.
		if _, err := tx.Exec(ctx, `WITH upd AS (UPDATE users SET active = true, deactivated_at = NULL, updated_at = now(),
				last_import_id = greatest(last_import_id, $3)
			WHERE tenant_id = $1 AND id = ANY($2) AND NOT active RETURNING id)`+journalActive(false),
			f.Tenant, userIDs(p.Reactivate), importID); err != nil {
			return err
		}
	}
	deactivated, absent := 0, 0
	if out.Full {
		absent = len(p.Absent)
		if absent > 0 {
			if _, err := tx.Exec(ctx, `INSERT INTO feed_run_deactivations (run_id, tenant_id, user_id)
				SELECT $1, $2, unnest($3::bigint[])`, runID, f.Tenant, userIDs(p.Absent)); err != nil {
				return err
			}
		}
		if out.State == lifecycle.RunFinished && absent > 0 {
			tag, err := tx.Exec(ctx, `WITH upd AS (UPDATE users SET active = false, deactivated_at = now(), updated_at = now()
				WHERE tenant_id = $1 AND id = ANY($2) AND active`+notChangedSince+` RETURNING id)`+journalActive(true),
				f.Tenant, userIDs(p.Absent), importID)
			if err != nil {
				return err
			}
			deactivated = int(tag.RowsAffected())
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE feed_runs SET state = $3, finished_at = now()
		WHERE tenant_id = $5 AND feed_id = $1 AND id <> $2 AND state = $4`, f.ID, runID, lifecycle.RunSuperseded, lifecycle.RunNeedsApproval, f.Tenant); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `UPDATE feed_runs SET state = $3, active_before = $4, absent = $5, deactivated = $6,
			reactivated = $7, error = NULLIF($8, ''), finished_at = CASE WHEN $3 = $9 THEN now() END
		WHERE tenant_id = $1 AND id = $2`,
		f.Tenant, runID, out.State, p.Active, nullIfNotFull(out.Full, absent), deactivated, len(p.Reactivate), out.Reason,
		lifecycle.RunFinished)
	return err
}

// journalActive follows a statement "WITH upd AS (UPDATE users … RETURNING
// id)" of tenant $1 and import $3: it journals the previous active flag,
// was, of the users changed, into the row the import's chunk wrote if there
// is one (the flag before the import is the one kept). Its count is the
// UPDATE's.
func journalActive(was bool) string {
	return ` INSERT INTO journal_users AS j (tenant_id, import_id, user_id, old_active)
		SELECT $1, $3, id, ` + strconv.FormatBool(was) + ` FROM upd
		ON CONFLICT (tenant_id, import_id, user_id) DO UPDATE SET old_active = coalesce(j.old_active, excluded.old_active)`
}

// notChangedSince keeps a feed run from deactivating a user that an import
// accepted after the run's own ($3) created, changed or reactivated: applying
// the imports in the order accepted, that import comes last.
const notChangedSince = ` AND (last_import_id IS NULL OR last_import_id <= $3)`

func nullIfNotFull(full bool, n int) *int {
	if !full {
		return nil
	}
	return &n
}

func userIDs(us []UserRef) []int64 {
	ids := make([]int64, len(us))
	for i, u := range us {
		ids[i] = u.ID
	}
	return ids
}

// DecideFeedRun applies (approve) or drops the deactivations a run holds for
// approval. Approving deactivates the users on the list that are still
// active. A run not waiting for approval is ErrRunNotPending.
func (s *Store) DecideFeedRun(ctx context.Context, tenant string, runID int64, approve bool, by string) (FeedRun, error) {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		state, importID, err := lockRun(ctx, tx, tenant, runID)
		if err != nil {
			return err
		}
		if state != lifecycle.RunNeedsApproval {
			return fmt.Errorf("feed run %d is %s: %w", runID, state, ErrRunNotPending)
		}
		next, n := lifecycle.RunRejected, int64(0)
		if approve {
			next = lifecycle.RunApplied
			if err := lockFeedSync(ctx, tx, tenant); err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, `WITH upd AS (UPDATE users u SET active = false, deactivated_at = now(), updated_at = now()
				FROM feed_run_deactivations d
				WHERE d.tenant_id = $1 AND d.run_id = $2 AND u.id = d.user_id AND u.tenant_id = $1 AND u.active`+notChangedSince+` RETURNING u.id)`+
				journalActive(true), tenant, runID, importID)
			if err != nil {
				return err
			}
			n = tag.RowsAffected()
		}
		_, err = tx.Exec(ctx, `UPDATE feed_runs SET state = $3, deactivated = $4, decided_by = NULLIF($5, ''),
			decided_at = now(), finished_at = now() WHERE tenant_id = $1 AND id = $2`, tenant, runID, next, n, by)
		return err
	})
	if err != nil {
		return FeedRun{}, err
	}
	return s.FeedRun(ctx, tenant, runID)
}

// RunDeactivations returns up to limit users on the run's list (deactivated,
// or waiting for approval), by name.
func (s *Store) RunDeactivations(ctx context.Context, tenant string, runID int64, limit int) ([]UserRef, error) {
	rows, err := s.pool.Query(ctx, `SELECT u.id, u.login_id, u.name FROM feed_run_deactivations d
		JOIN users u ON u.id = d.user_id AND u.tenant_id = d.tenant_id
		WHERE d.tenant_id = $1 AND d.run_id = $2 ORDER BY u.name, u.login_key LIMIT $3`, tenant, runID, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (UserRef, error) {
		var u UserRef
		err := r.Scan(&u.ID, &u.LoginID, &u.Name)
		return u, err
	})
}

// RunDeactivationsPage returns a page of the users on the run's list, by
// name, whose Login ID contains search (any case; "" for all), from offset
// on, and how many match in all.
func (s *Store) RunDeactivationsPage(ctx context.Context, tenant string, runID int64, search string, offset, limit int) ([]UserRef, int, error) {
	rows, err := s.pool.Query(ctx, `SELECT u.id, u.login_id, u.name, count(*) OVER () FROM feed_run_deactivations d
		JOIN users u ON u.id = d.user_id AND u.tenant_id = d.tenant_id
		WHERE d.tenant_id = $1 AND d.run_id = $2 AND strpos(u.login_key, lower($3)) > 0
		ORDER BY u.name, u.login_key OFFSET $4 LIMIT $5`, tenant, runID, search, offset, limit)
	if err != nil {
		return nil, 0, err
	}
	total := 0
	users, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (UserRef, error) {
		var u UserRef
		err := r.Scan(&u.ID, &u.LoginID, &u.Name, &total)
		return u, err
	})
	if err == nil && len(users) == 0 && offset > 0 {
		// Past the end: count what matches.
		err = s.pool.QueryRow(ctx, `SELECT count(*) FROM feed_run_deactivations d
			JOIN users u ON u.id = d.user_id AND u.tenant_id = d.tenant_id
			WHERE d.tenant_id = $1 AND d.run_id = $2 AND strpos(u.login_key, lower($3)) > 0`, tenant, runID, search).Scan(&total)
	}
	return users, total, err
}

// LastFeedRuns returns, for each feed, the scheduled time of its latest run
// (feeds without a run are left out), for the scheduler's catch-up.
func (s *Store) LastFeedRuns(ctx context.Context) (map[int64]time.Time, error) {
	rows, err := s.pool.Query(ctx, `SELECT feed_id, max(scheduled_for) FROM feed_runs GROUP BY feed_id`)
	if err != nil {
		return nil, err
	}
	out := map[int64]time.Time{}
	var (
		id int64
		at time.Time
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &at}, func() error { out[id] = at; return nil })
	return out, err
}
