package producer_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/stacktest"
	"github.com/userimport/userimport/internal/task"
)

// The feeds' routes: a tenant manages its own feeds and decides its own
// runs; another tenant's feed or run answers 404, and a feed may only read
// its tenant's area of the bucket. Feed runs' imports show kind feed.
func TestFeedsAPI(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := t.Context()
	a, b := pgtest.Tenant(t), pgtest.Tenant(t)
	tokA, tokB := token(t, e.store, a), token(t, e.store, b)
	do := func(method, path, tok, body string) (int, map[string]any) {
		t.Helper()
		code, out := stacktest.Do(t, method, e.srv.URL+path, tok, "application/json", strings.NewReader(body))
		var v map[string]any
		if len(out) > 0 {
			if err := json.Unmarshal(out, &v); err != nil {
				t.Fatalf("%s %s: %d %s", method, path, code, out)
			}
		}
		return code, v
	}

	code, v := do("POST", "/v1/feeds", tokA, `{"name":"hr","schedule":"0 2 * * *","time_zone":"Europe/Paris","mode":"full","notify":["hr@a.example"]}`)
	if code != http.StatusCreated || v["prefix"] != "feeds/"+a+"/hr/" || v["max_deactivate_percent"] != 10.0 || v["enabled"] != true {
		t.Fatalf("create: %d %v", code, v)
	}
	for _, bad := range []string{
		`{"name":"hr","schedule":"0 2 * * *"}`, // exists
		`{"name":"x","schedule":"0 2 * * *","prefix":"feeds/` + b + `/hr/"}`,
		`{"name":"x","schedule":"0 2 * * *","prefix":"uploads/` + a + `/"}`,
		`{"name":"x","schedule":"every night"}`,
		`{"name":"x","schedule":"0 2 * * *","mode":"full"}`, // nobody to notify
		`{"name":"x"}`,
		`{"name":"x","schedule":"0 2 * * *","colour":"red"}`,
	} {
		if code, v := do("POST", "/v1/feeds", tokA, bad); code != http.StatusBadRequest && code != http.StatusConflict {
			t.Errorf("create %s: %d %v", bad, code, v)
		}
	}
	if code, v := do("PATCH", "/v1/feeds/hr", tokA, `{"max_deactivate_percent":5,"max_deactivate_count":100,"enabled":false}`); code != http.StatusOK ||
		v["max_deactivate_percent"] != 5.0 || v["max_deactivate_count"] != 100.0 || v["enabled"] != false || v["mode"] != "full" {
		t.Errorf("patch: %d %v", code, v)
	}
	if code, v := do("GET", "/v1/feeds", tokA, ""); code != http.StatusOK || len(v["feeds"].([]any)) != 1 {
		t.Errorf("list: %d %v", code, v)
	}
	// Tenant B sees nothing of A's.
	if code, v := do("GET", "/v1/feeds", tokB, ""); code != http.StatusOK || len(v["feeds"].([]any)) != 0 {
		t.Errorf("list as b: %d %v", code, v)
	}
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/v1/feeds/hr", ""}, {"PATCH", "/v1/feeds/hr", `{"enabled":true}`}, {"DELETE", "/v1/feeds/hr", ""},
		{"GET", "/v1/feeds/hr/runs", ""},
	} {
		if code, _ := do(r.method, r.path, tokB, r.body); code != http.StatusNotFound {
			t.Errorf("%s %s as b: %d", r.method, r.path, code)
		}
	}

	// Two runs that import, held for approval.
	f, err := e.store.FeedByName(ctx, a, "hr")
	if err != nil {
		t.Fatal(err)
	}
	var runs []postgres.FeedRun
	for i := range 2 {
		n := postgres.NewFeedRun{Feed: f, ScheduledFor: time.Date(2026, 1, 1+i, 1, 0, 0, 0, time.UTC),
			Source: "s3://userimport/feeds/" + a + "/hr/x.csv", ObjectKey: "feeds/" + a + "/hr/x.csv", ObjectETag: "e" + string(rune('0'+i))}
		run, started, err := e.store.StartFeedRun(ctx, n, &postgres.NewImport{Tenant: a, Kind: lifecycle.KindFeed, Source: n.Source, SourceETag: n.ObjectETag})
		if err != nil || !started {
			t.Fatal(started, err)
		}
		if _, err := e.store.Pool().Exec(ctx, `UPDATE feed_runs SET state = 'needs_approval' WHERE id = $1`, run.ID); err != nil {
			t.Fatal(err)
		}
		runs = append(runs, run)
	}
	if _, started, err := e.store.StartFeedRun(ctx, postgres.NewFeedRun{Feed: f, ScheduledFor: runs[0].ScheduledFor}, nil); err != nil || started {
		t.Errorf("a second run for the same time started: %t %v", started, err)
	}
	code, v = do("GET", "/v1/imports", tokA, "")
	ims := v["imports"].([]any)
	if code != http.StatusOK || len(ims) != 2 || ims[0].(map[string]any)["kind"] != "feed" {
		t.Errorf("imports: %d %v", code, v)
	}
	approve := "/v1/feed-runs/" + itoa(runs[0].ID) + "/approve"
	if code, _ := do("POST", approve, tokB, ""); code != http.StatusNotFound {
		t.Errorf("approve as b: %d", code)
	}
	if code, v := do("POST", approve, tokA, ""); code != http.StatusOK || v["state"] != "applied" || !strings.HasPrefix(fmt.Sprint(v["decided_by"]), "token test (#") {
		t.Errorf("approve: %d %v", code, v)
	}
	if n := queued(e.queue, task.TypeFeedDecided); len(n) != 1 {
		t.Errorf("the approval queued %d %s tasks, want 1", len(n), task.TypeFeedDecided)
	}
	if code, _ := do("POST", approve, tokA, ""); code != http.StatusConflict {
		t.Errorf("approve again: %d", code)
	}
	if code, v := do("POST", "/v1/feed-runs/"+itoa(runs[1].ID)+"/reject", tokA, ""); code != http.StatusOK || v["state"] != "rejected" {
		t.Errorf("reject: %d %v", code, v)
	}
	code, v = do("GET", "/v1/feeds/hr/runs", tokA, "")
	if list := v["runs"].([]any); code != http.StatusOK || len(list) != 2 || list[0].(map[string]any)["state"] != "rejected" {
		t.Errorf("runs: %d %v", code, v)
	}
	if code, _ := do("DELETE", "/v1/feeds/hr", tokA, ""); code != http.StatusNoContent {
		t.Errorf("delete: %d", code)
	}
	if code, _ := do("GET", "/v1/feeds/hr", tokA, ""); code != http.StatusNotFound {
		t.Errorf("get after delete: %d", code)
	}
}

