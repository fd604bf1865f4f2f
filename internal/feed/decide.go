package feed

import (
	"context"
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/mail"
	"github.com/userimport/userimport/internal/postgres"
)

// RunDecider is what a decision on a held run needs (a *postgres.Store).
type RunDecider interface {
	TokenName(ctx context.Context, tenant string, id int64) (string, error)
	DecideFeedRun(ctx context.Context, tenant string, runID int64, approve bool, by string) (postgres.FeedRun, error)
}

// DecisionQueue queues the e-mail of a decision (an *intake.Intake).
type DecisionQueue interface {
	EnqueueFeedDecided(ctx context.Context, tenant string, runID int64) error
}

var _ RunDecider = (*postgres.Store)(nil)

// DecidedBy is how a run records the token whose holder decided it: its
// name and ID, never the token.
func DecidedBy(tokenName string, tokenID int64) string {
	return fmt.Sprintf("token %s (#%d)", tokenName, tokenID)
}

// Decisions decide the runs held for approval: the one path of the API's
// approve and reject and the web pages' buttons.
type Decisions struct {
	Store RunDecider
	Queue DecisionQueue // nil: no e-mail
	Log   *zap.Logger
}

// Decide approves (deactivates the users on the list still active) or
// rejects a run held for approval, recording the token of the person who
// decided, and queues the e-mail to the feed's people (DecisionNotice). A
// run not held is postgres.ErrRunNotPending, another tenant's
// postgres.ErrNotFound. The decision stands when the e-mail cannot be
// queued: that is logged.
func (d Decisions) Decide(ctx context.Context, tenant string, runID int64, approve bool, tokenID int64) (postgres.FeedRun, error) {
	name, err := d.Store.TokenName(ctx, tenant, tokenID)
	if err != nil {
		return postgres.FeedRun{}, err
	}
	run, err := d.Store.DecideFeedRun(ctx, tenant, runID, approve, DecidedBy(name, tokenID))
	if err != nil {
		return run, err
	}
	d.Log.Info("feed run decided", zap.String("tenant", tenant), zap.Int64("run_id", run.ID),
		zap.String("state", string(run.State)), zap.Int("deactivated", run.Deactivated))
	if d.Queue != nil {
		if err := d.Queue.EnqueueFeedDecided(ctx, tenant, run.ID); err != nil {
			d.Log.Warn("feed decision e-mail not queued", zap.String("tenant", tenant), zap.Int64("run_id", run.ID), zap.Error(err))
		}
	}
	return run, nil
}

// DecisionNotice e-mails the feed's people, once per run, that its held list
// was approved or rejected; runURL is the run's page ("" for none).
func (r *Runner) DecisionNotice(ctx context.Context, tenant string, runID int64, runURL string) error {
	log := r.Log.With(zap.String("tenant", tenant), zap.Int64("run_id", runID))
	run, err := r.Store.FeedRun(ctx, tenant, runID)
	if errors.Is(err, postgres.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if run.State != lifecycle.RunApplied && run.State != lifecycle.RunRejected {
		return nil
	}
	f, err := r.Store.FeedByID(ctx, tenant, run.FeedID)
	if errors.Is(err, postgres.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if r.Mail == nil || len(f.Notify) == 0 {
		log.Info("feed run decided; nobody to tell")
		return nil
	}
	claimed, err := r.Store.ClaimRunNotice(ctx, tenant, run.ID)
	if err != nil || !claimed {
		return err
	}
	n := mail.DecisionNotice(f.Name, tenant, run.ID, run.State == lifecycle.RunApplied, run.Deactivated, run.DecidedBy, runURL)
	if err := r.Mail.SendNotice(ctx, f.Notify, n); err != nil {
		if mail.IsPermanent(err) {
			log.Warn("feed decision e-mail refused", zap.Error(err))
			return nil
		}
		if rerr := r.Store.ReleaseRunNotice(ctx, tenant, run.ID); rerr != nil {
			return errors.Join(err, rerr)
		}
		return fmt.Errorf("send feed decision e-mail: %w", err)
	}
	log.Info("feed decision e-mail sent", zap.Int("recipients", len(f.Notify)))
	return nil
}
