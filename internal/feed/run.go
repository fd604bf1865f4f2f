package feed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/mail"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/s3store"
	"github.com/userimport/userimport/internal/task"
)

// Store is the PostgreSQL side of a feed's runs (a *postgres.Store): the
// runs' records, the import a run made, and the run's step in one
// transaction.
type Store interface {
	FeedByID(ctx context.Context, tenant string, id int64) (postgres.Feed, error)
	FeedRun(ctx context.Context, tenant string, id int64) (postgres.FeedRun, error)
	FeedRunAt(ctx context.Context, tenant string, feedID int64, at time.Time) (postgres.FeedRun, error)
	FeedRunByImport(ctx context.Context, tenant string, importID int64) (postgres.FeedRun, error)
	NothingNew(ctx context.Context, tenant string, feedID int64, key, etag string) (bool, error)
	ClaimRunNotice(ctx context.Context, tenant string, runID int64) (bool, error)
	ReleaseRunNotice(ctx context.Context, tenant string, runID int64) error
	FailFeedRun(ctx context.Context, tenant string, runID int64, reason string) error
	ApplyFeedRun(ctx context.Context, f *postgres.Feed, runID int64, in postgres.SyncInput,
		decide func(postgres.FeedStep) postgres.FeedOutcome) (postgres.FeedRun, error)
	PlanSync(ctx context.Context, tenant string, present, imported []string) (postgres.SyncPlan, error)
	RunDeactivations(ctx context.Context, tenant string, runID int64, limit int) ([]postgres.UserRef, error)
	Import(ctx context.Context, tenant string, id int64) (postgres.Import, error)
	Job(ctx context.Context, tenant string, id int64) (postgres.Job, error)
	Chunks(ctx context.Context, tenant string, importID int64) ([]postgres.PlannedChunk, error)
	Rejects(ctx context.Context, tenant string, id int64, fn func(postgres.Reject) error) error
}

// Files reads a feed's objects (an *s3store.Store).
type Files interface {
	Bucket() string
	Head(ctx context.Context, key string) (s3store.Object, error)
	OpenRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
}

// Lister lists the objects under a prefix (an *s3store.Store).
type Lister interface {
	List(ctx context.Context, prefix string, fn func(s3store.Object) error) error
}

// Starter starts a run's import (an *intake.Intake): the run and its import
// recorded in one transaction, the plan enqueued; Enqueue puts a lost plan
// task back.
type Starter interface {
	StartFeedRun(ctx context.Context, run postgres.NewFeedRun) (postgres.FeedRun, bool, error)
	Enqueue(ctx context.Context, tenant string, id int64, kind lifecycle.Kind) error
}

// NoticeMailer sends e-mails about a feed rather than an import (a
// *mail.Sender).
type NoticeMailer interface {
	SendNotice(ctx context.Context, to []string, n mail.Notice) error
}

var (
	_ Store        = (*postgres.Store)(nil)
	_ Files        = (*s3store.Store)(nil)
	_ Lister       = (*s3store.Store)(nil)
	_ NoticeMailer = (*mail.Sender)(nil)
)

// Runner carries out a feed's runs: Run (the feed:run task), AfterImport
// (the run's step once its import ended), DryRun (what a run would do).
type Runner struct {
	Store Store
	Files Files
	// Lister lists a feed's objects; nil: Run and a DryRun of the newest
	// object fail (the object store cannot list).
	Lister Lister
	// Intake starts a run's import; Run needs it.
	Intake Starter
	// Mail sends the stale warning; nil: it is only logged.
	Mail NoticeMailer
	// Import imports a file in this process, as a dry run (importer.Local);
	// DryRun needs it.
	Import LocalImport
	// FileOptions are the options an import's file is read with (the
	// worker's); AfterImport needs them to read the file again.
	FileOptions FileOptions
	Log         *zap.Logger
}

