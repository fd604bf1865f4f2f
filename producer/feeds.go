package producer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/feed"
	"github.com/userimport/userimport/internal/intake"
	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/task"
)

// feedRoutes are the feeds' routes: a tenant's token sees and changes that
// tenant's feeds and runs only; another tenant's answer 404.
func (a *API) feedRoutes() []Route {
	return []Route{
		{"GET /v1/feeds", TenantToken, a.auth(a.listFeeds)},
		{"POST /v1/feeds", TenantToken, a.auth(a.createFeed)},
		{"GET /v1/feeds/{name}", TenantToken, a.auth(a.getFeed)},
		{"PATCH /v1/feeds/{name}", TenantToken, a.auth(a.updateFeed)},
		{"DELETE /v1/feeds/{name}", TenantToken, a.auth(a.deleteFeed)},
		{"GET /v1/feeds/{name}/runs", TenantToken, a.auth(a.listFeedRuns)},
		{"POST /v1/feeds/{name}/run", TenantToken, a.auth(a.runFeedNow)},
		{"POST /v1/feed-runs/{id}/approve", TenantToken, a.auth(a.decideFeedRun(true))},
		{"POST /v1/feed-runs/{id}/reject", TenantToken, a.auth(a.decideFeedRun(false))},
	}
}

// FeedView is a feed as the API shows it (and importctl feeds --format json).
type FeedView struct {
	Name                 string    `json:"name"`
	Prefix               string    `json:"prefix"`
	Schedule             string    `json:"schedule"`
	TimeZone             string    `json:"time_zone"`
	Delimiter            string    `json:"delimiter"`
	Header               string    `json:"header"`
	Mode                 string    `json:"mode"`
	MaxDeactivatePercent float64   `json:"max_deactivate_percent"`
	MaxDeactivateCount   *int      `json:"max_deactivate_count"`
	Notify               []string  `json:"notify"`
	StaleAfterDays       *int      `json:"stale_after_days"`
	Enabled              bool      `json:"enabled"`
	CreatedAt            time.Time `json:"created_at"`
	UpdatedAt            time.Time `json:"updated_at"`
}

// NewFeedView returns the view of f.
func NewFeedView(f *postgres.Feed) FeedView {
	return FeedView{Name: f.Name, Prefix: f.Prefix, Schedule: f.Schedule, TimeZone: f.TimeZone, Delimiter: f.Delimiter,
		Header: f.Header, Mode: f.Mode, MaxDeactivatePercent: f.MaxDeactivatePercent, MaxDeactivateCount: f.MaxDeactivateCount,
		Notify: f.Notify, StaleAfterDays: f.StaleAfterDays, Enabled: f.Enabled, CreatedAt: f.CreatedAt, UpdatedAt: f.UpdatedAt}
}

// RunView is a feed run as the API shows it.
type RunView struct {
	ID           int64                  `json:"id"`
	Feed         string                 `json:"feed"`
	ScheduledFor time.Time              `json:"scheduled_for"`
	State        lifecycle.FeedRunState `json:"state"`
	Object       string                 `json:"object,omitempty"`
	ETag         string                 `json:"etag,omitempty"`
	ImportID     int64                  `json:"import_id,omitempty"`
	ActiveBefore *int                   `json:"active_before,omitempty"`
	Absent       *int                   `json:"absent,omitempty"`
	Deactivated  int                    `json:"deactivated"`
	Reactivated  int                    `json:"reactivated"`
	Pending      int                    `json:"pending_deactivations"`
	Stale        bool                   `json:"stale,omitempty"`
	Error        string                 `json:"error,omitempty"`
	DecidedBy    string                 `json:"decided_by,omitempty"`
	CreatedAt    time.Time              `json:"created_at"`
	FinishedAt   *time.Time             `json:"finished_at,omitempty"`
}

// NewRunView returns the view of r.
func NewRunView(r *postgres.FeedRun) RunView {
	return RunView{ID: r.ID, Feed: r.Feed, ScheduledFor: r.ScheduledFor, State: r.State, Object: r.ObjectKey, ETag: r.ObjectETag,
		ImportID: r.ImportID, ActiveBefore: r.ActiveBefore, Absent: r.Absent, Deactivated: r.Deactivated,
		Reactivated: r.Reactivated, Pending: r.Pending, Stale: r.Stale, Error: r.Error, DecidedBy: r.DecidedBy,
		CreatedAt: r.CreatedAt, FinishedAt: r.FinishedAt}
}

