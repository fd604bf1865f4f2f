package worker

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/task"
)

// Sweep puts back on the queue what PostgreSQL says is unfinished: the plan of
// an import never planned, the chunks not applied, the finalize of an import
// whose chunks are all done. It covers a crash between a commit and the
// enqueue that should follow it, and tasks lost with Redis. Tasks still on
// the queue are not duplicated: their IDs are deterministic. Imports younger
// than minAge are left to the tasks in flight.
func (h *Handlers) Sweep(ctx context.Context, minAge time.Duration) (int, error) {
	ims, err := h.d.Store.Unfinished(ctx, minAge)
	if err != nil {
		return 0, err
	}
	enqueued := 0
	for _, im := range ims {
		job, err := h.d.Store.Job(ctx, im.Tenant, im.ID)
		if err != nil {
			return enqueued, err
		}
		if job.Plan == nil {
			t, err := task.NewImportPlan(task.ImportPlanPayload{Tenant: im.Tenant, ImportID: im.ID}, h.d.Namespace.Queue(task.QueueDefault))
			if err != nil {
				return enqueued, err
			}
			if err := h.enqueue(ctx, t); err != nil {
				return enqueued, err
			}
			enqueued++
			continue
		}
		if job.ChunksDone == job.Chunks {
			if err := h.enqueueFinalize(ctx, im.Tenant, im.ID); err != nil {
				return enqueued, err
			}
			enqueued++
			continue
		}
		chunks, err := h.d.Store.Chunks(ctx, im.Tenant, im.ID)
		if err != nil {
			return enqueued, err
		}
		for _, c := range chunks {
			if c.Done {
				continue
			}
			t, err := task.NewImportChunk(task.ImportChunkPayload{Tenant: im.Tenant, ImportID: im.ID, Seq: c.Seq,
				Offset: c.Offset, Length: c.Length, FirstLine: c.FirstLine}, h.d.Namespace.Queue(task.QueueDefault))
			if err != nil {
				return enqueued, err
			}
			if err := h.enqueue(ctx, t); err != nil {
				return enqueued, err
			}
			enqueued++
		}
	}
	if enqueued > 0 {
		h.d.Log.Info("sweep put tasks back", zap.Int("imports", len(ims)), zap.Int("tasks", enqueued))
	}
	return enqueued, nil
}

// NewHandlers returns the handlers, for the sweep; NewServeMux wires the same
// ones to asynq.
func NewHandlers(d Deps) *Handlers {
	return &Handlers{d: withDefaults(d)}
}
