package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/feed"
	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/mail"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/s3store"
	"github.com/userimport/userimport/internal/task"
	"github.com/userimport/userimport/internal/userfile"
)

// ObjectLister lists the objects under a prefix (an *s3store.Store). The feed
// runs need it besides Files: Deps.Files must implement it for feed:run.
type ObjectLister interface {
	List(ctx context.Context, prefix string, fn func(s3store.Object) error) error
}

// NoticeMailer sends e-mails about a feed rather than an import (a
// *mail.Sender). Deps.Mail implements it to send the "feed is stale"
// warning; without it the warning is only logged.
type NoticeMailer interface {
	SendNotice(ctx context.Context, to []string, n mail.Notice) error
}

var (
	_ ObjectLister = (*s3store.Store)(nil)
	_ NoticeMailer = (*mail.Sender)(nil)
)

// FeedRun starts the run of a feed scheduled for the payload's time, or for
// the schedule's latest fire time: it records the run (once per feed and
// time, whoever else delivers the same run), picks the newest object under
// the feed's prefix and, unless it is the object version of the last run
// whose file was applied (or of one importing it now), imports it through the
// ordinary pipeline (kind feed). The step after the import
// (deactivations) runs in Finalize. No new object: the run is nothing_new,
// and the feed's people get a warning when the feed is stale.
func (h *Handlers) FeedRun(ctx context.Context, t *asynq.Task) error {
	p, err := task.ParseFeedRun(t)
	if err != nil {
		return err
	}
	log := h.d.Log.With(zap.String("tenant", p.Tenant), zap.Int64("feed_id", p.FeedID))
	f, err := h.d.Store.FeedByID(ctx, p.Tenant, p.FeedID)
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
		s, err := feed.ParseSchedule(f.Schedule, f.TimeZone)
		if err != nil {
			return fmt.Errorf("feed %s: %w: %w", f.Name, err, asynq.SkipRetry)
		}
		at = s.Last(at)
	}
	log = log.With(zap.String("feed", f.Name), zap.Time("scheduled_for", at))
	run, err := h.d.Store.FeedRunAt(ctx, f.Tenant, f.ID, at)
	if err == nil {
		return h.resumeFeedRun(ctx, log, &f, run) // a redelivery, or another scheduler's task
	}
	if !errors.Is(err, postgres.ErrNotFound) {
		return err
	}
	lister, ok := h.d.Files.(ObjectLister)
	if !ok {
		return fmt.Errorf("feed %s: the object store cannot list objects: %w", f.Name, asynq.SkipRetry)
	}
	var objs []s3store.Object
	if err := lister.List(ctx, f.Prefix, func(o s3store.Object) error { objs = append(objs, o); return nil }); err != nil {
		return err
	}
	n := postgres.NewFeedRun{Feed: f, ScheduledFor: at}
	newest, found := feed.Newest(objs)
	if found {
		same, err := h.d.Store.NothingNew(ctx, f.ID, newest.Key, newest.ETag)
		if err != nil {
			return err
		}
		if !same {
			n.Source = "s3://" + h.d.Files.Bucket() + "/" + newest.Key
			n.ObjectKey, n.ObjectETag, n.ObjectSize = newest.Key, newest.ETag, newest.Size
		}
	}
	if n.Source == "" {
		n.Stale = feed.Stale(&f, newest.LastModified, at)
	}
	run, started, err := h.intake().StartFeedRun(ctx, n)
	if err != nil {
		return err
	}
	if !started {
		log.Info("feed run already started")
		return nil
	}
	log.Info("feed run started", zap.Int64("run_id", run.ID), zap.String("state", string(run.State)), zap.Int64("import_id", run.ImportID))
	return h.resumeFeedRun(ctx, log, &f, run)
}

// resumeFeedRun does what a recorded run still needs from its task: the
// import's plan enqueued (its task ID makes a second one a no-op), the stale
// warning sent.
func (h *Handlers) resumeFeedRun(ctx context.Context, log *zap.Logger, f *postgres.Feed, run postgres.FeedRun) error {
	switch run.State {
	case lifecycle.RunImporting:
		im, err := h.d.Store.Import(ctx, run.Tenant, run.ImportID)
		if err != nil || im.State != lifecycle.ImportPlanning {
			return err
		}
		return h.intake().Enqueue(ctx, run.Tenant, run.ImportID, im.Kind)
	case lifecycle.RunNothingNew:
		if !run.Stale {
			return nil
		}
		return h.staleNotice(ctx, log, f, run)
	}
	return nil
}

// staleNotice warns the feed's people, once per run, that no new file came.
func (h *Handlers) staleNotice(ctx context.Context, log *zap.Logger, f *postgres.Feed, run postgres.FeedRun) error {
	notices, ok := h.d.Mail.(NoticeMailer)
	to, err := h.allowedRecipients(ctx, log, f.Tenant, f.Notify)
	if err != nil {
		return err
	}
	if !ok || len(to) == 0 {
		log.Warn("feed is stale; nobody to tell", zap.Int64("run_id", run.ID))
		return nil
	}
	claimed, err := h.d.Store.ClaimRunNotice(ctx, run.Tenant, run.ID)
	if err != nil || !claimed {
		return err
	}
	n := mail.Notice{
		Subject: fmt.Sprintf("Feed %s is stale: no new file for more than %s", f.Name, days(*f.StaleAfterDays)),
		Paragraphs: []string{
			fmt.Sprintf("The run of feed %s of tenant %s scheduled for %s found no new file under s3://%s/%s.",
				f.Name, f.Tenant, run.ScheduledFor.UTC().Format(time.RFC3339), h.d.Files.Bucket(), f.Prefix),
			fmt.Sprintf("The newest file is older than the %s the feed allows. Check that the HR system still exports it.", days(*f.StaleAfterDays)),
		},
	}
	if err := notices.SendNotice(ctx, to, n); err != nil {
		if mail.IsPermanent(err) {
			log.Warn("stale feed warning refused", zap.Error(err))
			return nil
		}
		if rerr := h.d.Store.ReleaseRunNotice(ctx, run.Tenant, run.ID); rerr != nil {
			return errors.Join(err, rerr)
		}
		return fmt.Errorf("send stale feed warning: %w", err)
	}
	log.Info("stale feed warning sent", zap.Int64("run_id", run.ID), zap.Int("recipients", len(to)))
	return nil
}

