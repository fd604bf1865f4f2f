// Package task holds the asynq task types and payloads: the only contract
// between the producer and the workers. Payloads carry IDs and byte ranges,
// never rows: a chunk's records are read from S3 by the worker that applies
// them.
//
// Every task has a deterministic TaskID, so that enqueueing the same work
// twice (a redelivered plan, a sweep after a crash) makes one task.
package task

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// Task types, asynq's "<domain>:<verb>".
const (
	TypeImportPlan     = "import:plan"
	TypeImportChunk    = "import:chunk"
	TypeImportFinalize = "import:finalize"
)

// Queues. Finalizing an import (the report and the e-mail the uploader waits
// for) goes before more chunks; bulk is for large and scheduled imports.
const (
	QueueCritical = "critical"
	QueueDefault  = "default"
	QueueBulk     = "bulk"
)

// Namespace prefixes the queue names, so that several deployments (or test
// runs) can share one Redis without taking each other's tasks. The zero value
// is the plain names.
type Namespace string

// Queue returns the name of queue q in the namespace.
func (n Namespace) Queue(q string) string {
	if n == "" {
		return q
	}
	return string(n) + "-" + q
}

// Queues are the namespace's queues with their priorities, for asynq.Config.
func (n Namespace) Queues() map[string]int {
	return map[string]int{n.Queue(QueueCritical): 6, n.Queue(QueueDefault): 3, n.Queue(QueueBulk): 1}
}

// ImportPlanPayload asks a worker to read an import's source once and cut it
// into chunks.
type ImportPlanPayload struct {
	Tenant   string `json:"tenant"`
	ImportID int64  `json:"import_id"`
	Trace    Trace  `json:"trace,omitempty"`
}

// ImportChunkPayload asks a worker to apply one chunk: a byte range of the
// import's source object, starting at a record boundary.
type ImportChunkPayload struct {
	Tenant    string `json:"tenant"`
	ImportID  int64  `json:"import_id"`
	Seq       int    `json:"seq"`
	Offset    int64  `json:"offset"`
	Length    int64  `json:"length"`
	FirstLine int    `json:"first_line"`
	Trace     Trace  `json:"trace,omitempty"`
	// Generation is the chunk's lease generation (postgres.ClaimChunk): 0
	// as planned, one more each time the sweep hands on a chunk whose worker
	// died. It is part of the task ID, so that the new task is not taken for
	// the dead one still on asynq's books.
	Generation int `json:"generation,omitempty"`
}

// ImportFinalizePayload asks a worker to finish an import whose chunks are all
// applied: the error report, the summary, the e-mail.
type ImportFinalizePayload struct {
	Tenant   string `json:"tenant"`
	ImportID int64  `json:"import_id"`
	Trace    Trace  `json:"trace,omitempty"`
}

// How long a task may run before asynq considers it lost, and how often it is
// retried. A chunk is one transaction of a few thousand records.
const (
	planTimeout     = 30 * time.Minute
	chunkTimeout    = 5 * time.Minute
	finalizeTimeout = 10 * time.Minute
	maxRetry        = 10
)

// NewImportPlan returns the plan task of an import.
func NewImportPlan(p ImportPlanPayload, queue string) (*asynq.Task, error) {
	return newTask(TypeImportPlan, p, fmt.Sprintf("plan:%s:%d", p.Tenant, p.ImportID),
		asynq.Queue(queue), asynq.Timeout(planTimeout))
}

// NewImportChunk returns the task of one chunk of an import.
func NewImportChunk(p ImportChunkPayload, queue string) (*asynq.Task, error) {
	id := fmt.Sprintf("chunk:%s:%d:%d", p.Tenant, p.ImportID, p.Seq)
	if p.Generation > 0 {
		id += fmt.Sprintf(":g%d", p.Generation)
	}
	return newTask(TypeImportChunk, p, id,
		asynq.Queue(queue), asynq.Timeout(chunkTimeout))
}

// NewImportFinalize returns the finalize task of an import (for the critical
// queue: the uploader is waiting).
func NewImportFinalize(p ImportFinalizePayload, queue string) (*asynq.Task, error) {
	return newTask(TypeImportFinalize, p, fmt.Sprintf("finalize:%s:%d", p.Tenant, p.ImportID),
		asynq.Queue(queue), asynq.Timeout(finalizeTimeout))
}

func newTask(typ string, payload any, id string, opts ...asynq.Option) (*asynq.Task, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", typ, err)
	}
	opts = append(opts, asynq.TaskID(id), asynq.MaxRetry(maxRetry), asynq.Retention(24*time.Hour))
	return asynq.NewTask(typ, b, opts...), nil
}

// Parse decodes a task's payload into p. A payload that does not decode, or
// names no tenant or import, will never succeed: the error wraps
// asynq.SkipRetry.
func Parse[P ImportPlanPayload | ImportChunkPayload | ImportFinalizePayload](t *asynq.Task) (P, error) {
	var p P
	if err := json.Unmarshal(t.Payload(), &p); err != nil {
		return p, fmt.Errorf("decode %s: %w: %w", t.Type(), err, asynq.SkipRetry)
	}
	var tenant string
	var id int64
	switch v := any(p).(type) {
	case ImportPlanPayload:
		tenant, id = v.Tenant, v.ImportID
	case ImportChunkPayload:
		tenant, id = v.Tenant, v.ImportID
	case ImportFinalizePayload:
		tenant, id = v.Tenant, v.ImportID
	}
	if tenant == "" || id <= 0 {
		return p, fmt.Errorf("decode %s: no tenant or import id: %w", t.Type(), asynq.SkipRetry)
	}
	return p, nil
}
