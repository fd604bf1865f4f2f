package worker

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/metrics"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/task"
)

// ErrThrottled is returned for a chunk whose tenant has all its slots in use:
// the chunk goes back to the queue, which is not a failure (see IsFailure).
var ErrThrottled = errors.New("tenant has TENANT_CHUNK_LIMIT chunks in flight; put back")

// IsFailure is asynq.Config.IsFailure: a chunk throttled or waiting for an
// earlier import neither uses up a retry nor counts as a failed task.
func IsFailure(err error) bool { return !errors.Is(err, ErrThrottled) && !errors.Is(err, ErrWaiting) }

// RetryDelay returns asynq.Config.RetryDelayFunc. A failed task waits base,
// then twice as long at each retry, up to an hour, with a quarter of jitter
// either way: ten retries span about three hours at the default 15 s, which
// rides out an outage of a dependency without hammering it.
//
// A throttled chunk is normally called in by the chunk whose slot it takes
// (see release); its delay is only the fallback, one to three seconds.
func RetryDelay(base time.Duration) asynq.RetryDelayFunc {
	return func(n int, err error, _ *asynq.Task) time.Duration {
		if errors.Is(err, ErrThrottled) || errors.Is(err, ErrWaiting) {
			return time.Second + rand.N(2*time.Second) //nolint:gosec // jitter, not a secret
		}
		d := base << min(n, 20)
		if d > time.Hour || d <= 0 {
			d = time.Hour
		}
		return d*3/4 + rand.N(d/2+1) //nolint:gosec // jitter, not a secret
	}
}

// limitTenant runs a chunk only if its tenant has a free slot, so that one
// tenant's large import leaves the workers to others in turn.
func (h *Handlers) limitTenant(next asynq.HandlerFunc) asynq.HandlerFunc {
	if h.d.Limiter == nil {
		return next
	}
	return func(ctx context.Context, t *asynq.Task) error {
		p, err := task.Parse[task.ImportChunkPayload](t)
		if err != nil {
			return err
		}
		holder, _ := asynq.GetTaskID(ctx)
		ok, err := h.d.Limiter.Acquire(ctx, p.Tenant, holder)
		if err != nil {
			return err
		}
		if !ok {
			h.d.Metrics.Throttled(p.Tenant)
			queue, _ := asynq.GetQueueName(ctx)
			if err := h.d.Limiter.Wait(ctx, p.Tenant, queue+" "+holder); err != nil {
				return errors.Join(ErrThrottled, err)
			}
			return ErrThrottled
		}
		defer h.release(context.WithoutCancel(ctx), p.Tenant, holder)
		return next(ctx, t)
	}
}

// release gives the chunk's slot back and calls in the tenant's chunk that has
// waited longest, so that the slot is not left idle until its retry comes
// round. A ticket whose task has moved on (run by a retry meanwhile) is
// skipped; a few are tried at most.
func (h *Handlers) release(ctx context.Context, tenant, holder string) {
	log := h.d.Log.With(zap.String("tenant", tenant))
	if err := h.d.Limiter.Release(ctx, tenant, holder); err != nil {
		log.Warn("chunk slot not released; it frees when its lease ends", zap.Error(err))
		return
	}
	if h.d.Runner == nil {
		return
	}
	for range 8 {
		ticket, ok, err := h.d.Limiter.Next(ctx, tenant)
		if err != nil {
			log.Warn("waiting chunks not read; they come back with their retry", zap.Error(err))
			return
		}
		if !ok {
			return
		}
		queue, id, _ := strings.Cut(ticket, " ")
		if h.d.Runner.RunTask(queue, id) == nil {
			return
		}
	}
}

// timeChunk counts the chunks that fail, with how long they took.
func (h *Handlers) timeChunk(next asynq.HandlerFunc) asynq.HandlerFunc {
	return func(ctx context.Context, t *asynq.Task) error {
		start := time.Now()
		err := next(ctx, t)
		if err != nil {
			h.d.Metrics.ChunkFailed(time.Since(start), final(ctx, err))
		}
		return err
	}
}

// chunkOutcome is what the metrics count of an applied chunk. A redelivered
// chunk that had been applied counts nothing: its records were counted the
// first time.
func chunkOutcome(tenant string, out postgres.Outcome, recs []postgres.Record) metrics.ChunkOutcome {
	o := metrics.ChunkOutcome{Tenant: tenant}
	if out.AlreadyApplied {
		o.Redelivered = true
		return o
	}
	o.Created, o.Updated, o.Unchanged, o.Rejected = out.Created, out.Updated, out.Unchanged, out.Rejected
	for _, r := range recs {
		for _, e := range r.Errors {
			if name := e.Column.String(); name != "" {
				o.RejectedColumns = append(o.RejectedColumns, name)
			} else {
				o.RejectedColumns = append(o.RejectedColumns, "record")
			}
		}
	}
	return o
}
