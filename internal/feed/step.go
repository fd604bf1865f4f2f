package feed

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/mail"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/s3store"
	"github.com/userimport/userimport/internal/userfile"
)

// FileOptions returns the options an import's file is read with: its own
// and the worker's (limits, the tenant's roles).
type FileOptions func(ctx context.Context, job *postgres.Job) (userfile.Options, error)

// AfterImport is a feed run's step once its import has ended; the import's
// finalize calls it before the e-mail, for every import (it does nothing for
// imports no feed made, and nothing twice). A file rejected as a whole, or
// an import that failed, fails the run: nobody is deactivated. Otherwise the
// file is read again for its Login IDs, and the store reactivates and (full
// mode) deactivates, or holds the list for approval, as Decide says.
func (r *Runner) AfterImport(ctx context.Context, tenant string, importID int64) error {
	run, err := r.Store.FeedRunByImport(ctx, tenant, importID)
	if errors.Is(err, postgres.ErrNotFound) {
		return nil
	}
	if err != nil || run.State != lifecycle.RunImporting {
		return err
	}
	job, err := r.Store.Job(ctx, tenant, importID)
	if err != nil {
		return err
	}
	switch job.State {
	case lifecycle.ImportRejected:
		return r.Store.FailFeedRun(ctx, tenant, run.ID, "the file was rejected as a whole: "+job.Error)
	case lifecycle.ImportFailed:
		return r.Store.FailFeedRun(ctx, tenant, run.ID, "the import failed: "+job.Error)
	case lifecycle.ImportFinished:
	default:
		return nil
	}
	f, err := r.Store.FeedByID(ctx, tenant, run.FeedID)
	if err != nil {
		return err
	}
	// The file read now must be the one imported.
	obj, err := r.Files.Head(ctx, run.ObjectKey)
	if errors.Is(err, s3store.ErrNotFound) || (err == nil && obj.ETag != run.ObjectETag) {
		return r.Store.FailFeedRun(ctx, tenant, run.ID, "the file was replaced or removed during the import")
	}
	if err != nil {
		return err
	}
	in, err := r.importedLogins(ctx, &job, run.ObjectKey)
	if err != nil {
		return err
	}
	run, err = r.Store.ApplyFeedRun(ctx, &f, run.ID, in, decider(&f))
	if err != nil {
		return err
	}
	r.Log.Info("feed run applied", zap.String("tenant", tenant), zap.Int64("import_id", importID), zap.Int64("run_id", run.ID),
		zap.String("state", string(run.State)), zap.Int("deactivated", run.Deactivated), zap.Int("reactivated", run.Reactivated),
		zap.Int("pending", run.Pending))
	return nil
}

// importedLogins reads the Login IDs of the planned file's records, from its
// first chunk to its end, as the chunks read them, and splits them by the
// import's rejects.
func (r *Runner) importedLogins(ctx context.Context, job *postgres.Job, key string) (postgres.SyncInput, error) {
	var rejected []int
	if err := r.Store.Rejects(ctx, job.Tenant, job.ID, func(rj postgres.Reject) error {
		rejected = append(rejected, rj.Line)
		return nil
	}); err != nil {
		return postgres.SyncInput{}, err
	}
	chunks, err := r.Store.Chunks(ctx, job.Tenant, job.ID)
	if err != nil || len(chunks) == 0 || job.Plan == nil {
		present, imported := Split(nil, rejected)
		return postgres.SyncInput{Present: present, Imported: imported}, err
	}
	opts, err := r.FileOptions(ctx, job)
	if err != nil {
		return postgres.SyncInput{}, err
	}
	first := chunks[0]
	// The whole-file rejections are not needed: the import's rejects say
	// which records were not imported (see Split).
	return r.syncInput(ctx, key, first.Offset, job.Plan.RangeOptions(opts, first.Chunk, nil), rejected)
}

// syncInput reads the Login IDs of the records of the object key, from
// offset on, with opts, and splits them by the lines rejected (Split): what
// a run's step and a dry run compare with the tenant's users.
func (r *Runner) syncInput(ctx context.Context, key string, offset int64, opts userfile.Options, rejected []int) (postgres.SyncInput, error) {
	body, err := r.Files.OpenRange(ctx, key, offset, -1)
	if err != nil {
		return postgres.SyncInput{}, err
	}
	defer body.Close()
	rd := userfile.NewReader(body, opts)
	defer rd.Close()
	logins, err := ReadLogins(rd)
	if err != nil {
		return postgres.SyncInput{}, fmt.Errorf("read %s for its Login IDs: %w", r.url(key), err)
	}
	present, imported := Split(logins, rejected)
	return postgres.SyncInput{Present: present, Imported: imported}, nil
}

// maxSummaryNames is how many users of a run's list the e-mail's summary
// names.
const maxSummaryNames = 10

// Summary is what a feed run's import e-mail says about the run; nil for
// other imports.
func (r *Runner) Summary(ctx context.Context, job *postgres.Job) (*mail.FeedSummary, error) {
	if job.Kind != lifecycle.KindFeed {
		return nil, nil
	}
	run, err := r.Store.FeedRunByImport(ctx, job.Tenant, job.ID)
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
		users, err := r.Store.RunDeactivations(ctx, job.Tenant, run.ID, maxSummaryNames)
		if err != nil {
			return nil, err
		}
		for _, u := range users {
			s.Names = append(s.Names, u.Name+" ("+u.LoginID+")")
		}
	}
	return s, nil
}
