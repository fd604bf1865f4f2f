package feed

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/task"
)

// Provider gives asynq's PeriodicTaskManager one feed:run task per enabled
// feed, on the feed's schedule, read from PostgreSQL at every sync: a feed
// added, changed, disabled or removed takes effect at the next sync, without
// a restart.
type Provider struct {
	Store     Schedules
	Namespace task.Namespace
	Log       *zap.Logger
}

// Schedules reads the feeds to schedule and their latest runs (a
// *postgres.Store).
type Schedules interface {
	EnabledFeeds(ctx context.Context) ([]postgres.Feed, error)
	LastFeedRuns(ctx context.Context) (map[int64]time.Time, error)
}

var (
	_ asynq.PeriodicTaskConfigProvider = (*Provider)(nil)
	_ Schedules                        = (*postgres.Store)(nil)
)

// providerTimeout bounds one read of the feeds (asynq's interface takes no
// context).
const providerTimeout = 15 * time.Second

// GetConfigs returns the periodic tasks of the enabled feeds. A feed whose
// schedule no longer parses is left out and logged.
func (p *Provider) GetConfigs() ([]*asynq.PeriodicTaskConfig, error) {
	ctx, cancel := context.WithTimeout(context.Background(), providerTimeout)
	defer cancel()
	feeds, err := p.Store.EnabledFeeds(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*asynq.PeriodicTaskConfig, 0, len(feeds))
	for _, f := range feeds {
		c, err := Config(&f, p.Namespace)
		if err != nil {
			p.Log.Warn("feed not scheduled", zap.String("tenant", f.Tenant), zap.String("feed", f.Name), zap.Error(err))
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// Config is the periodic task of a feed.
func Config(f *postgres.Feed, ns task.Namespace) (*asynq.PeriodicTaskConfig, error) {
	s, err := ParseSchedule(f.Schedule, f.TimeZone)
	if err != nil {
		return nil, err
	}
	t, err := task.NewFeedRun(task.FeedRunPayload{Tenant: f.Tenant, FeedID: f.ID}, ns.Queue(task.QueueDefault))
	if err != nil {
		return nil, err
	}
	// The options go in Opts too: the manager tells configs apart by them.
	return &asynq.PeriodicTaskConfig{Cronspec: s.Cronspec(), Task: t, Opts: task.FeedRunOptions(ns.Queue(task.QueueDefault))}, nil
}

// Missed returns, for the catch-up at a scheduler's start, the time the
// feed's latest fire was scheduled for when it has no run: the run missed
// while nothing was running. A fire before the feed existed, or one that is
// at most lastRun (the latest run's scheduled time), is not missed.
func Missed(f *postgres.Feed, lastRun *time.Time, now time.Time) (time.Time, bool) {
	s, err := ParseSchedule(f.Schedule, f.TimeZone)
	if err != nil {
		return time.Time{}, false
	}
	at := s.Last(now)
	if at.IsZero() || !at.After(f.CreatedAt) || (lastRun != nil && !at.After(*lastRun)) {
		return time.Time{}, false
	}
	return at, true
}

// Queue puts tasks on the queue (an *asynq.Client).
type Queue interface {
	EnqueueContext(ctx context.Context, t *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

var _ Queue = (*asynq.Client)(nil)

// CatchUp enqueues on q, at a scheduler's start, for each enabled feed
// whose latest fire time (at or before now, after the feed was created) has
// no run, one run scheduled for that time: once, not every missed night.
func (p *Provider) CatchUp(ctx context.Context, q Queue, now time.Time) error {
	feeds, err := p.Store.EnabledFeeds(ctx)
	if err != nil {
		return err
	}
	last, err := p.Store.LastFeedRuns(ctx)
	if err != nil {
		return err
	}
	for i := range feeds {
		f := &feeds[i]
		var lastRun *time.Time
		if t, ok := last[f.ID]; ok {
			lastRun = &t
		}
		at, missed := Missed(f, lastRun, now)
		if !missed {
			continue
		}
		t, err := task.NewFeedRun(task.FeedRunPayload{Tenant: f.Tenant, FeedID: f.ID, ScheduledFor: &at}, p.Namespace.Queue(task.QueueDefault))
		if err != nil {
			return err
		}
		if _, err := q.EnqueueContext(ctx, t); err != nil && !errors.Is(err, asynq.ErrDuplicateTask) {
			return fmt.Errorf("catch up feed %s of %s: %w", f.Name, f.Tenant, err)
		}
		p.Log.Info("missed feed run queued", zap.String("tenant", f.Tenant), zap.String("feed", f.Name), zap.Time("scheduled_for", at))
	}
	return nil
}
