package worker_test

import (
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/intake"
	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/mail"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/s3store"
	"github.com/userimport/userimport/internal/stacktest"
	"github.com/userimport/userimport/internal/task"
	"github.com/userimport/userimport/internal/tracing"
	"github.com/userimport/userimport/internal/usergen"
	"github.com/userimport/userimport/worker"
)

// One import is one trace: started under a caller's span through intake (as
// the API does), carried through Redis in the task payloads, and run by two
// real workers, its plan, chunk and finalize tasks are spans beneath the
// caller's, and beneath them are the PostgreSQL statements, the S3 calls
// and the SMTP session of each.
func TestImportIsOneTrace(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })

	store, err := postgres.Open(ctx, pgtest.URL(t), postgres.WithTracing(tp))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	files := stacktest.S3(t, s3store.WithTracing(tp))
	sender, err := mail.NewSender(mustMailConfig(t), mail.WithTracing(tp))
	if err != nil {
		t.Fatal(err)
	}
	tenant, key, gen := uploadGenerated(t, store, files, "traced.csv", usergen.Options{Rows: 1200, Seed: 7, Invalid: 0.02})
	if gen.Invalid == 0 {
		t.Fatal("the file has no invalid record: finalize would write no report")
	}

	redis := redisOpt(t)
	client := asynq.NewClient(redis)
	t.Cleanup(func() { _ = client.Close() })
	ns := task.Namespace("test-" + stacktest.RandomHex(4))
	deps := worker.Deps{Store: store, Files: files, Queue: client, Mail: sender, Log: zap.NewNop(), ChunkSize: 500,
		Namespace: ns, Tracer: tp}
	for range 2 {
		srv := asynq.NewServer(redis, asynq.Config{Concurrency: 2, Queues: ns.Queues(), Logger: quietLogger{},
			DelayedTaskCheckInterval: 200 * time.Millisecond,
			RetryDelayFunc:           func(int, error, *asynq.Task) time.Duration { return 200 * time.Millisecond }})
		if err := srv.Start(worker.NewServeMux(deps)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Shutdown)
	}

	// The caller: the producer's request span in production.
	reqCtx, req := tp.Tracer("test").Start(ctx, "POST /v1/imports", trace.WithSpanKind(trace.SpanKindServer))
	in := intake.Intake{Store: store, Queue: client, Namespace: ns, Tracer: tp}
	im, _, err := in.Start(reqCtx, postgres.NewImport{Tenant: tenant, Source: "s3://" + files.Bucket() + "/" + key,
		Options: lifecycle.Options{Notify: []string{stacktest.Address("trace")}}})
	req.End()
	if err != nil {
		t.Fatal(err)
	}
	done := waitFinished(t, store, tenant, im.ID)
	if done.State != "finished" || done.Chunks != 3 {
		t.Fatalf("import %+v; want finished in 3 chunks", done)
	}
	root := req.SpanContext().TraceID()

	// Finalize's span ends after the import is marked finished (the e-mail
	// goes after): wait for it.
	var spans []sdktrace.ReadOnlySpan
	deadline := time.Now().Add(30 * time.Second)
	for {
		spans = rec.Ended()
		if hasFinalize(spans, im.ID) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}

	byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		if s.SpanContext().TraceID() == root {
			byID[s.SpanContext().SpanID()] = s
		}
	}
	// Every span of the import, wherever it ran, is in the caller's trace.
	tasks := map[string]int{}
	for _, s := range spans {
		if !strings.HasPrefix(s.Name(), "import:") || importID(s) != im.ID {
			continue
		}
		tasks[s.Name()]++
		if s.SpanContext().TraceID() != root {
			t.Errorf("span %s is in trace %s, want the caller's %s", s.Name(), s.SpanContext().TraceID(), root)
		}
		if a := attr(s, tracing.KeyTenant); a != tenant {
			t.Errorf("span %s: tenant %q, want %q", s.Name(), a, tenant)
		}
	}
	if tasks[task.TypeImportPlan] != 1 || tasks[task.TypeImportChunk] != 3 || tasks[task.TypeImportFinalize] < 1 {
		t.Errorf("task spans %v; want 1 plan, 3 chunks, a finalize", tasks)
	}

	// The tree: every span but the caller's has its parent in the trace, and
	// the caller's is their ancestor. Beneath each kind of task, what it does.
	type below struct{ pg, s3, smtp bool }
	under := map[string]*below{task.TypeImportPlan: {}, task.TypeImportChunk: {}, task.TypeImportFinalize: {}}
	for _, s := range byID {
		if s.SpanContext().SpanID() == req.SpanContext().SpanID() {
			continue
		}
		var taskName string
		p, ok := s, true
		for ok && p.SpanContext().SpanID() != req.SpanContext().SpanID() {
			if _, isTask := under[p.Name()]; isTask && taskName == "" {
				taskName = p.Name()
			}
			p, ok = byID[p.Parent().SpanID()]
		}
		if !ok {
			t.Errorf("span %s (%s) does not descend from the caller's span", s.Name(), s.SpanContext().SpanID())
			continue
		}
		b := under[taskName]
		if b == nil {
			continue
		}
		switch scope := s.InstrumentationScope().Name; {
		case strings.HasSuffix(scope, "/internal/postgres"):
			b.pg = true
		case strings.HasSuffix(scope, "/internal/s3store"):
			b.s3 = true
		case strings.HasSuffix(scope, "/internal/mail"):
			b.smtp = true
		}
	}
	for name, b := range under {
		if !b.pg || !b.s3 {
			t.Errorf("beneath %s: PostgreSQL spans %t, S3 spans %t; want both", name, b.pg, b.s3)
		}
	}
	if !under[task.TypeImportFinalize].smtp {
		t.Error("no SMTP span beneath finalize")
	}
	for _, name := range []string{"import start", "enqueue " + task.TypeImportPlan} {
		found := false
		for _, s := range byID {
			found = found || (s.Name() == name && importID(s) == im.ID)
		}
		if !found {
			t.Errorf("no %q span with the import id in the trace", name)
		}
	}
}

func hasFinalize(spans []sdktrace.ReadOnlySpan, id int64) bool {
	for _, s := range spans {
		if s.Name() == task.TypeImportFinalize && importID(s) == id {
			return true
		}
	}
	return false
}

func importID(s sdktrace.ReadOnlySpan) int64 {
	for _, kv := range s.Attributes() {
		if kv.Key == tracing.KeyImportID {
			return kv.Value.AsInt64()
		}
	}
	return 0
}

func attr(s sdktrace.ReadOnlySpan, k attribute.Key) string {
	for _, kv := range s.Attributes() {
		if kv.Key == k {
			return kv.Value.String()
		}
	}
	return ""
}
