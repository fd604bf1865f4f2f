package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/userimport/userimport/internal/lifecycle"
)

// ErrStaleLease says a chunk's lease was handed to a newer generation (its
// worker's heartbeat had stopped): the task of the older generation must not
// apply the chunk.
var ErrStaleLease = errors.New("the chunk was handed to a newer generation")

// Lease is a worker's claim on a running chunk.
type Lease struct {
	Worker     string
	Generation int
}

// ClaimChunk gives c's lease to worker for generation gen, with a fresh
// heartbeat. It fails with ErrStaleLease if the lease has a newer
// generation: the task is a copy the sweep has replaced. A chunk held by a
// live worker of the same generation (a redelivered task) is taken over, as
// asynq only redelivers a task it thinks lost.
func (s *Store) ClaimChunk(ctx context.Context, c Chunk, l Lease) error {
	var gen int
	err := s.pool.QueryRow(ctx, `INSERT INTO chunk_leases AS l (tenant_id, import_id, seq, worker_id, generation)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (tenant_id, import_id, seq) DO UPDATE SET worker_id = $4, generation = $5, heartbeat_at = now()
		WHERE l.generation <= $5
		RETURNING generation`, c.Tenant, c.ImportID, c.Seq, l.Worker, l.Generation).Scan(&gen)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("chunk %d of import %d, generation %d: %w", c.Seq, c.ImportID, l.Generation, ErrStaleLease)
	}
	return err
}

// HeartbeatChunk renews c's lease, and fails with ErrStaleLease if the lease
// is no longer l (the sweep handed the chunk on).
func (s *Store) HeartbeatChunk(ctx context.Context, c Chunk, l Lease) error {
	tag, err := s.pool.Exec(ctx, `UPDATE chunk_leases SET heartbeat_at = now()
		WHERE tenant_id = $1 AND import_id = $2 AND seq = $3 AND worker_id = $4 AND generation = $5`,
		c.Tenant, c.ImportID, c.Seq, l.Worker, l.Generation)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("chunk %d of import %d, generation %d: %w", c.Seq, c.ImportID, l.Generation, ErrStaleLease)
	}
	return nil
}

// ReleaseChunk gives up c's lease if it is still l. The lease of a chunk
// done is dropped; that of a chunk whose task goes back to asynq (a retry, or
// throttled) keeps its generation, with no worker, so that an older
// generation's task still cannot claim it.
func (s *Store) ReleaseChunk(ctx context.Context, c Chunk, l Lease, done bool) error {
	q := `UPDATE chunk_leases SET worker_id = ''`
	if done {
		q = `DELETE FROM chunk_leases`
	}
	_, err := s.pool.Exec(ctx, q+`
		WHERE tenant_id = $1 AND import_id = $2 AND seq = $3 AND worker_id = $4 AND generation = $5`,
		c.Tenant, c.ImportID, c.Seq, l.Worker, l.Generation)
	return err
}

// ChunkGenerations returns the lease generation of each of an import's
// chunks that has one, so that a sweep enqueues a chunk under its current
// task ID.
func (s *Store) ChunkGenerations(ctx context.Context, tenant string, importID int64) (map[int]int, error) {
	rows, err := s.pool.Query(ctx, `SELECT seq, generation FROM chunk_leases WHERE tenant_id = $1 AND import_id = $2`, tenant, importID)
	if err != nil {
		return nil, err
	}
	gens := map[int]int{}
	var seq, gen int
	_, err = pgx.ForEachRow(rows, []any{&seq, &gen}, func() error { gens[seq] = gen; return nil })
	return gens, err
}

// OrphanChunk is a chunk whose worker stopped renewing its lease, handed on
// to Generation.
type OrphanChunk struct {
	Chunk
	Generation int
}

// TakeOrphans hands on, over all tenants, the pending chunks whose lease was
// last renewed more than deadAfter ago: each lease gets the next generation
// and no worker, so that only a task of that generation may apply the chunk,
// and the caller enqueues one. Leases of chunks done meanwhile are dropped.
func (s *Store) TakeOrphans(ctx context.Context, deadAfter time.Duration) ([]OrphanChunk, error) {
	ms := deadAfter.Milliseconds()
	if _, err := s.pool.Exec(ctx, `DELETE FROM chunk_leases l USING import_chunks c
		WHERE l.worker_id <> '' AND l.heartbeat_at < now() - $1 * interval '1 millisecond'
		  AND c.tenant_id = l.tenant_id AND c.import_id = l.import_id AND c.seq = l.seq AND c.state = $2`,
		ms, lifecycle.ChunkDone); err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `UPDATE chunk_leases SET generation = generation + 1, worker_id = '', heartbeat_at = now()
		WHERE worker_id <> '' AND heartbeat_at < now() - $1 * interval '1 millisecond'
		RETURNING tenant_id, import_id, seq, generation`, ms)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (OrphanChunk, error) {
		var o OrphanChunk
		err := r.Scan(&o.Tenant, &o.ImportID, &o.Seq, &o.Generation)
		return o, err
	})
}

// checkLease fails with ErrStaleLease unless c's lease is l, in the
// applying transaction; the row is share-locked so that the sweep cannot
// hand the chunk on before this transaction ends.
func checkLease(ctx context.Context, tx pgx.Tx, c Chunk, l Lease) error {
	var gen int
	err := tx.QueryRow(ctx, `SELECT generation FROM chunk_leases
		WHERE tenant_id = $1 AND import_id = $2 AND seq = $3 AND worker_id = $4 FOR SHARE`,
		c.Tenant, c.ImportID, c.Seq, l.Worker).Scan(&gen)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && gen != l.Generation) {
		return fmt.Errorf("chunk %d of import %d, generation %d: %w", c.Seq, c.ImportID, l.Generation, ErrStaleLease)
	}
	return err
}
