// Package intake is the one way an import starts: it checks what was asked,
// records the import (postgres.Store.CreateImport) and enqueues its first
// task on the queue its kind belongs to. The API, the S3 events endpoint,
// the web pages, importctl, a feed run and a retry all come through Start (or
// StartFeedRun, Retry); the sweep and a redelivered feed run put a lost plan
// task back with Enqueue.
package intake

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hibiken/asynq"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/mail"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/task"
	"github.com/userimport/userimport/internal/tracing"
	"github.com/userimport/userimport/internal/userfile"
	"github.com/userimport/userimport/internal/userrow"
)

// Queue puts tasks on the queue (an *asynq.Client).
type Queue interface {
	EnqueueContext(ctx context.Context, t *asynq.Task, opts ...asynq.Option) (*asynq.TaskInfo, error)
}

var _ Queue = (*asynq.Client)(nil)

// Intake starts imports.
type Intake struct {
	Store     *postgres.Store
	Queue     Queue // nil only for local imports, which run in the caller's process
	Namespace task.Namespace
	NotifyMax int // addresses an import may notify (NOTIFY_MAX_RECIPIENTS); 0: mail.DefaultMaxRecipients
	// Tracer traces the start and the enqueue; the plan task carries the
	// trace on (task.Trace). nil: tracing off.
	Tracer trace.TracerProvider
}

func (in *Intake) tracer() trace.Tracer {
	return tracing.Tracer(in.Tracer, "github.com/userimport/userimport/internal/intake")
}

// ErrNothingToRetry says an import has no rejected record to retry.
var ErrNothingToRetry = errors.New("the import has no rejected records to retry: it is not finished, or it rejected none")

// InvalidError is a request the caller can fix; its text says how.
type InvalidError struct{ Reason string }

func (e *InvalidError) Error() string { return e.Reason }

// Check validates what an import is asked to do, before anything is stored
// (an upload is checked before its file is written).
func Check(n postgres.NewImport) error {
	if err := postgres.ValidTenant(n.Tenant); err != nil {
		return &InvalidError{Reason: err.Error()}
	}
	if n.Kind != "" && !n.Kind.Valid() {
		return &InvalidError{Reason: fmt.Sprintf("import kind %q: use one of %v", n.Kind, lifecycle.Kinds())}
	}
	if n.Kind == lifecycle.KindUndo {
		return &InvalidError{Reason: "an undo has no file: start it with Undo"}
	}
	return CheckOptions(n.Options)
}

// CheckOptions validates an import's options on their own: an entry point
// that reads them in parts (a multipart upload) checks them before it stores
// anything.
func CheckOptions(o lifecycle.Options) error {
	if _, err := userfile.ParseDelimiter(o.Delimiter); err != nil {
		return &InvalidError{Reason: err.Error()}
	}
	if _, err := userrow.ParseHeaderMode(o.Header); err != nil {
		return &InvalidError{Reason: err.Error()}
	}
	return nil // the addresses: see Recipients, which needs the tenant's settings
}

// Recipients checks the addresses an import notifies (mail.Recipients): at
// most NotifyMax bare addresses, in the domains the tenant allows. An entry
// point that stores a file first calls it before; Start calls it again.
func (in *Intake) Recipients(ctx context.Context, tenant string, addrs []string) ([]string, error) {
	if len(addrs) == 0 {
		return nil, nil
	}
	ts, err := in.Store.TenantSettings(ctx, tenant)
	if err != nil {
		return nil, err
	}
	return mail.Recipients(addrs, in.NotifyMax, ts.NotifyDomains)
}

// Start checks n, records the import and enqueues its plan. For an S3
// event's object version announced before it returns the existing import
// and false, and enqueues nothing. A local import is only recorded: its
// caller applies it.
func (in *Intake) Start(ctx context.Context, n postgres.NewImport) (_ postgres.Import, _ bool, err error) {
	if n.Kind == "" {
		n.Kind = lifecycle.KindUpload
	}
	ctx, span := in.tracer().Start(ctx, "import start", trace.WithAttributes(
		tracing.KeyTenant.String(n.Tenant), attribute.String("userimport.kind", string(n.Kind))))
	defer func() { tracing.End(span, err) }()
	if err := Check(n); err != nil {
		return postgres.Import{}, false, err
	}
	ts, err := in.Store.TenantSettings(ctx, n.Tenant)
	if err != nil {
		return postgres.Import{}, false, err
	}
	if len(n.Options.Notify) > 0 {
		if n.Options.Notify, err = mail.Recipients(n.Options.Notify, in.NotifyMax, ts.NotifyDomains); err != nil {
			var bad *mail.RecipientError
			if errors.As(err, &bad) {
				return postgres.Import{}, false, &InvalidError{Reason: bad.Error()}
			}
			return postgres.Import{}, false, err
		}
	}
	n.Options = withDefaults(n.Options, ts)
	id, created, err := in.Store.CreateImport(ctx, n)
	if err != nil {
		return postgres.Import{}, false, err
	}
	span.SetAttributes(tracing.KeyImportID.Int64(id), attribute.Bool("userimport.created", created))
	if created && n.Kind != lifecycle.KindLocal {
		if err := in.Enqueue(ctx, n.Tenant, id, n.Kind); err != nil {
			return postgres.Import{}, false, err
		}
	}
	im, err := in.Store.Import(ctx, n.Tenant, id)
	return im, created, err
}