func (a *API) listFeeds(w http.ResponseWriter, r *http.Request, tenant string) {
	feeds, err := a.d.Store.Feeds(r.Context(), tenant)
	if err != nil {
		a.internal(w, r, err)
		return
	}
	views := make([]FeedView, len(feeds))
	for i := range feeds {
		views[i] = NewFeedView(&feeds[i])
	}
	writeJSON(w, http.StatusOK, map[string]any{"feeds": views})
}

func decodeFeedChange(w http.ResponseWriter, r *http.Request) (feed.Change, bool) {
	var c feed.Change
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "malformed JSON: "+err.Error())
		return c, false
	}
	return c, true
}

func (a *API) createFeed(w http.ResponseWriter, r *http.Request, tenant string) {
	c, ok := decodeFeedChange(w, r)
	if !ok {
		return
	}
	if c.Name == nil || c.Schedule == nil {
		writeError(w, http.StatusBadRequest, "bad_request", `a feed needs at least "name" and "schedule"`)
		return
	}
	f := feed.New(tenant)
	if err := c.Apply(&f); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	var err error
	if f.Notify, err = a.recipients(r.Context(), tenant, f.Notify); err != nil {
		a.refuseRecipients(w, r, err)
		return
	}
	f, err = a.d.Store.CreateFeed(r.Context(), f)
	if errors.Is(err, postgres.ErrFeedExists) {
		writeError(w, http.StatusConflict, "feed_exists", err.Error())
		return
	}
	if err != nil {
		a.internal(w, r, err)
		return
	}
	a.d.Log.Info("feed created", zap.String("tenant", tenant), zap.String("feed", f.Name))
	w.Header().Set("Location", "/v1/feeds/"+f.Name)
	writeJSON(w, http.StatusCreated, NewFeedView(&f))
}

// lookupFeed finds the tenant's feed named in the path; another tenant's is
// answered like a missing one.
func (a *API) lookupFeed(w http.ResponseWriter, r *http.Request, tenant string) (postgres.Feed, bool) {
	f, err := a.d.Store.FeedByName(r.Context(), tenant, r.PathValue("name"))
	if errors.Is(err, postgres.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", "no such feed")
		return f, false
	}
	if err != nil {
		a.internal(w, r, err)
		return f, false
	}
	return f, true
}

func (a *API) getFeed(w http.ResponseWriter, r *http.Request, tenant string) {
	if f, ok := a.lookupFeed(w, r, tenant); ok {
		writeJSON(w, http.StatusOK, NewFeedView(&f))
	}
}

