package worker

import (
	"context"

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
