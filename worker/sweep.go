package worker

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/lifecycle"
)

// Sweep puts back on the queue what PostgreSQL says is unfinished: the plan of
// an import never planned, the chunks not applied, the finalize of an import
// whose chunks are all done, or that ended without its e-mail (a finalize
// lost with Redis after the import was marked finished; the feed run's step
// comes with it). It covers a crash between a commit and the enqueue that
// should follow it, and tasks lost with Redis. Tasks still on the queue are
// not duplicated: their IDs are deterministic. Imports younger than minAge
// are left to the tasks in flight.
func (h *Handlers) Sweep(ctx context.Context, minAge time.Duration) (int, error) {
	ims, err := h.d.Store.Unfinished(ctx, minAge)
	if err != nil {
		return 0, err
	}
	ended, err := h.d.Store.Unnotified(ctx, minAge)
	if err != nil {
		return 0, err
	}
	ims = append(ims, ended...)
	if h.d.JournalRetention > 0 {
		// Part of the sweep, so that it runs by itself on every worker; a
		// failure is logged and the sweep goes on.
		if n, err := h.d.Store.PruneJournal(ctx, h.d.JournalRetention); err != nil {
			if ctx.Err() != nil {
				return 0, err
			}
			h.d.Log.Warn("journal prune failed", zap.Error(err))
		} else if n > 0 {
			h.d.Log.Info("journal pruned", zap.Int("imports", n))
		}
	}
	var (
		enqueued, failed int
		first            error
	)
	// One import that cannot be swept (its rows unreadable, say) must not
	// hold back the imports after it, every minute.
	for _, im := range ims {
		n, err := h.sweepImport(ctx, im.Tenant, im.ID)
		enqueued += n
		if err != nil {
			if ctx.Err() != nil {
				return enqueued, err
			}
			h.d.Log.Warn("sweep skipped an import", zap.String("tenant", im.Tenant), zap.Int64("import_id", im.ID), zap.Error(err))
			if failed++; first == nil {
				first = err
			}
		}
	}
	if enqueued > 0 {
		h.d.Log.Info("sweep put tasks back", zap.Int("imports", len(ims)), zap.Int("tasks", enqueued))
	}
	if first != nil {
		return enqueued, fmt.Errorf("sweep: %d of %d imports failed, the first: %w", failed, len(ims), first)
	}
	return enqueued, nil
}

// sweepImport puts back the tasks one unfinished import is missing.
func (h *Handlers) sweepImport(ctx context.Context, tenant string, id int64) (int, error) {
	job, err := h.d.Store.Job(ctx, tenant, id)
	if err != nil {
		return 0, err
	}
	switch {
	case job.Kind == lifecycle.KindLocal && !job.State.Ended():
		return 0, nil // applied by the importctl process that started it
	case job.State.Ended():
		return 1, h.enqueueFinalize(ctx, tenant, id)
	case job.Plan == nil:
		return 1, h.intake().Enqueue(ctx, tenant, id, job.Kind)
	case job.ChunksDone == job.Chunks:
		return 1, h.enqueueFinalize(ctx, tenant, id)
	}
	return h.enqueueChunks(ctx, tenant, id)
}

// NewHandlers returns the handlers, for the sweep; NewServeMux wires the same
// ones to asynq.
func NewHandlers(d Deps) *Handlers {
	return &Handlers{d: withDefaults(d), workerID: newWorkerID()}
}
