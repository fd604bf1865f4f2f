package e2e

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/s3store"
	"github.com/userimport/userimport/internal/stacktest"
	"github.com/userimport/userimport/internal/task"
	"github.com/userimport/userimport/producer"
	"github.com/userimport/userimport/worker"
)

// feedRedis is a Redis database of the feed tests' own, so that no other
// queue (or scheduler) is touched.
func feedRedis(t *testing.T) asynq.RedisClientOpt {
	t.Helper()
	u, err := url.Parse(stacktest.Getenv("REDIS_URL"))
	if err != nil {
		t.Fatal(err)
	}
	return asynq.RedisClientOpt{Addr: u.Host, DB: 11}
}

// quiet keeps asynq's log out of the test output.
type quiet struct{}

func (quiet) Debug(...any) {}
func (quiet) Info(...any)  {}
func (quiet) Warn(...any)  {}
func (quiet) Error(...any) {}
func (quiet) Fatal(...any) {}

// feedFixture is a tenant with one upsert feed whose prefix holds one small
// file.
func feedFixture(t *testing.T, store *postgres.Store, files *s3store.Store, schedule string) postgres.Feed {
	t.Helper()
	ctx := t.Context()
	tenant := pgtest.Tenant(t)
	f, err := store.CreateFeed(ctx, postgres.Feed{Tenant: tenant, Name: "hr", Prefix: "feeds/" + tenant + "/hr/",
		Schedule: schedule, TimeZone: "Europe/Paris", Delimiter: "auto", Header: "auto", Mode: "upsert",
		MaxDeactivatePercent: 10, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := files.Put(ctx, f.Prefix+"users.csv", []byte("User name,Login ID\nAnna,anna\nBéla,bela\nCili,cili\n"), "text/csv"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.WithoutCancel(ctx)
		_ = files.List(ctx, "feeds/"+tenant+"/", func(o s3store.Object) error { return files.Delete(ctx, o.Key) })
		// Disabled, so that a later test's catch-up does not see it.
		f.Enabled = false
		_, _ = store.UpdateFeed(ctx, f)
	})
	return f
}

// feedTasks keeps the feed:run tasks of feed id.
func feedTasks(t *testing.T, tasks []*asynq.Task, id int64) []*asynq.Task {
	t.Helper()
	var own []*asynq.Task
	for _, tk := range tasks {
		p, err := task.ParseFeedRun(tk)
		if err != nil {
			t.Fatal(err)
		}
		if p.FeedID == id {
			own = append(own, tk)
		}
	}
	return own
}

// Two producers' schedulers fire the same feed every 2 s for 9 s; two
// workers carry out the runs. Each scheduled time has exactly one run, none
// is skipped, and the file is imported once (the later runs find nothing
// new), although the runs' tasks are delivered more often than there are runs.
func TestTwoSchedulersStartEachRunOnce(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store := pgtest.Store(t)
	files := stacktest.S3(t)
	f := feedFixture(t, store, files, "@every 2s")
	redis := feedRedis(t)
	ns := task.Namespace("feeds-" + stacktest.RandomHex(4))
	client := asynq.NewClient(redis)
	t.Cleanup(func() { _ = client.Close() })

	var deliveries atomic.Int32
	deps := worker.Deps{Store: store, Files: files, Queue: client, Log: zap.NewNop(), Namespace: ns}
	for range 2 {
		mux := worker.NewServeMux(deps)
		counted := asynq.NewServeMux()
		counted.Handle(task.TypeFeedRun, asynq.HandlerFunc(func(ctx context.Context, t *asynq.Task) error {
			deliveries.Add(1)
			return mux.ProcessTask(ctx, t)
		}))
		counted.Handle("import:", mux)
		srv := asynq.NewServer(redis, asynq.Config{Concurrency: 4, Queues: ns.Queues(), Logger: quiet{},
			TaskCheckInterval: 50 * time.Millisecond})
		if err := srv.Start(counted); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Shutdown)
	}
	start := time.Now()
	var stops []func()
	for range 2 {
		stop, err := producer.FeedScheduler{Redis: redis, Store: store, Queue: client, Namespace: ns, Log: zap.NewNop(),
			SyncInterval: time.Second}.Start(ctx)
		if err != nil {
			t.Fatal(err)
		}
		stops = append(stops, stop)
	}
	time.Sleep(9 * time.Second)
	var wg sync.WaitGroup
	for _, stop := range stops {
		wg.Go(stop)
	}
	wg.Wait()
	end := time.Now()
	time.Sleep(time.Second) // the last runs' tasks

	runs := checkRunsEvery2s(t, store, f, start, end)
	ims, err := store.Imports(ctx, f.Tenant, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(ims) != 1 || ims[0].Kind != "feed" {
		t.Errorf("imports %+v, want one of kind feed", ims)
	}
	if n := int(deliveries.Load()); n < len(runs) {
		t.Errorf("%d deliveries for %d runs", n, len(runs))
	}
	t.Logf("%d runs, %d feed:run deliveries", len(runs), deliveries.Load())
}

// A run missed while no producer ran is caught up once at the next start:
// two producers starting together each queue it, one run is made, and a
// later start queues nothing.
func TestMissedRunCaughtUpOnce(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	store := pgtest.Store(t)
	files := stacktest.S3(t)
	f := feedFixture(t, store, files, "0 2 * * *")
	// The feed has existed for three days: three nights were missed, one run
	// catches up (the latest).
	if _, err := store.Pool().Exec(ctx, `UPDATE feeds SET created_at = now() - interval '3 days' WHERE id = $1`, f.ID); err != nil {
		t.Fatal(err)
	}
	q := &queue{}
	sched := producer.FeedScheduler{Store: store, Queue: q, Log: zap.NewNop()}
	now := time.Now()
	for range 2 {
		if err := sched.CatchUp(ctx, now); err != nil {
			t.Fatal(err)
		}
	}
	// Other tests' feeds share the database: only this feed's tasks count.
	q.tasks = feedTasks(t, q.tasks, f.ID)
	if len(q.tasks) != 2 {
		t.Fatalf("%d tasks queued by two catch-ups, want 2", len(q.tasks))
	}
	mux := worker.NewServeMux(worker.Deps{Store: store, Files: files, Queue: q, Log: zap.NewNop()})
	q.drain(t, mux)
	runs, err := store.FeedRuns(ctx, f.Tenant, f.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	paris, _ := time.LoadLocation("Europe/Paris")
	local := now.In(paris)
	want := time.Date(local.Year(), local.Month(), local.Day(), 2, 0, 0, 0, paris)
	if want.After(now) {
		want = want.AddDate(0, 0, -1)
	}
	if len(runs) != 1 || !runs[0].ScheduledFor.Equal(want) || runs[0].State != "finished" {
		t.Fatalf("runs %+v, want one for %v, finished", runs, want)
	}
	if err := sched.CatchUp(ctx, now); err != nil || len(feedTasks(t, q.tasks, f.ID)) != 0 {
		t.Fatalf("catch-up after the run queued %d tasks (%v)", len(feedTasks(t, q.tasks, f.ID)), err)
	}
	im, err := store.Import(ctx, f.Tenant, runs[0].ImportID)
	if err != nil || im.Kind != "feed" || im.Created != 3 {
		t.Fatalf("import %+v (%v)", im, err)
	}
}

// The same with the real binaries: two producer processes run the scheduler
// at the same time with a feed due every 2 s, one worker carries out the runs.
// Each 2 s slot has exactly one run, none is skipped, one import is made.
func TestTwoProducerProcessesStartEachRunOnce(t *testing.T) {
	bin := build(t)
	environ := env(t)
	ctl(t, bin, environ, 0, "migrate")
	store := pgtest.Store(t)
	f := feedFixture(t, store, stacktest.S3(t), "@every 2s")
	start(t, bin, "worker", environ)
	begin := time.Now()
	var producers []*proc
	for range 2 {
		port := freePort(t)
		p := start(t, bin, "producer", environ, "PRODUCER_ADDR=127.0.0.1:"+itoa(port))
		waitHTTP(t, fmt.Sprintf("http://127.0.0.1:%d/readyz", port))
		producers = append(producers, p)
	}
	time.Sleep(8 * time.Second)
	for _, p := range producers {
		if err := p.stop(t, 30*time.Second); err != nil {
			t.Fatalf("producer: %v", err)
		}
	}
	end := time.Now()
	time.Sleep(2 * time.Second) // the last runs' tasks

	runs := checkRunsEvery2s(t, store, f, begin, end)
	ims, err := store.Imports(t.Context(), f.Tenant, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(ims) != 1 || ims[0].Kind != "feed" || ims[0].Created != 3 {
		t.Errorf("imports %+v; want one feed import of 3 users", ims)
	}
	t.Logf("%d runs from two producers in %s", len(runs), end.Sub(begin).Round(100*time.Millisecond))
}

// checkRunsEvery2s checks the runs of feed f, due every 2 s, between start
// and end: one run a slot, none skipped, and only the first imports the file
// (the later ones find nothing new). It returns the runs, newest first.
func checkRunsEvery2s(t *testing.T, store *postgres.Store, f postgres.Feed, start, end time.Time) []postgres.FeedRun {
	t.Helper()
	runs, err := store.FeedRuns(t.Context(), f.Tenant, f.ID, 100)
	if err != nil {
		t.Fatal(err)
	}
	// The 2 s slots between start and end, minus the catch-up's (the slot of
	// the start) and a slot cut short at each end.
	if len(runs) < 3 {
		t.Fatalf("%d runs in %s, want at least 3: %+v", len(runs), end.Sub(start).Round(time.Second), runs)
	}
	imports := 0
	for i, r := range runs {
		if i > 0 && runs[i-1].ScheduledFor.Sub(r.ScheduledFor) != 2*time.Second {
			t.Errorf("runs at %v and %v: want one every 2 s, none skipped", r.ScheduledFor, runs[i-1].ScheduledFor)
		}
		if r.ScheduledFor.Before(start.Truncate(2*time.Second)) || r.ScheduledFor.After(end) {
			t.Errorf("run scheduled for %v, outside the test's %v–%v", r.ScheduledFor, start, end)
		}
		if r.ImportID != 0 {
			imports++
		} else if r.State != "nothing_new" {
			t.Errorf("run %+v: want nothing_new", r)
		}
	}
	if imports != 1 || runs[len(runs)-1].ImportID == 0 {
		t.Errorf("%d runs imported the file, want the first one only", imports)
	}
	return runs
}