// withDefaults fills in what o leaves to the tenant's settings. The default
// recipients were checked when they were set; the worker checks them again
// against the domains when it mails, so an S3 event is never refused for a
// setting changed since.
func withDefaults(o lifecycle.Options, ts postgres.TenantSettings) lifecycle.Options {
	if len(o.Notify) == 0 {
		o.Notify = slices.Clone(ts.DefaultNotify)
	}
	if o.Delimiter == "" {
		o.Delimiter = ts.DefaultDelimiter
	}
	if o.Header == "" {
		o.Header = ts.DefaultHeader
	}
	return o
}

// CheckSettings checks and normalises a change of a tenant's settings: the
// domains (mail.Domains), the default recipients against the domains they
// will have to be in (the new ones, or the stored ones), the delimiter and
// the header mode.
func (in *Intake) CheckSettings(ctx context.Context, tenant string, c postgres.TenantSettingsChange) (postgres.TenantSettingsChange, error) {
	if err := postgres.ValidTenant(tenant); err != nil {
		return c, &InvalidError{Reason: err.Error()}
	}
	ts, err := in.Store.TenantSettings(ctx, tenant)
	if err != nil {
		return c, err
	}
	if c.NotifyDomains != nil {
		d, err := mail.Domains(*c.NotifyDomains)
		if err != nil {
			return c, &InvalidError{Reason: "notify domains: " + err.Error()}
		}
		c.NotifyDomains, ts.NotifyDomains = &d, d
	}
	// New domains must keep the stored default recipients, as new
	// recipients must be in the domains.
	if to := ts.DefaultNotify; c.DefaultNotify != nil || c.NotifyDomains != nil {
		if c.DefaultNotify != nil {
			to = *c.DefaultNotify
		}
		if len(to) > 0 {
			to, err := mail.Recipients(to, in.NotifyMax, ts.NotifyDomains)
			if err != nil {
				return c, &InvalidError{Reason: "default recipients: " + err.Error()}
			}
			if c.DefaultNotify != nil {
				c.DefaultNotify = &to
			}
		}
	}
	// Stored by their names ("" for auto, which is the service's default),
	// as the options and the upload page name them.
	if c.DefaultDelimiter != nil {
		d, err := userfile.ParseDelimiter(*c.DefaultDelimiter)
		if err != nil {
			return c, &InvalidError{Reason: "default delimiter: " + err.Error()}
		}
		name := userfile.DelimiterName(d)
		c.DefaultDelimiter = &name
	}
	if c.DefaultHeader != nil {
		m, err := userrow.ParseHeaderMode(*c.DefaultHeader)
		if err != nil {
			return c, &InvalidError{Reason: "default header: " + err.Error()}
		}
		name := ""
		if m != userrow.HeaderAuto {
			name = m.String()
		}
		c.DefaultHeader = &name
	}
	return c, nil
}

// Enqueue puts the plan task of an import on its kind's queue. The task ID
// is the import's, so a plan already queued or kept is not queued twice.
func (in *Intake) Enqueue(ctx context.Context, tenant string, id int64, kind lifecycle.Kind) (err error) {
	queue := in.Namespace.Queue(task.QueueDefault)
	if kind.Bulk() {
		queue = in.Namespace.Queue(task.QueueBulk)
	}
	ctx, span := in.tracer().Start(ctx, "enqueue "+task.TypeImportPlan, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(tracing.Import(tenant, id)...),
		trace.WithAttributes(attribute.String("messaging.system", "asynq"), attribute.String("messaging.destination.name", queue)))
	defer func() { tracing.End(span, err) }()
	t, err := task.NewImportPlan(task.ImportPlanPayload{Tenant: tenant, ImportID: id, Trace: task.TraceOf(ctx)}, queue)
	if err != nil {
		return err
	}
	if _, err := in.Queue.EnqueueContext(ctx, t); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("queue import %d: %w", id, err)
	}
	return nil
}

// EnqueueFeedDecided queues the e-mail that a held feed run was decided
// (once per run: its task ID).
func (in *Intake) EnqueueFeedDecided(ctx context.Context, tenant string, runID int64) error {
	t, err := task.NewFeedDecided(task.FeedDecidedPayload{Tenant: tenant, RunID: runID}, in.Namespace.Queue(task.QueueDefault))
	if err != nil {
		return err
	}
	if _, err := in.Queue.EnqueueContext(ctx, t); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("queue the e-mail of feed run %d: %w", runID, err)
	}
	return nil
}

