package worker

import (
	"context"
	"fmt"
	"strings"

	"github.com/hibiken/asynq"

	"github.com/userimport/userimport/internal/feed"
	"github.com/userimport/userimport/internal/task"
)

// feeds carries out the feed runs (package feed) with the handlers' store,
// files, queue and mail. Besides what the imports need, the runs list
// objects (feed.Lister: Deps.Files must list for feed:run) and send the
// stale warning (feed.NoticeMailer: without it in Deps.Mail, the warning is
// only logged).
func (h *Handlers) feeds() *feed.Runner {
	r := &feed.Runner{Store: h.d.Store, Files: h.d.Files, Intake: h.intake(), FileOptions: h.fileOptions, Log: h.d.Log}
	r.Lister, _ = h.d.Files.(feed.Lister)
	r.Mail, _ = h.d.Mail.(feed.NoticeMailer)
	return r
}

// FeedRun handles feed:run: feed.Runner.Run.
func (h *Handlers) FeedRun(ctx context.Context, t *asynq.Task) error {
	p, err := task.ParseFeedRun(t)
	if err != nil {
		return err
	}
	return h.feeds().Run(ctx, p)
}

// FeedDecided handles feed:decided: feed.Runner.DecisionNotice, linking the
// run's page when PublicURL is set.
func (h *Handlers) FeedDecided(ctx context.Context, t *asynq.Task) error {
	p, err := task.ParseFeedDecided(t)
	if err != nil {
		return err
	}
	return h.feeds().DecisionNotice(ctx, p.Tenant, p.RunID, h.runURL(p.RunID))
}

// runURL is a feed run's web page, or "" without PublicURL.
func (h *Handlers) runURL(runID int64) string {
	if h.d.PublicURL == "" {
		return ""
	}
	return fmt.Sprintf("%s/ui/feed-runs/%d", strings.TrimSuffix(h.d.PublicURL, "/"), runID)
}
