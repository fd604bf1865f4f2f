package worker

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hibiken/asynq"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/csvfile"
	"github.com/userimport/userimport/internal/intake"
	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/mail"
	"github.com/userimport/userimport/internal/metrics"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/s3store"
	"github.com/userimport/userimport/internal/task"
	"github.com/userimport/userimport/internal/tenantlimit"
	"github.com/userimport/userimport/internal/userfile"
	"github.com/userimport/userimport/internal/userrow"
)

// Files is the object store as the handlers use it.
type Files interface {
	Bucket() string
	Head(ctx context.Context, key string) (s3store.Object, error)
	OpenRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
	Put(ctx context.Context, key string, body []byte, contentType string) (s3store.Object, error)
	UploadLean(ctx context.Context, key string, r io.Reader, contentType string) (s3store.Object, error)
	PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error)
}

// Enqueuer puts tasks on the queue (an *asynq.Client).
type Enqueuer interface {
	EnqueueContext(ctx context.Context, t *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

// Mailer sends result e-mails (a *mail.Sender).
type Mailer interface {
	Send(ctx context.Context, to []string, r mail.Result) error
}

var (
	_ Files      = (*s3store.Store)(nil)
	_ Enqueuer   = (*asynq.Client)(nil)
	_ Mailer     = (*mail.Sender)(nil)
	_ TaskRunner = (*asynq.Inspector)(nil)
)

// Deps are what the handlers work with.
type Deps struct {
	Store     *postgres.Store
	Files     Files
	Queue     Enqueuer
	Mail      Mailer
	Log       *zap.Logger
	ChunkSize int   // records per chunk; 0: DefaultChunkSize
	MaxFile   int64 // bytes; 0: csvfile.DefaultMaxFileBytes
	// AttachLimit is the largest error report attached to the e-mail; a larger
	// one is linked (presigned, valid a week). 0: 5 MiB.
	AttachLimit int
	// NotifyMax is how many addresses an import's e-mail goes to
	// (NOTIFY_MAX_RECIPIENTS); 0: mail.DefaultMaxRecipients.
	NotifyMax int
	// PublicURL is where browsers reach the producer (PUBLIC_URL): the
	// e-mail links the import's page under it; "": no link.
	PublicURL string
	// JournalRetention is how long the change journal keeps an import's
	// changes (JOURNAL_RETENTION); the sweep drops older ones. 0: never.
	JournalRetention time.Duration
	// Namespace prefixes the queue names (QUEUE_NAMESPACE).
	Namespace task.Namespace
	// Metrics counts what the handlers do; nil counts nothing.
	Metrics *metrics.Importer
	// Limiter caps each tenant's chunks in flight (TENANT_CHUNK_LIMIT); nil:
	// no cap.
	Limiter *tenantlimit.Limiter
	// Runner moves a throttled chunk from the retry set to the queue when a
	// slot frees (an *asynq.Inspector); nil: it waits for its retry.
	Runner TaskRunner
	// Tracer makes a span of every task, continuing the trace its payload
	// carries, and passes the trace on to the tasks it enqueues; nil:
	// tracing off (no middleware). The store, files and mailer trace their
	// own calls when built with it (postgres.WithTracing, …).
	Tracer trace.TracerProvider
	// Heartbeat is how often a running chunk renews its lease
	// (CHUNK_HEARTBEAT_INTERVAL), DeadAfter how old a lease may be before the
	// chunk is handed on (CHUNK_DEAD_AFTER); 0: DefaultHeartbeat,
	// DefaultDeadAfter.
	Heartbeat, DeadAfter time.Duration
}

// TaskRunner runs a waiting task now (an *asynq.Inspector).
type TaskRunner interface {
	RunTask(queue, id string) error
}

// DefaultChunkSize is the number of records in a chunk task.
const DefaultChunkSize = userfile.DefaultChunkSize

// Handlers carry out imports.
type Handlers struct {
	d        Deps
	workerID string // in the chunk leases this process holds
}

// intake starts imports (a feed run's) and puts lost plan tasks back.
func (h *Handlers) intake() *intake.Intake {
	return &intake.Intake{Store: h.d.Store, Queue: h.d.Queue, Namespace: h.d.Namespace, NotifyMax: h.d.NotifyMax, Tracer: h.d.Tracer}
}

// NewServeMux returns the asynq ServeMux with the import handlers.
func NewServeMux(d Deps) *asynq.ServeMux {
	return NewHandlers(d).ServeMux()
}

// ServeMux returns an asynq ServeMux with the handlers.
func (h *Handlers) ServeMux() *asynq.ServeMux {
	mux := asynq.NewServeMux()
	if h.d.Tracer != nil {
		mux.Use(h.traceTask)
	}
	mux.HandleFunc(task.TypeImportPlan, h.recordFailure(h.Plan))
	mux.HandleFunc(task.TypeImportChunk, h.leaseChunk(h.limitTenant(h.timeChunk(h.recordFailure(h.Chunk)))))
	mux.HandleFunc(task.TypeImportFinalize, h.recordFailure(h.Finalize))
	mux.HandleFunc(task.TypeFeedRun, h.FeedRun)
	mux.HandleFunc(task.TypeFeedDecided, h.FeedDecided)
	return mux
}

func withDefaults(d Deps) Deps {
	if d.ChunkSize <= 0 {
		d.ChunkSize = DefaultChunkSize
	}
	if d.MaxFile <= 0 {
		d.MaxFile = csvfile.DefaultMaxFileBytes
	}
	if d.AttachLimit <= 0 {
		d.AttachLimit = 5 << 20
	}
	if d.Heartbeat <= 0 {
		d.Heartbeat = DefaultHeartbeat
	}
	if d.DeadAfter <= 0 {
		d.DeadAfter = DefaultDeadAfter
	}
	return d
}

// Plan reads an import's source once: it rejects a bad file as a whole, or
// cuts it into chunks, stores them with what only the whole file shows, and
// enqueues a task per chunk. Run again, it enqueues the chunks again (their
// task IDs make the duplicates no-ops), so a crash between storing and
// enqueueing loses nothing.
func (h *Handlers) Plan(ctx context.Context, t *asynq.Task) error {
	p, err := task.Parse[task.ImportPlanPayload](t)
	if err != nil {
		return err
	}
	log := h.d.Log.With(zap.String("tenant", p.Tenant), zap.Int64("import_id", p.ImportID))
	job, err := h.job(ctx, p.Tenant, p.ImportID)
	if err != nil {
		return err
	}
	if job.State == lifecycle.ImportFinished {
		return nil
	}
	// A rejected import still needs its finalize: the plan that rejected it
	// may have stopped before enqueueing it, and the sweep only sees running
	// imports.
	if job.Plan == nil && job.State != lifecycle.ImportRejected {
		if err := h.plan(ctx, log, &job); err != nil {
			return err
		}
		if job, err = h.job(ctx, p.Tenant, p.ImportID); err != nil {
			return err
		}
	}
	if job.State == lifecycle.ImportRejected {
		return h.enqueueFinalize(ctx, p.Tenant, p.ImportID)
	}
	n, err := h.enqueueChunks(ctx, p.Tenant, p.ImportID)
	if err != nil {
		return err
	}
	log.Info("import planned", zap.Int("chunks", n))
	return nil
}

// enqueueChunks puts the import's pending chunks on the queue.
func (h *Handlers) enqueueChunks(ctx context.Context, tenant string, id int64) (int, error) {
	chunks, err := h.d.Store.Chunks(ctx, tenant, id)
	if err != nil {
		return 0, err
	}
	gens, err := h.d.Store.ChunkGenerations(ctx, tenant, id)
	if err != nil {
		return 0, err
	}
	enqueued := 0
	tc := task.TraceOf(ctx) // the chunks continue the plan's trace
	for _, c := range chunks {
		if c.Done {
			continue
		}
		t, err := task.NewImportChunk(task.ImportChunkPayload{
			Tenant: tenant, ImportID: id, Seq: c.Seq, Offset: c.Offset, Length: c.Length, FirstLine: c.FirstLine,
			Trace:      tc,
			Generation: gens[c.Seq],
		}, h.d.Namespace.Queue(task.QueueDefault))
		if err != nil {
			return enqueued, err
		}
		if err := h.enqueue(ctx, t); err != nil {
			return enqueued, err
		}
		enqueued++
	}
	return enqueued, nil
}

func (h *Handlers) plan(ctx context.Context, log *zap.Logger, job *postgres.Job) error {
	key, err := h.key(job.Source)
	if err != nil {
		return err
	}
	obj, err := h.d.Files.Head(ctx, key)
	if err != nil {
		if errors.Is(err, s3store.ErrNotFound) {
			return h.reject(ctx, job, fmt.Sprintf("the file %s does not exist (any more)", job.Source))
		}
		return err
	}
	if obj.Size > h.d.MaxFile {
		return h.reject(ctx, job, fmt.Sprintf("the file is %d MiB, more than the limit of %d MiB", obj.Size>>20, h.d.MaxFile>>20))
	}
	opts, err := h.fileOptions(ctx, job)
	if err != nil {
		return err
	}
	opts.SizeHint = obj.Size
	body, err := h.d.Files.OpenRange(ctx, key, 0, -1)
	if err != nil {
		return err
	}
	defer body.Close()
	start := time.Now()
	sink := &planSink{store: h.d.Store, tenant: job.Tenant, id: job.ID}
	plan, err := userfile.PlanFile(ctx, body, opts, h.d.ChunkSize, sink)
	if err == nil {
		err = sink.flush(ctx)
	}
	if err != nil {
		return fmt.Errorf("plan %s: %w", job.Source, err)
	}
	if plan.FileError != "" {
		return h.reject(ctx, job, plan.FileError)
	}
	if err := h.d.Store.SavePlan(ctx, job.Tenant, job.ID, plan); err != nil {
		return err
	}
	log.Info("file read", zap.Int("records", plan.Records), zap.Int("invalid", plan.Invalid),
		zap.Int("warnings", plan.Warnings), zap.Duration("took", time.Since(start)))
	return nil
}

// planSink stores what the plan finds in batches as it reads, so that the
// worker's memory does not grow with the file: chunks (with their Login
// fingerprints) and whole-file rejections.
type planSink struct {
	store  *postgres.Store
	tenant string
	id     int64
	chunks []userfile.Chunk
	lines  []int
	probs  []userrow.Problem
}

// Batches of about a thousand rows: a round trip each, a few hundred KiB.
const (
	sinkChunks  = 16
	sinkRejects = 1000
)

func (s *planSink) Chunk(ctx context.Context, c userfile.Chunk) error {
	s.chunks = append(s.chunks, c)
	if len(s.chunks) < sinkChunks {
		return nil
	}
	return s.flush(ctx)
}

func (s *planSink) FileReject(ctx context.Context, line int, p userrow.Problem) error {
	s.lines, s.probs = append(s.lines, line), append(s.probs, p)
	if len(s.lines) < sinkRejects {
		return nil
	}
	return s.flush(ctx)
}

func (s *planSink) flush(ctx context.Context) error {
	if err := s.store.AddFileRejects(ctx, s.tenant, s.id, s.lines, s.probs); err != nil {
		return err
	}
	if err := s.store.AddChunks(ctx, s.tenant, s.id, s.chunks); err != nil {
		return err
	}
	s.chunks, s.lines, s.probs = s.chunks[:0], s.lines[:0], s.probs[:0]
	return nil
}

// reject marks the import rejected as a whole; finalize then tells the uploader.
func (h *Handlers) reject(ctx context.Context, job *postgres.Job, reason string) error {
	return h.d.Store.RejectImport(ctx, job.Tenant, job.ID, reason)
}

// Chunk applies one chunk: its byte range is read from S3, validated with the
// tenant's role catalog and the plan's whole-file rejections, and written by
// the store's engine, effectively once. A chunk that must wait for an earlier
// import of its tenant goes back to the queue (ErrWaiting) before its file is
// read. The last chunk enqueues finalize.
func (h *Handlers) Chunk(ctx context.Context, t *asynq.Task) error {
	p, err := task.Parse[task.ImportChunkPayload](t)
	if err != nil {
		return err
	}
	log := h.d.Log.With(zap.String("tenant", p.Tenant), zap.Int64("import_id", p.ImportID), zap.Int("chunk", p.Seq))
	job, err := h.job(ctx, p.Tenant, p.ImportID)
	if err != nil {
		return err
	}
	if job.Plan == nil {
		return fmt.Errorf("chunk %d of import %d has no plan: %w", p.Seq, p.ImportID, asynq.SkipRetry)
	}
	chunk := postgres.Chunk{Tenant: p.Tenant, ImportID: p.ImportID, Seq: p.Seq}
	if err := h.d.Store.ChunkWaits(ctx, chunk); err != nil {
		return waiting(err)
	}
	key, err := h.key(job.Source)
	if err != nil {
		return err
	}
	opts, err := h.fileOptions(ctx, &job)
	if err != nil {
		return err
	}
	rejected, err := h.d.Store.FileRejects(ctx, p.Tenant, p.ImportID, p.Seq)
	if err != nil {
		return err
	}
	body, err := h.d.Files.OpenRange(ctx, key, p.Offset, p.Length)
	if err != nil {
		return err
	}
	defer body.Close()
	start := time.Now()
	spec := userfile.Chunk{Seq: p.Seq, Offset: p.Offset, Length: p.Length, FirstLine: p.FirstLine}
	recs, err := readRange(body, job.Plan.RangeOptions(opts, spec, rejected))
	if err != nil {
		return fmt.Errorf("read chunk %d of %s: %w", p.Seq, job.Source, err)
	}
	out, err := h.d.Store.ApplyChunk(ctx, chunk, recs,
		postgres.ApplyOptions{Defaults: userrow.Defaults{Today: job.CreatedAt}, DryRun: job.DryRun, Lease: chunkLease(ctx)})
	if err != nil {
		return waiting(err)
	}
	h.d.Metrics.ChunkApplied(chunkOutcome(p.Tenant, out, recs), time.Since(start))
	log.Info("chunk applied", zap.Int("created", out.Created), zap.Int("updated", out.Updated),
		zap.Int("unchanged", out.Unchanged), zap.Int("rejected", out.Rejected),
		zap.Bool("already_applied", out.AlreadyApplied), zap.Duration("took", time.Since(start)))
	im, err := h.d.Store.Import(ctx, p.Tenant, p.ImportID)
	if err != nil {
		return err
	}
	if im.ChunksDone == im.Chunks {
		return h.enqueueFinalize(ctx, p.Tenant, p.ImportID)
	}
	return nil
}

// ErrWaiting is returned for a chunk that must wait for an earlier import of
// its tenant (postgres.ErrWait): it goes back to the queue, which is not a
// failure (see IsFailure).
var ErrWaiting = errors.New("an earlier import of the tenant writes some of the same users first; put back")

func waiting(err error) error {
	if errors.Is(err, postgres.ErrWait) {
		return fmt.Errorf("%w: %w", ErrWaiting, err)
	}
	return err
}

// readRange reads a chunk's records, copying what the reader reuses.
func readRange(r io.Reader, opts userfile.Options) ([]postgres.Record, error) {
	rd := userfile.NewReader(r, opts)
	defer rd.Close()
	var recs []postgres.Record
	for {
		rec, err := rd.Read()
		if errors.Is(err, io.EOF) {
			return recs, nil
		}
		if err != nil {
			return nil, err
		}
		recs = append(recs, postgres.Record{Line: rec.Line, User: rec.User, Errors: rec.Errors, Raw: bytes.Clone(rec.Raw())})
	}
}

// fileOptions are the options the import was created with, and the tenant's
// role catalog as it is now.
func (h *Handlers) fileOptions(ctx context.Context, job *postgres.Job) (userfile.Options, error) {
	var opts userfile.Options
	var err error
	// The tenant's own options: their error is for the tenant to read.
	if opts.Delimiter, err = userfile.ParseDelimiter(job.Options.Delimiter); err != nil {
		return opts, fmt.Errorf("%w: %w", &tenantError{err}, asynq.SkipRetry)
	}
	if opts.Header, err = userrow.ParseHeaderMode(job.Options.Header); err != nil {
		return opts, fmt.Errorf("%w: %w", &tenantError{err}, asynq.SkipRetry)
	}
	opts.MaxFileBytes = h.d.MaxFile
	opts.Roles, err = h.d.Store.Roles(ctx, job.Tenant)
	return opts, err
}

// key returns the object key of an import's source, which must be in the
// worker's bucket.
func (h *Handlers) key(source string) (string, error) {
	bucket, key, err := s3store.ParseURL(source)
	if err != nil {
		return "", fmt.Errorf("source %q: %w: %w", source, err, asynq.SkipRetry)
	}
	if bucket != h.d.Files.Bucket() {
		return "", fmt.Errorf("source %q is not in bucket %s: %w", source, h.d.Files.Bucket(), asynq.SkipRetry)
	}
	return key, nil
}

func (h *Handlers) job(ctx context.Context, tenant string, id int64) (postgres.Job, error) {
	job, err := h.d.Store.Job(ctx, tenant, id)
	if errors.Is(err, postgres.ErrNotFound) {
		return job, fmt.Errorf("%w: %w", err, asynq.SkipRetry) // deleted, or another tenant's: never retry
	}
	return job, err
}

func (h *Handlers) enqueueFinalize(ctx context.Context, tenant string, id int64) error {
	t, err := task.NewImportFinalize(task.ImportFinalizePayload{Tenant: tenant, ImportID: id, Trace: task.TraceOf(ctx)}, h.d.Namespace.Queue(task.QueueCritical))
	if err != nil {
		return err
	}
	return h.enqueue(ctx, t)
}

// enqueue puts a task on the queue; one already there (same task ID) is fine.
func (h *Handlers) enqueue(ctx context.Context, t *asynq.Task) error {
	if _, err := h.d.Queue.EnqueueContext(ctx, t); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("enqueue %s: %w", t.Type(), err)
	}
	return nil
}

// final says whether asynq gives up on the task after err: SkipRetry, or its
// last retry.
func final(ctx context.Context, err error) bool {
	retried, _ := asynq.GetRetryCount(ctx)
	maxRetry, ok := asynq.GetMaxRetry(ctx)
	return errors.Is(err, asynq.SkipRetry) || (ok && retried >= maxRetry)
}

// recordFailure marks the task's import failed, with a reason for the tenant,
// when the task fails for good (asynq.SkipRetry, or its last retry), and
// queues finalize so that the uploader is told. Transient failures go back to
// asynq for a retry.
func (h *Handlers) recordFailure(next asynq.HandlerFunc) asynq.HandlerFunc {
	return func(ctx context.Context, t *asynq.Task) error {
		err := next(ctx, t)
		if err == nil || errors.Is(err, errNotYet) || !IsFailure(err) || !final(ctx, err) {
			return err
		}
		var ids struct {
			Tenant   string `json:"tenant"`
			ImportID int64  `json:"import_id"`
		}
		if json.Unmarshal(t.Payload(), &ids) != nil || ids.Tenant == "" || ids.ImportID == 0 {
			return err
		}
		failed, ferr := h.d.Store.FailImport(ctx, ids.Tenant, ids.ImportID, h.failureReason(t, ids.Tenant, ids.ImportID, err))
		if ferr != nil {
			return errors.Join(err, ferr)
		}
		if failed && t.Type() != task.TypeImportFinalize {
			if ferr := h.enqueueFinalize(ctx, ids.Tenant, ids.ImportID); ferr != nil {
				return errors.Join(err, ferr)
			}
		}
		return err
	}
}

// tenantError is an error whose text is for the tenant: it says what in their
// file or options is wrong, and an import that fails with it shows it as it
// is. Every other error is internal (see failureReason).
type tenantError struct{ Err error }

func (e *tenantError) Error() string { return e.Err.Error() }
func (e *tenantError) Unwrap() error { return e.Err }

// failureReason is what the tenant sees of err, the error that failed an
// import for good: a tenantError as it is; any other error, whose text may
// name internal hosts, buckets or queries (SDK, pgx and Redis errors do), as
// a reference that the log ties to the detail. The task's error still goes to
// asynq, which logs every failed attempt; this is the import's failure,
// logged once.
func (h *Handlers) failureReason(t *asynq.Task, tenant string, importID int64, err error) string {
	if te, ok := errors.AsType[*tenantError](err); ok {
		return te.Error()
	}
	ref := newReference()
	h.d.Log.Error("import failed", zap.String("ref", ref), zap.String("tenant", tenant), zap.Int64("import_id", importID),
		zap.String("task", t.Type()), zap.Error(err))
	return "internal error, reference " + ref +
		": the import could not be completed; upload the file again later, or quote the reference to your operator"
}

// newReference returns a short random reference for an internal error, such
// as E-3f9a1c2b: unique enough to find in the logs of a few weeks, short
// enough to quote on the phone.
func newReference() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return "E-" + hex.EncodeToString(b)
}