// queued returns the payloads of the tasks of type typ the recorder holds.
func queued(q *recorder, typ string) [][]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out [][]byte
	for _, t := range q.tasks {
		if t.Type() == typ {
			out = append(out, t.Payload())
		}
	}
	return out
}

// Run now: the scheduler's feed:run task for the feed, scheduled for now;
// another tenant's feed answers 404, a disabled feed 409.
func TestRunFeedNowAPI(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a, b := pgtest.Tenant(t), pgtest.Tenant(t)
	tokA, tokB := token(t, e.store, a), token(t, e.store, b)
	f, err := e.store.CreateFeed(t.Context(), postgres.Feed{Tenant: a, Name: "hr", Prefix: "feeds/" + a + "/hr/", Schedule: "@daily",
		TimeZone: "UTC", Delimiter: "auto", Header: "auto", Mode: "upsert", MaxDeactivatePercent: 10, Notify: []string{}, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now().UTC().Truncate(time.Second)
	code, out := stacktest.Do(t, "POST", e.srv.URL+"/v1/feeds/hr/run", tokA, "application/json", nil)
	if code != http.StatusAccepted {
		t.Fatalf("run now: %d %s", code, out)
	}
	runs := queued(e.queue, task.TypeFeedRun)
	if len(runs) != 1 {
		t.Fatalf("%d feed:run tasks queued, want 1", len(runs))
	}
	var p task.FeedRunPayload
	if err := json.Unmarshal(runs[0], &p); err != nil || p.Tenant != a || p.FeedID != f.ID || p.ScheduledFor == nil || p.ScheduledFor.Before(before) {
		t.Errorf("feed:run payload %s (%v)", runs[0], err)
	}
	if code, _ := stacktest.Do(t, "POST", e.srv.URL+"/v1/feeds/hr/run", tokB, "application/json", nil); code != http.StatusNotFound {
		t.Errorf("run another tenant's feed: %d, want 404", code)
	}
	f.Enabled = false
	if _, err := e.store.UpdateFeed(t.Context(), f); err != nil {
		t.Fatal(err)
	}
	if code, out := stacktest.Do(t, "POST", e.srv.URL+"/v1/feeds/hr/run", tokA, "application/json", nil); code != http.StatusConflict ||
		!strings.Contains(string(out), "feed_disabled") {
		t.Errorf("run a disabled feed: %d %s, want 409", code, out)
	}
	if n := len(queued(e.queue, task.TypeFeedRun)); n != 1 {
		t.Errorf("%d feed:run tasks after the refusal, want still 1", n)
	}
}
