package worker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/task"
)

// Defaults of Deps.Heartbeat and Deps.DeadAfter (CHUNK_HEARTBEAT_INTERVAL,
// CHUNK_DEAD_AFTER).
const (
	DefaultHeartbeat = 2 * time.Second
	DefaultDeadAfter = 8 * time.Second
)

// leaseKey is the context key of the running chunk's lease.
type leaseKey struct{}

// errLeaseLost is the cause of a chunk's context when the sweep handed the
// chunk on: its heartbeat was found stopped, so another task now runs it.
var errLeaseLost = errors.New("the chunk's lease was handed on")

// leaseChunk claims the chunk's lease in PostgreSQL before anything else
// (the tenant's slot included) and renews it, and the tenant slot with it,
// every heartbeat while the chunk runs. A worker killed mid-chunk stops
// renewing both: after DeadAfter the sweep (SweepOrphans) hands the chunk to
// another worker, and the slot has ended too. A task of a generation the
// sweep has replaced is dropped: its chunk has been enqueued again.
func (h *Handlers) leaseChunk(next asynq.HandlerFunc) asynq.HandlerFunc {
	return func(ctx context.Context, t *asynq.Task) error {
		p, err := task.Parse[task.ImportChunkPayload](t)
		if err != nil {
			return err
		}
		c := postgres.Chunk{Tenant: p.Tenant, ImportID: p.ImportID, Seq: p.Seq}
		l := postgres.Lease{Worker: h.workerID, Generation: p.Generation}
		log := h.d.Log.With(zap.String("tenant", p.Tenant), zap.Int64("import_id", p.ImportID), zap.Int("chunk", p.Seq), zap.Int("generation", p.Generation))
		if err := h.d.Store.ClaimChunk(ctx, c, l); err != nil {
			if errors.Is(err, postgres.ErrStaleLease) {
				log.Info("chunk task replaced by a newer generation; dropped")
				return nil
			}
			return err
		}
		holder, _ := asynq.GetTaskID(ctx)
		ctx, cancel := context.WithCancelCause(context.WithValue(ctx, leaseKey{}, l))
		beat := make(chan struct{})
		go func() {
			defer close(beat)
			h.heartbeat(ctx, cancel, log, c, l, holder)
		}()
		err = next(ctx, t)
		lost := errors.Is(context.Cause(ctx), errLeaseLost)
		cancel(nil)
		<-beat
		if lost {
			log.Warn("chunk handed on while it ran; its new task applies it")
			return nil
		}
		if errors.Is(err, postgres.ErrStaleLease) {
			log.Info("chunk handed on before it was applied; its new task applies it")
			return nil
		}
		if rerr := h.d.Store.ReleaseChunk(context.WithoutCancel(ctx), c, l, err == nil); rerr != nil {
			log.Warn("chunk lease not released; the sweep hands it on", zap.Error(rerr))
		}
		return err
	}
}

// heartbeat renews the lease (and the tenant's slot of holder) until ctx
// ends, and cancels the chunk if the lease was handed on.
func (h *Handlers) heartbeat(ctx context.Context, cancel context.CancelCauseFunc, log *zap.Logger, c postgres.Chunk, l postgres.Lease, holder string) {
	tick := time.NewTicker(h.d.Heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		err := h.d.Store.HeartbeatChunk(ctx, c, l)
		if errors.Is(err, postgres.ErrStaleLease) {
			cancel(errLeaseLost)
			return
		}
		if err != nil && ctx.Err() == nil {
			log.Warn("chunk heartbeat failed", zap.Error(err))
		}
		if h.d.Limiter != nil {
			if _, err := h.d.Limiter.Renew(ctx, c.Tenant, holder); err != nil && ctx.Err() == nil {
				log.Warn("tenant slot not renewed", zap.Error(err))
			}
		}
	}
}

// chunkLease is the lease the running chunk holds, if leaseChunk wraps it.
func chunkLease(ctx context.Context) *postgres.Lease {
	if l, ok := ctx.Value(leaseKey{}).(postgres.Lease); ok {
		return &l
	}
	return nil
}

// SweepOrphans hands on the chunks whose lease has not been renewed for
// DeadAfter (their worker was killed, or lost PostgreSQL): each gets the
// next generation and is enqueued under that generation's task ID, so that
// asynq's copy of the dead task, whenever asynq recovers it, is dropped.
func (h *Handlers) SweepOrphans(ctx context.Context) (int, error) {
	orphans, err := h.d.Store.TakeOrphans(ctx, h.d.DeadAfter)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, o := range orphans {
		if err := h.enqueueChunk(ctx, o.Chunk, o.Generation); err != nil {
			// The lease has no worker now: the minute's sweep enqueues the
			// chunk under its generation's ID.
			return n, err
		}
		h.d.Log.Warn("chunk handed on: its worker stopped renewing its lease", zap.String("tenant", o.Tenant),
			zap.Int64("import_id", o.ImportID), zap.Int("chunk", o.Seq), zap.Int("generation", o.Generation))
		n++
	}
	return n, nil
}

// enqueueChunk enqueues chunk c of generation gen from its stored plan.
func (h *Handlers) enqueueChunk(ctx context.Context, c postgres.Chunk, gen int) error {
	chunks, err := h.d.Store.Chunks(ctx, c.Tenant, c.ImportID)
	if err != nil {
		return err
	}
	for _, sc := range chunks {
		if sc.Seq != c.Seq {
			continue
		}
		if sc.Done {
			return nil
		}
		t, err := task.NewImportChunk(task.ImportChunkPayload{
			Tenant: c.Tenant, ImportID: c.ImportID, Seq: sc.Seq, Offset: sc.Offset, Length: sc.Length, FirstLine: sc.FirstLine,
			Generation: gen,
		}, h.d.Namespace.Queue(task.QueueDefault))
		if err != nil {
			return err
		}
		return h.enqueue(ctx, t)
	}
	return fmt.Errorf("chunk %d of import %d: %w", c.Seq, c.ImportID, postgres.ErrNotFound)
}

// newWorkerID names this worker process in the leases it holds.
func newWorkerID() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s:%d:%s", host, os.Getpid(), newReference()[2:])
}
