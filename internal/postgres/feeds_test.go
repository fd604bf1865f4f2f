package postgres_test

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/userimport/userimport/internal/feed"
	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/userfile"
	"github.com/userimport/userimport/internal/userrow"
)

// A slow import of an older night that ends after a later night's was
// applied changes nobody: its file is out of date.
func TestOlderRunSupersededByLaterOne(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := pgtest.Store(t)
	tenant := pgtest.Tenant(t)
	apply(t, s, tenant, parse(t, nil,
		map[userrow.Column]string{userrow.UserName: "Anna", userrow.LoginID: "anna"},
		map[userrow.Column]string{userrow.UserName: "Béla", userrow.LoginID: "bela"}))
	f, err := s.CreateFeed(ctx, postgres.Feed{Tenant: tenant, Name: "hr", Prefix: "feeds/" + tenant + "/", Schedule: "@daily",
		TimeZone: "UTC", Delimiter: "auto", Header: "auto", Mode: "full", MaxDeactivatePercent: 60, Notify: []string{"a@b.example"}, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	decide := func(st postgres.FeedStep) postgres.FeedOutcome { return feed.Decide(&f, st) }
	var runs []postgres.FeedRun
	for i := range 2 {
		n := postgres.NewFeedRun{Feed: f, ScheduledFor: today.AddDate(0, 0, i),
			Source: "s3://b/feeds/" + tenant + "/x.csv", ObjectKey: "x", ObjectETag: string(rune('a' + i))}
		r, ok, err := s.StartFeedRun(ctx, n, &postgres.NewImport{Tenant: tenant, Kind: lifecycle.KindFeed, Source: n.Source, SourceETag: n.ObjectETag})
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		runs = append(runs, r)
	}
	later, err := s.ApplyFeedRun(ctx, &f, runs[1].ID, postgres.SyncInput{Present: []string{"ANNA", "bela"}, Imported: []string{"anna", "bela"}}, decide)
	if err != nil || later.State != "finished" || later.Deactivated != 0 || *later.ActiveBefore != 2 {
		t.Fatalf("later run: %+v (%v)", later, err)
	}
	older, err := s.ApplyFeedRun(ctx, &f, runs[0].ID, postgres.SyncInput{Present: []string{"anna"}}, decide)
	if err != nil || older.State != "superseded" || older.Deactivated != 0 {
		t.Fatalf("older run: %+v (%v)", older, err)
	}
	var active int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM users WHERE tenant_id = $1 AND active`, tenant).Scan(&active); err != nil || active != 2 {
		t.Fatalf("%d active (%v), want 2", active, err)
	}
	// Applied again (a redelivered finalize), a run changes nothing.
	again, err := s.ApplyFeedRun(ctx, &f, runs[1].ID, postgres.SyncInput{}, decide)
	if err != nil || again.State != "finished" || again.Deactivated != 0 {
		t.Fatalf("applied again: %+v (%v)", again, err)
	}
}

// "Nothing new" is the object version of the feed's last applied run (or of
// a run importing it now), never of any earlier run: an HR system that
// exports an earlier night's bytes again after another night's file sends
// something new against what the users hold now.
func TestNothingNewIsTheLastAppliedRun(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	tenant := pgtest.Tenant(t)
	// run is an earlier run of the feed: its object, its state and its import's.
	type run struct{ key, etag, state, importState string }
	type object struct{ key, etag string }
	tests := []struct {
		name string
		runs []run
		new  map[object]bool // the newest object → nothing new?
	}{
		{"no run yet", nil, map[object]bool{{"a.csv", "A"}: false}},
		{"the last applied object", []run{{"a.csv", "A", "finished", "finished"}},
			map[object]bool{{"a.csv", "A"}: true, {"a2.csv", "A"}: false, {"a.csv", "A2"}: false}},
		{"an earlier night's bytes after another night's", []run{
			{"night-1.csv", "A", "finished", "finished"}, {"night-2.csv", "B", "finished", "finished"},
		}, map[object]bool{{"night-3.csv", "A"}: false, {"night-1.csv", "A"}: false, {"night-2.csv", "B"}: true}},
		{"the same key overwritten with an earlier night's bytes", []run{
			{"users.csv", "A", "finished", "finished"}, {"users.csv", "B", "finished", "finished"},
		}, map[object]bool{{"users.csv", "A"}: false, {"users.csv", "B"}: true}},
		{"held for approval: its records are imported", []run{
			{"1.csv", "A", "finished", "finished"}, {"2.csv", "B", "needs_approval", "finished"},
		}, map[object]bool{{"2.csv", "B"}: true, {"1.csv", "A"}: false}},
		{"approved", []run{{"1.csv", "A", "finished", "finished"}, {"2.csv", "B", "applied", "finished"}},
			map[object]bool{{"2.csv", "B"}: true, {"1.csv", "A"}: false}},
		{"its deactivations rejected: the file is decided", []run{
			{"1.csv", "A", "finished", "finished"}, {"2.csv", "B", "rejected", "finished"},
		}, map[object]bool{{"2.csv", "B"}: true, {"1.csv", "A"}: false}},
		{"superseded by a later night", []run{
			{"1.csv", "A", "superseded", "finished"}, {"2.csv", "B", "finished", "finished"},
		}, map[object]bool{{"2.csv", "B"}: true, {"1.csv", "A"}: false}},
		{"rejected as a whole: tried again", []run{
			{"1.csv", "A", "finished", "finished"}, {"2.csv", "B", "failed", "rejected"},
		}, map[object]bool{{"2.csv", "B"}: false, {"1.csv", "A"}: true}},
		{"the import failed: tried again", []run{
			{"1.csv", "A", "finished", "finished"}, {"2.csv", "B", "failed", "failed"},
		}, map[object]bool{{"2.csv", "B"}: false, {"1.csv", "A"}: true}},
		{"the file changed during the import: tried again", []run{{"1.csv", "A", "failed", "finished"}},
			map[object]bool{{"1.csv", "A"}: false}},
		{"being imported", []run{{"1.csv", "A", "finished", "finished"}, {"2.csv", "B", "importing", "running"}},
			map[object]bool{{"2.csv", "B"}: true, {"1.csv", "A"}: true, {"3.csv", "B"}: false}},
		{"its import failed, the run not yet told", []run{{"1.csv", "A", "importing", "failed"}},
			map[object]bool{{"1.csv", "A"}: false}},
		{"nothing new runs in between", []run{
			{"1.csv", "A", "finished", "finished"}, {"", "", "nothing_new", ""}, {"", "", "nothing_new", ""},
		}, map[object]bool{{"1.csv", "A"}: true}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			f, err := s.CreateFeed(ctx, postgres.Feed{Tenant: tenant, Name: fmt.Sprintf("hr%d", i), Prefix: fmt.Sprintf("feeds/%s/%d/", tenant, i),
				Schedule: "@daily", TimeZone: "UTC", Delimiter: "auto", Header: "auto", Mode: "full", MaxDeactivatePercent: 10, Enabled: true})
			if err != nil {
				t.Fatal(err)
			}
			for night, r := range tt.runs {
				n := postgres.NewFeedRun{Feed: f, ScheduledFor: today.AddDate(0, 0, night), ObjectKey: r.key, ObjectETag: r.etag}
				if r.key != "" {
					n.Source = "s3://b/" + f.Prefix + r.key
				}
				var im *postgres.NewImport
				if r.key != "" {
					im = &postgres.NewImport{Tenant: tenant, Kind: lifecycle.KindFeed, Source: n.Source, SourceETag: r.etag}
				}
				fr, ok, err := s.StartFeedRun(ctx, n, im)
				if err != nil || !ok {
					t.Fatal(ok, err)
				}
				if _, err := s.Pool().Exec(ctx, `UPDATE feed_runs SET state = $2 WHERE id = $1`, fr.ID, r.state); err != nil {
					t.Fatal(err)
				}
				if _, err := s.Pool().Exec(ctx, `UPDATE imports SET state = $2 WHERE id = $1`, fr.ImportID, r.importState); err != nil {
					t.Fatal(err)
				}
			}
			got := map[object]bool{}
			for o := range tt.new {
				if got[o], err = s.NothingNew(ctx, f.Tenant, f.ID, o.key, o.etag); err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff(tt.new, got, cmp.AllowUnexported(object{})); diff != "" {
				t.Errorf("nothing new (-want +got):\n%s", diff)
			}
		})
	}
}

// ApplyFeedRun does only a step's moves: a decision to fail the run
// (FailFeedRun's), or to hold nobody for approval, is refused and the run
// stays importing.
func TestApplyFeedRunRefusesAnIllegalStep(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := pgtest.Store(t)
	tenant := pgtest.Tenant(t)
	f, err := s.CreateFeed(ctx, postgres.Feed{Tenant: tenant, Name: "hr", Prefix: "feeds/" + tenant + "/", Schedule: "@daily",
		TimeZone: "UTC", Delimiter: "auto", Header: "auto", Mode: "full", MaxDeactivatePercent: 10, Notify: []string{"a@b.example"}, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	n := postgres.NewFeedRun{Feed: f, ScheduledFor: today, Source: "s3://b/feeds/" + tenant + "/x.csv", ObjectKey: "x", ObjectETag: "a"}
	run, _, err := s.StartFeedRun(ctx, n, &postgres.NewImport{Tenant: tenant, Kind: lifecycle.KindFeed, Source: n.Source, SourceETag: n.ObjectETag})
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []postgres.FeedOutcome{
		{State: lifecycle.RunFailed},
		{State: lifecycle.RunNeedsApproval, Reason: "over"},
		{State: lifecycle.RunApplied, Full: true},
	} {
		if _, err := s.ApplyFeedRun(ctx, &f, run.ID, postgres.SyncInput{}, func(postgres.FeedStep) postgres.FeedOutcome { return out }); err == nil {
			t.Errorf("%+v: applied", out)
		}
	}
	if got, err := s.FeedRun(ctx, tenant, run.ID); err != nil || got.State != lifecycle.RunImporting {
		t.Fatalf("after the refusals: %+v (%v)", got, err)
	}
}

// A full run held for approval, approved after later imports: it deactivates
// only the users on its list that no import accepted after the run's own
// created or changed (applying the imports in the order accepted, those
// imports come last). A user the run itself reactivated counts as its change.
func TestApprovalSparesUsersChangedSince(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := pgtest.Store(t)
	tenant := pgtest.Tenant(t)
	var rows []map[userrow.Column]string
	for i := range 10 {
		rows = append(rows, map[userrow.Column]string{userrow.UserName: fmt.Sprint("User ", i), userrow.LoginID: fmt.Sprint("u", i)})
	}
	apply(t, s, tenant, parse(t, nil, rows...))
	f, err := s.CreateFeed(ctx, postgres.Feed{Tenant: tenant, Name: "hr", Prefix: "feeds/" + tenant + "/", Schedule: "@daily",
		TimeZone: "UTC", Delimiter: "auto", Header: "auto", Mode: "full", MaxDeactivatePercent: 10, Notify: []string{"a@b.example"}, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	n := postgres.NewFeedRun{Feed: f, ScheduledFor: today, Source: "s3://b/feeds/" + tenant + "/x.csv", ObjectKey: "x", ObjectETag: "e"}
	run, _, err := s.StartFeedRun(ctx, n, &postgres.NewImport{Tenant: tenant, Kind: lifecycle.KindFeed, Source: n.Source, SourceETag: "e"})
	if err != nil {
		t.Fatal(err)
	}
	// Its import (of no record, here) ends before the feed's step.
	if err := s.SavePlan(ctx, tenant, run.ImportID, userfile.Plan{}); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.FinishImport(ctx, tenant, run.ImportID, 0); err != nil || !ok {
		t.Fatalf("finish the run's import: %v %v", ok, err)
	}
	// The file holds u0–u4: u5–u9 are absent, 50 %, over the 10 % limit.
	present := []string{"u0", "u1", "u2", "u3", "u4"}
	decide := func(st postgres.FeedStep) postgres.FeedOutcome { return feed.Decide(&f, st) }
	held, err := s.ApplyFeedRun(ctx, &f, run.ID, postgres.SyncInput{Present: present, Imported: present}, decide)
	if err != nil || held.State != lifecycle.RunNeedsApproval || held.Pending != 5 {
		t.Fatalf("run: %+v (%v); want 5 held for approval", held, err)
	}
	// Later imports: u5 updated, u6 given the same values (unchanged: no
	// change to spare it for), u10 created.
	apply(t, s, tenant, parse(t, nil,
		map[userrow.Column]string{userrow.UserName: "User 5, renamed", userrow.LoginID: "u5"},
		map[userrow.Column]string{userrow.UserName: "User 6", userrow.LoginID: "u6"},
		map[userrow.Column]string{userrow.UserName: "User 10", userrow.LoginID: "u10"}))
	decided, err := s.DecideFeedRun(ctx, tenant, run.ID, true, "test")
	if err != nil || decided.State != lifecycle.RunApplied || decided.Deactivated != 4 {
		t.Fatalf("approved: %+v (%v); want 4 deactivated", decided, err)
	}
	rowsActive, err := s.Pool().Query(ctx, `SELECT login_id FROM users WHERE tenant_id = $1 AND NOT active ORDER BY login_id`, tenant)
	if err != nil {
		t.Fatal(err)
	}
	var inactive []string
	for rowsActive.Next() {
		var l string
		if err := rowsActive.Scan(&l); err != nil {
			t.Fatal(err)
		}
		inactive = append(inactive, l)
	}
	if diff := cmp.Diff([]string{"u6", "u7", "u8", "u9"}, inactive); diff != "" {
		t.Errorf("inactive users (-want +got):\n%s", diff)
	}
}

// Undoing a feed run's import reactivates the users its step deactivated;
// undoing that undo deactivates them again.
func TestUndoOfAFeedRun(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := pgtest.Store(t)
	tenant := pgtest.Tenant(t)
	var rows []map[userrow.Column]string
	for i := range 6 {
		rows = append(rows, map[userrow.Column]string{userrow.UserName: fmt.Sprint("User ", i), userrow.LoginID: fmt.Sprint("u", i)})
	}
	apply(t, s, tenant, parse(t, nil, rows...))
	before := snapshot(t, s, tenant)
	f, err := s.CreateFeed(ctx, postgres.Feed{Tenant: tenant, Name: "hr", Prefix: "feeds/" + tenant + "/", Schedule: "@daily",
		TimeZone: "UTC", Delimiter: "auto", Header: "auto", Mode: "full", MaxDeactivatePercent: 100, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	n := postgres.NewFeedRun{Feed: f, ScheduledFor: today, Source: "s3://b/feeds/" + tenant + "/x.csv", ObjectKey: "x", ObjectETag: "e"}
	run, _, err := s.StartFeedRun(ctx, n, &postgres.NewImport{Tenant: tenant, Kind: lifecycle.KindFeed, Source: n.Source, SourceETag: "e"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SavePlan(ctx, tenant, run.ImportID, userfile.Plan{}); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.FinishImport(ctx, tenant, run.ImportID, 0); err != nil || !ok {
		t.Fatalf("finish the run's import: %v %v", ok, err)
	}
	present := []string{"u0", "u1", "u2"}
	decide := func(st postgres.FeedStep) postgres.FeedOutcome { return feed.Decide(&f, st) }
	done, err := s.ApplyFeedRun(ctx, &f, run.ID, postgres.SyncInput{Present: present, Imported: present}, decide)
	if err != nil || done.State != lifecycle.RunFinished || done.Deactivated != 3 {
		t.Fatalf("run: %+v (%v); want 3 deactivated", done, err)
	}
	afterRun := snapshot(t, s, tenant)
	u, err := s.Undo(ctx, tenant, run.ImportID, postgres.UndoOptions{})
	if err != nil || u.Reactivated != 3 {
		t.Fatalf("undo of the run: %+v, %v; want 3 reactivated", u, err)
	}
	if diff := cmp.Diff(before, snapshot(t, s, tenant)); diff != "" {
		t.Errorf("after undoing the run (-before +now):\n%s", diff)
	}
	uu, err := s.Undo(ctx, tenant, u.ImportID, postgres.UndoOptions{})
	if err != nil || uu.Deactivated != 3 {
		t.Fatalf("undo of the undo: %+v, %v; want 3 deactivated", uu, err)
	}
	if diff := cmp.Diff(afterRun, snapshot(t, s, tenant)); diff != "" {
		t.Errorf("after undoing the undo (-after the run +now):\n%s", diff)
	}
}