func (a *API) updateFeed(w http.ResponseWriter, r *http.Request, tenant string) {
	f, ok := a.lookupFeed(w, r, tenant)
	if !ok {
		return
	}
	c, ok := decodeFeedChange(w, r)
	if !ok {
		return
	}
	if err := c.Apply(&f); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	var err error
	if f.Notify, err = a.recipients(r.Context(), tenant, f.Notify); err != nil {
		a.refuseRecipients(w, r, err)
		return
	}
	f, err = a.d.Store.UpdateFeed(r.Context(), f)
	switch {
	case errors.Is(err, postgres.ErrFeedExists):
		writeError(w, http.StatusConflict, "feed_exists", err.Error())
	case errors.Is(err, postgres.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", "no such feed")
	case err != nil:
		a.internal(w, r, err)
	default:
		writeJSON(w, http.StatusOK, NewFeedView(&f))
	}
}

func (a *API) deleteFeed(w http.ResponseWriter, r *http.Request, tenant string) {
	err := a.d.Store.DeleteFeed(r.Context(), tenant, r.PathValue("name"))
	switch {
	case errors.Is(err, postgres.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", "no such feed")
	case err != nil:
		a.internal(w, r, err)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

func (a *API) listFeedRuns(w http.ResponseWriter, r *http.Request, tenant string) {
	f, ok := a.lookupFeed(w, r, tenant)
	if !ok {
		return
	}
	limit, ok := queryLimit(w, r, 50)
	if !ok {
		return
	}
	runs, err := a.d.Store.FeedRuns(r.Context(), tenant, f.ID, limit)
	if err != nil {
		a.internal(w, r, err)
		return
	}
	views := make([]RunView, len(runs))
	for i := range runs {
		views[i] = NewRunView(&runs[i])
	}
	writeJSON(w, http.StatusOK, map[string]any{"runs": views})
}

// runFeedNow queues a run of the feed scheduled for now, as the scheduler's
// (intake.RunFeedNow): 202 with the time; the run's record appears in the
// feed's runs once a worker takes it.
func (a *API) runFeedNow(w http.ResponseWriter, r *http.Request, tenant string) {
	f, ok := a.lookupFeed(w, r, tenant)
	if !ok {
		return
	}
	at, err := a.intake().RunFeedNow(r.Context(), &f, time.Now())
	switch {
	case errors.Is(err, intake.ErrFeedDisabled):
		writeError(w, http.StatusConflict, "feed_disabled", err.Error())
	case err != nil:
		a.internal(w, r, err)
	default:
		a.d.Log.Info("feed run queued", zap.String("tenant", tenant), zap.String("feed", f.Name), zap.Time("scheduled_for", at))
		writeJSON(w, http.StatusAccepted, map[string]any{"feed": f.Name, "scheduled_for": at})
	}
}

// decideFeedRun approves (deactivates the users on the list still active)
// or rejects (drops the list) a run waiting for approval.
func (a *API) decideFeedRun(approve bool) func(http.ResponseWriter, *http.Request, string) {
	return func(w http.ResponseWriter, r *http.Request, tenant string) {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil || id <= 0 {
			writeError(w, http.StatusNotFound, "not_found", "no such feed run")
			return
		}
		run, err := feed.Decisions{Store: a.d.Store, Queue: a.intake(), Log: a.d.Log}.Decide(r.Context(), tenant, id, approve, requestToken(r))
		switch {
		case errors.Is(err, postgres.ErrNotFound):
			writeError(w, http.StatusNotFound, "not_found", "no such feed run")
		case errors.Is(err, postgres.ErrRunNotPending):
			writeError(w, http.StatusConflict, "not_pending", err.Error())
		case err != nil:
			a.internal(w, r, err)
		default:
			writeJSON(w, http.StatusOK, NewRunView(&run))
		}
	}
}

// FeedScheduler starts the feeds' runs on their schedules: an asynq
// PeriodicTaskManager whose tasks are read from PostgreSQL every
// SyncInterval. Run one in every producer: each run starts once however many
// schedulers fire it (asynq.Unique on the task, and a PostgreSQL row per
// feed and scheduled time in the worker).
type FeedScheduler struct {
	Redis     asynq.RedisConnOpt
	Store     *postgres.Store
	Queue     Enqueuer // for the catch-up
	Namespace task.Namespace
	Log       *zap.Logger
	// SyncInterval is how often the feeds are read again (a change applies
	// within it); 0: DefaultFeedSync.
	SyncInterval time.Duration
}

// DefaultFeedSync is how often the scheduler reads the feeds again.
const DefaultFeedSync = time.Minute

// Start catches up the runs missed while no scheduler ran (the latest fire
// time of each feed, once, not every missed night), then starts the
// scheduler. stop shuts it down.
func (s FeedScheduler) Start(ctx context.Context) (stop func(), err error) {
	if s.SyncInterval <= 0 {
		s.SyncInterval = DefaultFeedSync
	}
	if err := s.CatchUp(ctx, time.Now()); err != nil {
		// The scheduler itself still starts: the next fire times are not lost.
		s.Log.Warn("feed catch-up failed", zap.Error(err))
	}
	mgr, err := asynq.NewPeriodicTaskManager(asynq.PeriodicTaskManagerOpts{
		RedisConnOpt:               s.Redis,
		PeriodicTaskConfigProvider: s.provider(),
		SyncInterval:               s.SyncInterval,
		SchedulerOpts: &asynq.SchedulerOpts{
			Logger:   s.Log.Sugar().Named("asynq"),
			LogLevel: asynq.WarnLevel,
			PostEnqueueFunc: func(_ *asynq.TaskInfo, err error) {
				// Another scheduler enqueued the same run first: that is the design.
				if err != nil && !errors.Is(err, asynq.ErrDuplicateTask) {
					s.Log.Warn("feed run not enqueued", zap.Error(err))
				}
			},
		},
	})
	if err != nil {
		return nil, err
	}
	if err := mgr.Start(); err != nil {
		return nil, fmt.Errorf("feed scheduler: %w", err)
	}
	s.Log.Info("feed scheduler started", zap.Duration("sync_interval", s.SyncInterval))
	return mgr.Shutdown, nil
}

// CatchUp enqueues the runs missed while no scheduler ran
// (feed.Provider.CatchUp).
func (s FeedScheduler) CatchUp(ctx context.Context, now time.Time) error {
	return s.provider().CatchUp(ctx, s.Queue, now)
}

func (s FeedScheduler) provider() *feed.Provider {
	return &feed.Provider{Store: s.Store, Namespace: s.Namespace, Log: s.Log}
}
