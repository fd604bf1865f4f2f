package feed_test

import (
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/userimport/userimport/internal/feed"
	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/s3store"
	"github.com/userimport/userimport/internal/task"
)

func TestLast(t *testing.T) {
	t.Parallel()
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		v, err := time.ParseInLocation("2006-01-02 15:04:05", s, paris)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		expr, tz  string
		now, want time.Time
	}{
		{"0 2 * * *", "Europe/Paris", at("2026-03-10 10:00:00"), at("2026-03-10 02:00:00")},
		{"0 2 * * *", "Europe/Paris", at("2026-03-10 01:59:00"), at("2026-03-09 02:00:00")},
		// Delivered a second before the fire on the worker's clock: the
		// scheduler's clock ran ahead.
		{"0 2 * * *", "Europe/Paris", at("2026-03-10 01:59:59"), at("2026-03-10 02:00:00")},
		// The night the clocks go forward, 02:30 does not exist in Paris:
		// robfig/cron (asynq's scheduler) skips that night, and so does Last,
		// so that a run is always scheduled for a time the scheduler fires.
		{"30 2 * * *", "Europe/Paris", at("2026-03-29 12:00:00"), at("2026-03-28 02:30:00")},
		{"0 2 * * *", "UTC", at("2026-07-01 03:30:00"), time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC).Add(-22 * time.Hour)},
		{"0 3 1 * *", "Europe/Paris", at("2026-05-20 00:00:00"), at("2026-05-01 03:00:00")},
		{"* * * * *", "UTC", at("2026-05-20 10:00:31"), at("2026-05-20 10:00:00")},
		{"@daily", "Europe/Paris", at("2026-05-20 10:00:00"), at("2026-05-20 00:00:00")},
		{"@every 5s", "", time.Unix(1_000_003, 0), time.Unix(1_000_000, 0)},
	} {
		s, err := feed.ParseSchedule(tc.expr, tc.tz)
		if err != nil {
			t.Fatalf("%s: %v", tc.expr, err)
		}
		if got := s.Last(tc.now); !got.Equal(tc.want) {
			t.Errorf("%s %s at %v: last %v, want %v", tc.expr, tc.tz, tc.now, got, tc.want.In(paris))
		}
	}
}

func TestParseScheduleRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ expr, tz, want string }{
		{"0 2 * *", "UTC", "cron expression"},
		{"0 2 * * *", "Mars/Olympus", "time zone"},
		{"0 2 * * *", "Local", "time zone"},
		{"CRON_TZ=UTC 0 2 * * *", "UTC", "on its own"},
		{"@every 1500ms", "UTC", "whole number"},
		{"@every 0s", "UTC", "whole number"},
	} {
		if _, err := feed.ParseSchedule(tc.expr, tc.tz); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q %q: %v, want %q", tc.expr, tc.tz, err, tc.want)
		}
	}
}