// ErrFeedDisabled refuses to run a disabled feed now: its runs would skip.
var ErrFeedDisabled = errors.New("the feed is disabled: enable it to run it")

// RunFeedNow queues a run of the feed scheduled for now, the scheduler's
// feed:run task with the time named (as its catch-up does): the worker
// records it once and imports the newest object only when it is new, so a
// second click, or a scheduled run at the same moment, imports nothing
// twice. It returns the time the run is scheduled for; a disabled feed is
// ErrFeedDisabled.
func (in *Intake) RunFeedNow(ctx context.Context, f *postgres.Feed, now time.Time) (time.Time, error) {
	at := now.UTC().Truncate(time.Second)
	if !f.Enabled {
		return at, fmt.Errorf("feed %s: %w", f.Name, ErrFeedDisabled)
	}
	t, err := task.NewFeedRun(task.FeedRunPayload{Tenant: f.Tenant, FeedID: f.ID, ScheduledFor: &at}, in.Namespace.Queue(task.QueueDefault))
	if err != nil {
		return at, err
	}
	if _, err := in.Queue.EnqueueContext(ctx, t); err != nil && !errors.Is(err, asynq.ErrDuplicateTask) {
		return at, fmt.Errorf("queue a run of feed %s: %w", f.Name, err)
	}
	return at, nil
}

// StartFeedRun records a feed's run and, when it has an object to import,
// the import, in one transaction, then enqueues the plan. It reports false
// when the run existed already (another scheduler or a redelivery started
// it): then it does nothing.
func (in *Intake) StartFeedRun(ctx context.Context, run postgres.NewFeedRun) (postgres.FeedRun, bool, error) {
	var n *postgres.NewImport
	if run.Source != "" {
		f := run.Feed
		n = &postgres.NewImport{
			Tenant: f.Tenant, Kind: lifecycle.KindFeed, Source: run.Source, SourceETag: run.ObjectETag, SourceSize: run.ObjectSize,
			Options:     lifecycle.Options{Delimiter: f.Delimiter, Header: f.Header, Notify: f.Notify, Feed: f.Name},
			RequestedBy: "feed " + f.Name,
		}
		if err := Check(*n); err != nil {
			return postgres.FeedRun{}, false, err
		}
	}
	r, started, err := in.Store.StartFeedRun(ctx, run, n)
	if err != nil || !started || n == nil {
		return r, started, err
	}
	return r, true, in.Enqueue(ctx, r.Tenant, r.ImportID, lifecycle.KindFeed)
}

// Retry starts a child import of the parent's rejected records: its source is
// the parent's error report, which is in the upload format (its Line and
// Errors columns are ignored on import). Retry after fixing what made the
// records fail elsewhere, such as a role missing from the catalog; to fix the
// records themselves, correct the report and upload it.
func (in *Intake) Retry(ctx context.Context, tenant string, parentID int64) (postgres.Import, error) {
	parent, err := in.Store.Job(ctx, tenant, parentID)
	if err != nil {
		return postgres.Import{}, err
	}
	if parent.State != lifecycle.ImportFinished || parent.Report == "" || parent.Rejected == 0 {
		return postgres.Import{}, ErrNothingToRetry
	}
	im, _, err := in.Start(ctx, postgres.NewImport{
		Tenant: tenant, Kind: lifecycle.KindRetry, ParentID: parentID, Source: parent.Report, RequestedBy: "retry",
		Options: lifecycle.Options{Notify: parent.Options.Notify, DryRun: parent.Options.DryRun || parent.DryRun},
	})
	if err != nil {
		return postgres.Import{}, fmt.Errorf("retry import %d: %w", parentID, err)
	}
	return im, nil
}

// Undo starts the undo of an import: an import of kind undo that puts every
// user the import changed back to its state before it (postgres.Store.Undo,
// which refuses a dry run, an import not ended, one whose journal was pruned
// and any undo while another import of the tenant runs). It is applied in
// the caller's transaction, not queued: it reads the journal, not a file.
// Its finalize is queued, which sends the result e-mail to whom the import
// notified; without a queue (importctl), or when the enqueue fails, the
// workers' sweep sends it, since the undo has ended unnotified: the undo
// stands either way, so a failed enqueue is not an error.
func (in *Intake) Undo(ctx context.Context, tenant string, importID int64, opts postgres.UndoOptions) (postgres.UndoResult, error) {
	if err := postgres.ValidTenant(tenant); err != nil {
		return postgres.UndoResult{}, &InvalidError{Reason: err.Error()}
	}
	res, err := in.Store.Undo(ctx, tenant, importID, opts)
	if err != nil || res.ImportID == 0 || in.Queue == nil {
		return res, err
	}
	t, err := task.NewImportFinalize(task.ImportFinalizePayload{Tenant: tenant, ImportID: res.ImportID, Trace: task.TraceOf(ctx)},
		in.Namespace.Queue(task.QueueCritical))
	if err == nil {
		_, _ = in.Queue.EnqueueContext(ctx, t) // the sweep sends what this does not
	}
	return res, nil
}
