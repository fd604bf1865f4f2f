package task_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/hibiken/asynq"

	"github.com/userimport/userimport/internal/stacktest"
	"github.com/userimport/userimport/internal/task"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	want := task.ImportChunkPayload{Tenant: "acme", ImportID: 42, Seq: 3, Offset: 1 << 20, Length: 4096, FirstLine: 2001}
	tk, err := task.NewImportChunk(want, task.QueueDefault)
	if err != nil {
		t.Fatal(err)
	}
	if tk.Type() != task.TypeImportChunk {
		t.Errorf("type %q", tk.Type())
	}
	got, err := task.Parse[task.ImportChunkPayload](tk)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("payload (-want +got):\n%s", diff)
	}
}

// A payload that cannot be decoded is never retried.
func TestBadPayloadSkipsRetry(t *testing.T) {
	t.Parallel()
	for _, payload := range []string{`{`, `{"tenant":"","import_id":1}`, `{"tenant":"a","import_id":0}`} {
		_, err := task.Parse[task.ImportPlanPayload](asynq.NewTask(task.TypeImportPlan, []byte(payload)))
		if !errors.Is(err, asynq.SkipRetry) {
			t.Errorf("%s: error %v does not skip retries", payload, err)
		}
	}
}

// The same work enqueued twice makes one task: the second enqueue of a
// chunk, a plan or a finalize is refused as a duplicate, while another chunk
// of the same import, or the same chunk of another tenant's import, is not.
func TestEnqueueTwiceMakesOneTask(t *testing.T) {
	t.Parallel()
	opt := redisOpt(t)
	client := asynq.NewClient(opt)
	defer client.Close()
	ctx := t.Context()
	tenant := fmt.Sprintf("t%d", time.Now().UnixNano()) // unique: Redis is shared between test runs
	mustEnqueue := func(tk *asynq.Task, err error) error {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		_, err = client.EnqueueContext(ctx, tk)
		return err
	}
	chunk := task.ImportChunkPayload{Tenant: tenant, ImportID: 7, Seq: 1}
	for _, tc := range []struct {
		name    string
		enqueue func() error
		dup     bool
	}{
		{"chunk", func() error { return mustEnqueue(task.NewImportChunk(chunk, task.QueueDefault)) }, false},
		{"same chunk", func() error { return mustEnqueue(task.NewImportChunk(chunk, task.QueueDefault)) }, true},
		{"next chunk", func() error {
			next := chunk
			next.Seq = 2
			return mustEnqueue(task.NewImportChunk(next, task.QueueDefault))
		}, false},
		{"other tenant", func() error {
			other := chunk
			other.Tenant += "x"
			return mustEnqueue(task.NewImportChunk(other, task.QueueDefault))
		}, false},
		{"plan", func() error {
			return mustEnqueue(task.NewImportPlan(task.ImportPlanPayload{Tenant: tenant, ImportID: 7}, task.QueueDefault))
		}, false},
		{"plan again", func() error {
			return mustEnqueue(task.NewImportPlan(task.ImportPlanPayload{Tenant: tenant, ImportID: 7}, task.QueueDefault))
		}, true},
		{"finalize", func() error {
			return mustEnqueue(task.NewImportFinalize(task.ImportFinalizePayload{Tenant: tenant, ImportID: 7}, task.QueueCritical))
		}, false},
		{"finalize again", func() error {
			return mustEnqueue(task.NewImportFinalize(task.ImportFinalizePayload{Tenant: tenant, ImportID: 7}, task.QueueCritical))
		}, true},
	} {
		err := tc.enqueue()
		if dup := errors.Is(err, asynq.ErrTaskIDConflict); dup != tc.dup || (err != nil && !dup) {
			t.Errorf("%s: enqueue error %v, want a duplicate: %v", tc.name, err, tc.dup)
		}
	}
}

// redisOpt connects to the stack's Redis, on a database of the package's own.
func redisOpt(t *testing.T) asynq.RedisClientOpt {
	t.Helper()
	return stacktest.Redis(t, 14)
}
