package task

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// TypeFeedRun starts a scheduled run of a tenant's HR feed: pick the newest
// object under the feed's prefix and, when it is new, import it.
const TypeFeedRun = "feed:run"

// FeedRunPayload names the feed to run. The scheduler's tasks carry no time
// (a periodic task's payload is fixed): the worker takes the schedule's
// latest fire time. Catch-up runs and tests name it.
type FeedRunPayload struct {
	Tenant       string     `json:"tenant"`
	FeedID       int64      `json:"feed_id"`
	ScheduledFor *time.Time `json:"scheduled_for,omitempty"`
}

// FeedRunUnique is how long a feed:run task locks out identical ones (asynq's
// Unique): two schedulers firing at once enqueue one task. The lock goes when
// the task succeeds; a PostgreSQL row per (feed, scheduled time) is what
// guarantees one run, this only saves work.
const FeedRunUnique = 10 * time.Minute

// FeedRunOptions are the options of a feed:run task: never a fixed TaskID,
// which would block every later run once one is kept as archived.
func FeedRunOptions(queue string) []asynq.Option {
	return []asynq.Option{asynq.Queue(queue), asynq.Unique(FeedRunUnique), asynq.MaxRetry(maxRetry),
		asynq.Timeout(chunkTimeout), asynq.Retention(24 * time.Hour)}
}

// NewFeedRun returns a feed:run task (its options included).
func NewFeedRun(p FeedRunPayload, queue string) (*asynq.Task, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", TypeFeedRun, err)
	}
	return asynq.NewTask(TypeFeedRun, b, FeedRunOptions(queue)...), nil
}

// ParseFeedRun decodes a feed:run payload; one that cannot succeed wraps
// asynq.SkipRetry.
func ParseFeedRun(t *asynq.Task) (FeedRunPayload, error) {
	var p FeedRunPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return p, fmt.Errorf("decode %s: %w: %w", t.Type(), err, asynq.SkipRetry)
	}
	if p.Tenant == "" || p.FeedID <= 0 {
		return p, fmt.Errorf("decode %s: no tenant or feed id: %w", t.Type(), asynq.SkipRetry)
	}
	return p, nil
}

// TypeFeedDecided e-mails a feed's people that a run held for approval was
// approved or rejected.
const TypeFeedDecided = "feed:decided"

// FeedDecidedPayload names the run decided.
type FeedDecidedPayload struct {
	Tenant string `json:"tenant"`
	RunID  int64  `json:"run_id"`
}

// NewFeedDecided returns a feed:decided task: one per run (its TaskID), a
// run being decided once.
func NewFeedDecided(p FeedDecidedPayload, queue string) (*asynq.Task, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", TypeFeedDecided, err)
	}
	return asynq.NewTask(TypeFeedDecided, b, asynq.Queue(queue), asynq.TaskID(fmt.Sprintf("feed-decided:%s:%d", p.Tenant, p.RunID)),
		asynq.MaxRetry(maxRetry), asynq.Retention(24*time.Hour)), nil
}

// ParseFeedDecided decodes a feed:decided payload; one that cannot succeed
// wraps asynq.SkipRetry.
func ParseFeedDecided(t *asynq.Task) (FeedDecidedPayload, error) {
	var p FeedDecidedPayload
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return p, fmt.Errorf("decode %s: %w: %w", t.Type(), err, asynq.SkipRetry)
	}
	if p.Tenant == "" || p.RunID <= 0 {
		return p, fmt.Errorf("decode %s: no tenant or run id: %w", t.Type(), asynq.SkipRetry)
	}
	return p, nil
}