// Run starts the run of a feed scheduled for the payload's time, or for
// the schedule's latest fire time: it records the run (once per feed and
// time, whoever else delivers the same run), picks the newest object under
// the feed's prefix and, unless it is nothing new (postgres.Store.NothingNew),
// imports it through the ordinary pipeline (kind feed). The step after the
// import (AfterImport) runs when the import is finalized. No new object: the
// run is nothing_new, and the feed's people get a warning when the feed is
// stale.
func (r *Runner) Run(ctx context.Context, p task.FeedRunPayload) error {
	log := r.Log.With(zap.String("tenant", p.Tenant), zap.Int64("feed_id", p.FeedID))
	f, err := r.Store.FeedByID(ctx, p.Tenant, p.FeedID)
	if errors.Is(err, postgres.ErrNotFound) {
		log.Info("feed run skipped: the feed was removed")
		return nil
	}
	if err != nil {
		return err
	}
	if !f.Enabled {
		log.Info("feed run skipped: the feed is disabled")
		return nil
	}
	at := time.Now()
	if p.ScheduledFor != nil {
		at = p.ScheduledFor.UTC().Truncate(time.Second)
	} else {
		s, err := ParseSchedule(f.Schedule, f.TimeZone)
		if err != nil {
			return fmt.Errorf("feed %s: %w: %w", f.Name, err, asynq.SkipRetry)
		}
		at = s.Last(at)
	}
	log = log.With(zap.String("feed", f.Name), zap.Time("scheduled_for", at))
	run, err := r.Store.FeedRunAt(ctx, f.Tenant, f.ID, at)
	if err == nil {
		return r.resume(ctx, log, &f, run) // a redelivery, or another scheduler's task
	}
	if !errors.Is(err, postgres.ErrNotFound) {
		return err
	}
	newest, found, err := r.newest(ctx, &f)
	if err != nil {
		return err
	}
	n := postgres.NewFeedRun{Feed: f, ScheduledFor: at}
	if found {
		same, err := r.Store.NothingNew(ctx, f.Tenant, f.ID, newest.Key, newest.ETag)
		if err != nil {
			return err
		}
		if !same {
			n.Source = r.url(newest.Key)
			n.ObjectKey, n.ObjectETag, n.ObjectSize = newest.Key, newest.ETag, newest.Size
		}
	}
	if n.Source == "" {
		n.Stale = Stale(&f, newest.LastModified, at)
	}
	run, started, err := r.Intake.StartFeedRun(ctx, n)
	if err != nil {
		return err
	}
	if !started {
		log.Info("feed run already started")
		return nil
	}
	log.Info("feed run started", zap.Int64("run_id", run.ID), zap.String("state", string(run.State)), zap.Int64("import_id", run.ImportID))
	return r.resume(ctx, log, &f, run)
}

// newest lists the feed's objects and picks the one a run considers
// (Newest); found is false when there is none.
func (r *Runner) newest(ctx context.Context, f *postgres.Feed) (obj s3store.Object, found bool, err error) {
	if r.Lister == nil {
		return obj, false, fmt.Errorf("feed %s: the object store cannot list objects: %w", f.Name, asynq.SkipRetry)
	}
	var objs []s3store.Object
	if err := r.Lister.List(ctx, f.Prefix, func(o s3store.Object) error { objs = append(objs, o); return nil }); err != nil {
		return obj, false, err
	}
	obj, found = Newest(objs)
	return obj, found, nil
}

// url names an object of the bucket as an import's source.
func (r *Runner) url(key string) string { return "s3://" + r.Files.Bucket() + "/" + key }

// resume does what a recorded run still needs from its task: the import's
// plan enqueued (its task ID makes a second one a no-op), the stale warning
// sent.
func (r *Runner) resume(ctx context.Context, log *zap.Logger, f *postgres.Feed, run postgres.FeedRun) error {
	switch run.State {
	case lifecycle.RunImporting:
		im, err := r.Store.Import(ctx, run.Tenant, run.ImportID)
		if err != nil || im.State != lifecycle.ImportPlanning {
			return err
		}
		return r.Intake.Enqueue(ctx, run.Tenant, run.ImportID, im.Kind)
	case lifecycle.RunNothingNew:
		if !run.Stale {
			return nil
		}
		return r.staleNotice(ctx, log, f, run)
	default: // past its task: its step runs in the import's finalize
		return nil
	}
}

// staleNotice warns the feed's people, once per run, that no new file came.
func (r *Runner) staleNotice(ctx context.Context, log *zap.Logger, f *postgres.Feed, run postgres.FeedRun) error {
	if r.Mail == nil || len(f.Notify) == 0 {
		log.Warn("feed is stale; nobody to tell", zap.Int64("run_id", run.ID))
		return nil
	}
	claimed, err := r.Store.ClaimRunNotice(ctx, run.Tenant, run.ID)
	if err != nil || !claimed {
		return err
	}
	n := mail.StaleNotice(f.Name, f.Tenant, run.ScheduledFor, r.url(f.Prefix), *f.StaleAfterDays)
	if err := r.Mail.SendNotice(ctx, f.Notify, n); err != nil {
		if mail.IsPermanent(err) {
			log.Warn("stale feed warning refused", zap.Error(err))
			return nil
		}
		if rerr := r.Store.ReleaseRunNotice(ctx, run.Tenant, run.ID); rerr != nil {
			return errors.Join(err, rerr)
		}
		return fmt.Errorf("send stale feed warning: %w", err)
	}
	log.Info("stale feed warning sent", zap.Int64("run_id", run.ID), zap.Int("recipients", len(f.Notify)))
	return nil
}