// asynq's scheduler takes the cron spec with its time zone.
func TestConfigRegisters(t *testing.T) {
	t.Parallel()
	s := asynq.NewScheduler(asynq.RedisClientOpt{Addr: "127.0.0.1:1"}, nil)
	for _, expr := range []string{"0 2 * * *", "@daily", "@every 10s", "15 1 * * 1-5"} {
		f := postgres.Feed{ID: 1, Tenant: "acme", Name: "hr", Schedule: expr, TimeZone: "America/New_York"}
		c, err := feed.Config(&f, task.Namespace("x"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Register(c.Cronspec, c.Task, c.Opts...); err != nil {
			t.Errorf("%q: %v", c.Cronspec, err)
		}
		if expr == "0 2 * * *" && c.Cronspec != "CRON_TZ=America/New_York 0 2 * * *" {
			t.Errorf("cronspec %q", c.Cronspec)
		}
	}
}

func TestNewest(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	objs := []s3store.Object{
		{Key: "feeds/a/hr/1.csv", LastModified: t0},
		{Key: "feeds/a/hr/3.csv", LastModified: t0.Add(time.Hour)},
		{Key: "feeds/a/hr/3.import-7.errors.csv", LastModified: t0.Add(2 * time.Hour)},
		{Key: "feeds/a/hr/sub/", LastModified: t0.Add(3 * time.Hour)},
		{Key: "feeds/a/hr/2.csv", LastModified: t0.Add(time.Hour)},
	}
	got, ok := feed.Newest(objs)
	if !ok || got.Key != "feeds/a/hr/3.csv" {
		t.Errorf("newest %+v", got)
	}
	if _, ok := feed.Newest(objs[2:4]); ok {
		t.Error("a report or a folder taken for a feed file")
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	ok := postgres.Feed{Tenant: "acme", Name: "hr", Schedule: "0 2 * * *", MaxDeactivatePercent: 10, Mode: "full", Notify: []string{"hr@acme.example"}}
	feed.Normalize(&ok)
	if err := feed.Validate(&ok); err != nil || ok.Prefix != "feeds/acme/hr/" {
		t.Fatalf("%+v: %v", ok, err)
	}
	for _, tc := range []struct {
		change func(*postgres.Feed)
		want   string
	}{
		{func(f *postgres.Feed) { f.Prefix = "feeds/acme2/hr/" }, "prefix"},
		{func(f *postgres.Feed) { f.Prefix = "feeds/acme" }, "prefix"},
		{func(f *postgres.Feed) { f.Prefix = "feeds/acme/../other/" }, "prefix"},
		{func(f *postgres.Feed) { f.Prefix = "incoming/acme/" }, "prefix"},
		{func(f *postgres.Feed) { f.Notify = nil }, "full feed needs someone"},
		{func(f *postgres.Feed) { f.Notify = []string{"Bob <bob@x.example>"} }, "not an e-mail address"},
		{func(f *postgres.Feed) { f.Mode = "sync" }, "mode"},
		{func(f *postgres.Feed) { f.MaxDeactivatePercent = 101 }, "max_deactivate_percent"},
		{func(f *postgres.Feed) { f.Name = "HR" }, "name"},
		{func(f *postgres.Feed) { f.Delimiter = "tab" }, "delimiter"},
	} {
		f := ok
		tc.change(&f)
		if err := feed.Validate(&f); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", f, err, tc.want)
		}
	}
}

func TestOverLimit(t *testing.T) {
	t.Parallel()
	three := 3
	f := postgres.Feed{MaxDeactivatePercent: 10}
	for _, tc := range []struct {
		absent, active int
		count          *int
		over           bool
	}{
		{0, 0, nil, false},
		{10, 100, nil, false},
		{11, 100, nil, true},
		{3, 100, &three, false},
		{4, 100, &three, true},
		{1, 0, nil, true},
	} {
		f.MaxDeactivateCount = tc.count
		if got := feed.OverLimit(&f, tc.absent, tc.active) != ""; got != tc.over {
			t.Errorf("%d of %d (count limit %v): over %t, want %t", tc.absent, tc.active, tc.count, got, tc.over)
		}
	}
}

func TestSplit(t *testing.T) {
	t.Parallel()
	present, imported := feed.Split([]feed.Login{{2, "a"}, {3, "b"}, {4, "c"}}, []int{3})
	if strings.Join(present, ",") != "a,b,c" || strings.Join(imported, ",") != "a,c" {
		t.Errorf("present %v, imported %v", present, imported)
	}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	absent := func(n int) []postgres.UserRef { return make([]postgres.UserRef, n) }
	full := postgres.Feed{Mode: feed.ModeFull, MaxDeactivatePercent: 10}
	upsert := postgres.Feed{Mode: feed.ModeUpsert, MaxDeactivatePercent: 10}
	for _, tc := range []struct {
		name  string
		f     postgres.Feed
		step  postgres.FeedStep
		state lifecycle.FeedRunState
		full  bool
	}{
		{"a later run applied first", full, postgres.FeedStep{LaterApplied: true, Plan: postgres.SyncPlan{Active: 100, Absent: absent(1)}}, lifecycle.RunSuperseded, false},
		{"upsert: nobody deactivated", upsert, postgres.FeedStep{Plan: postgres.SyncPlan{Active: 100, Absent: absent(50)}}, lifecycle.RunFinished, false},
		{"full, within the limits", full, postgres.FeedStep{Plan: postgres.SyncPlan{Active: 100, Absent: absent(10)}}, lifecycle.RunFinished, true},
		{"full, over the limits", full, postgres.FeedStep{Plan: postgres.SyncPlan{Active: 100, Absent: absent(11)}}, lifecycle.RunNeedsApproval, true},
	} {
		got := feed.Decide(&tc.f, tc.step)
		if got.State != tc.state || got.Full != tc.full || (got.Reason != "") != (tc.state != lifecycle.RunFinished) {
			t.Errorf("%s: %+v, want %s (full %t)", tc.name, got, tc.state, tc.full)
		}
	}
}