// afterFeedImport is a feed run's step once its import has ended; Finalize
// calls it before the e-mail, for every import (it does nothing for imports
// no feed made, and nothing twice). A file rejected as a whole, or an import
// that failed, fails the run: nobody is deactivated. Otherwise the file is
// read again for its Login IDs, and the store reactivates and (full mode)
// deactivates, or holds the list for approval.
func (h *Handlers) afterFeedImport(ctx context.Context, log *zap.Logger, tenant string, importID int64) error {
	run, err := h.d.Store.FeedRunByImport(ctx, tenant, importID)
	if errors.Is(err, postgres.ErrNotFound) {
		return nil
	}
	if err != nil || run.State != lifecycle.RunImporting {
		return err
	}
	job, err := h.job(ctx, tenant, importID)
	if err != nil {
		return err
	}
	switch job.State {
	case lifecycle.ImportRejected:
		return h.d.Store.FailFeedRun(ctx, tenant, run.ID, "the file was rejected as a whole: "+job.Error)
	case lifecycle.ImportFailed:
		return h.d.Store.FailFeedRun(ctx, tenant, run.ID, "the import failed: "+job.Error)
	case lifecycle.ImportFinished:
	default:
		return nil
	}
	f, err := h.d.Store.FeedByID(ctx, tenant, run.FeedID)
	if err != nil {
		return err
	}
	key, err := h.key(job.Source)
	if err != nil {
		return err
	}
	// The file read now must be the one imported.
	obj, err := h.d.Files.Head(ctx, key)
	if errors.Is(err, s3store.ErrNotFound) || (err == nil && obj.ETag != run.ObjectETag) {
		return h.d.Store.FailFeedRun(ctx, tenant, run.ID, "the file was replaced or removed during the import")
	}
	if err != nil {
		return err
	}
	logins, err := h.fileLogins(ctx, &job, key)
	if err != nil {
		return err
	}
	var rejected []int
	if err := h.d.Store.Rejects(ctx, tenant, importID, func(r postgres.Reject) error {
		rejected = append(rejected, r.Line)
		return nil
	}); err != nil {
		return err
	}
	present, imported := feed.Split(logins, rejected)
	run, err = h.d.Store.ApplyFeedRun(ctx, &f, run.ID, postgres.SyncInput{Present: present, Imported: imported, Full: f.Mode == "full"})
	if err != nil {
		return err
	}
	log.Info("feed run applied", zap.Int64("run_id", run.ID), zap.String("state", string(run.State)),
		zap.Int("deactivated", run.Deactivated), zap.Int("reactivated", run.Reactivated), zap.Int("pending", run.Pending))
	return nil
}

// fileLogins reads the Login IDs of the planned file's records, from its
// first chunk to its end, as the chunks read them.
func (h *Handlers) fileLogins(ctx context.Context, job *postgres.Job, key string) ([]feed.Login, error) {
	chunks, err := h.d.Store.Chunks(ctx, job.Tenant, job.ID)
	if err != nil || len(chunks) == 0 || job.Plan == nil {
		return nil, err
	}
	opts, err := h.fileOptions(ctx, job)
	if err != nil {
		return nil, err
	}
	first := chunks[0]
	body, err := h.d.Files.OpenRange(ctx, key, first.Offset, -1)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	// The whole-file rejections are not needed: the import's rejects say
	// which records were not imported (see feed.Split).
	rd := userfile.NewReader(body, job.Plan.RangeOptions(opts, first.Chunk, nil))
	defer rd.Close()
	logins, err := feed.ReadLogins(rd)
	if err != nil {
		return nil, fmt.Errorf("read %s again for its Login IDs: %w", job.Source, err)
	}
	return logins, nil
}

// feedSummary is what a feed run's import e-mail says about the run; nil for
// other imports.
func (h *Handlers) feedSummary(ctx context.Context, job *postgres.Job) (*mail.FeedSummary, error) {
	if job.Kind != lifecycle.KindFeed {
		return nil, nil
	}
	run, err := h.d.Store.FeedRunByImport(ctx, job.Tenant, job.ID)
	if errors.Is(err, postgres.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	s := &mail.FeedSummary{Name: run.Feed, RunID: run.ID, Full: run.Absent != nil, State: run.State,
		Deactivated: run.Deactivated, Reactivated: run.Reactivated, Pending: run.Pending, Reason: run.Error}
	if run.ActiveBefore != nil {
		s.Active = *run.ActiveBefore
	}
	if s.Deactivated > 0 || s.Pending > 0 {
		users, err := h.d.Store.RunDeactivations(ctx, job.Tenant, run.ID, 10)
		if err != nil {
			return nil, err
		}
		for _, u := range users {
			s.Names = append(s.Names, u.Name+" ("+u.LoginID+")")
		}
	}
	return s, nil
}

func days(n int) string {
	if n == 1 {
		return "1 day"
	}
	return fmt.Sprintf("%d days", n)
}
