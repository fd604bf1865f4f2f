package worker_test

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/s3store"
	"github.com/userimport/userimport/internal/stacktest"
	"github.com/userimport/userimport/internal/task"
	"github.com/userimport/userimport/internal/usergen"
	"github.com/userimport/userimport/internal/userrow"
	"github.com/userimport/userimport/worker"
)

// feedRig runs a tenant's full feed night after night through the real
// handlers, PostgreSQL, S3 and mailpit; the queue is a list that the rig
// drains in order, as one worker would.
type feedRig struct {
	t      *testing.T
	store  *postgres.Store
	files  *s3store.Store
	deps   worker.Deps
	queue  *recorder
	tenant string
	feed   postgres.Feed
	to     string
	header []string
	rows   [][]string // generated users, in the format's 27 columns
}

func newFeedRig(t *testing.T, users int) *feedRig {
	t.Helper()
	ctx := t.Context()
	r := &feedRig{t: t, store: pgtest.Store(t), files: stacktest.S3(t), queue: &recorder{}, tenant: pgtest.Tenant(t),
		to: stacktest.Address("feed")}
	if err := r.store.SetRoles(ctx, r.tenant, demoRoles); err != nil {
		t.Fatal(err)
	}
	sender := newSender(t)
	r.deps = worker.Deps{Store: r.store, Files: r.files, Queue: r.queue, Mail: sender, Log: zap.NewNop(), ChunkSize: 150}
	var err error
	r.feed, err = r.store.CreateFeed(ctx, postgres.Feed{Tenant: r.tenant, Name: "hr", Prefix: "feeds/" + r.tenant + "/hr/",
		Schedule: "0 2 * * *", TimeZone: "Europe/Paris", Delimiter: "auto", Header: "auto", Mode: "full",
		MaxDeactivatePercent: 10, Notify: []string{r.to}, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cleanPrefix(ctx, r.files, "feeds/"+r.tenant+"/") })
	var buf bytes.Buffer
	if _, err := usergen.Write(&buf, usergen.Options{Rows: users, Seed: 5}); err != nil {
		t.Fatal(err)
	}
	all, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	r.header, r.rows = all[0], all[1:]
	return r
}

// put uploads rows as the feed's file name.
func (r *feedRig) put(name string, rows [][]string) {
	r.t.Helper()
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write(r.header)
	_ = w.WriteAll(rows)
	if _, err := r.files.Put(r.t.Context(), r.feed.Prefix+name, buf.Bytes(), "text/csv"); err != nil {
		r.t.Fatal(err)
	}
}

// night runs the feed as scheduled for at, and every task it leads to.
func (r *feedRig) night(at time.Time) postgres.FeedRun {
	r.t.Helper()
	ctx := r.t.Context()
	run, err := task.NewFeedRun(task.FeedRunPayload{Tenant: r.tenant, FeedID: r.feed.ID, ScheduledFor: &at}, task.QueueDefault)
	if err != nil {
		r.t.Fatal(err)
	}
	mux := worker.NewServeMux(r.deps)
	r.queue.tasks = append(r.queue.tasks[:0], run)
	for i := 0; i < len(r.queue.tasks); i++ {
		if err := mux.ProcessTask(ctx, r.queue.tasks[i]); err != nil {
			r.t.Fatalf("%s: %v", r.queue.tasks[i].Type(), err)
		}
	}
	fr, err := r.store.FeedRunAt(ctx, r.tenant, r.feed.ID, at)
	if err != nil {
		r.t.Fatal(err)
	}
	return fr
}

// inactive returns the Login IDs of the tenant's inactive users, sorted.
func (r *feedRig) inactive() []string {
	r.t.Helper()
	rows, err := r.store.Pool().Query(r.t.Context(), `SELECT login_id FROM users WHERE tenant_id = $1 AND NOT active AND deactivated_at IS NOT NULL ORDER BY login_id COLLATE "C"`, r.tenant)
	if err != nil {
		r.t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			r.t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// active counts the tenant's active users.
func (r *feedRig) active() int {
	r.t.Helper()
	var n int
	if err := r.store.Pool().QueryRow(r.t.Context(), `SELECT count(*) FROM users WHERE tenant_id = $1 AND active`, r.tenant).Scan(&n); err != nil {
		r.t.Fatal(err)
	}
	return n
}

func logins(rows [][]string) []string {
	out := make([]string, len(rows))
	for i, row := range rows {
		out[i] = strings.TrimSpace(row[userrow.LoginID])
	}
	slices.Sort(out)
	return out
}

// waitMail waits until mailpit holds n messages for to, and returns them.
func waitMail(t *testing.T, to string, n int) []stacktest.Message {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		msgs := stacktest.Mail(t, to)
		if len(msgs) >= n || time.Now().After(deadline) {
			if len(msgs) != n {
				t.Fatalf("%d e-mails to %s, want %d: %+v", len(msgs), to, n, msgs)
			}
			return msgs
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Four nights of a full feed: the first creates the users, the second
// changes some, removes 3 % (deactivated) and adds some; the third, a
// truncated file missing 40 %, is held for approval and deactivates nobody
// until approved; the fourth, with the users back, reactivates them. A run
// that finds nothing new records it and e-mails nobody; a stale feed warns
// once.
func TestFeedNights(t *testing.T) {
	t.Parallel()
	r := newFeedRig(t, 600)
	base := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -10).Add(time.Hour) // 02:00 in Paris

	// Night 1: 500 users.
	night1 := r.rows[:500]
	r.put("night-1.csv", night1)
	run := r.night(base)
	im, err := r.store.Import(t.Context(), r.tenant, run.ImportID)
	if err != nil {
		t.Fatal(err)
	}
	if run.State != "finished" || im.Kind != "feed" || im.Created != 500 || run.Deactivated != 0 || r.active() != 500 {
		t.Fatalf("night 1: run %+v, import %+v, %d active", run, im, r.active())
	}
	waitMail(t, r.to, 1)

	// Night 2: 15 (3 %) leave, 20 change, 40 arrive; one user's record is
	// invalid: rejected, but not deactivated (it is in the file).
	var night2 [][]string
	for i, row := range r.rows[15:540] {
		row = slices.Clone(row)
		if i < 20 {
			row[userrow.UserName] += " Changed"
		}
		if i == 30 {
			row[userrow.Email] = "not-an-address@"
		}
		night2 = append(night2, row)
	}
	r.put("night-2.csv", night2)
	run = r.night(base.AddDate(0, 0, 1))
	im, _ = r.store.Import(t.Context(), r.tenant, run.ImportID)
	if run.State != "finished" || run.Deactivated != 15 || im.Created != 40 || im.Updated != 20 || im.Rejected != 1 {
		t.Fatalf("night 2: run %+v, import %+v", run, im)
	}
	if got, want := r.inactive(), logins(r.rows[:15]); !slices.Equal(got, want) {
		t.Fatalf("night 2 deactivated %v, want %v", got, want)
	}
	msgs := waitMail(t, r.to, 2)
	if !strings.Contains(msgs[0].Subject, "15 deactivated") { // newest first
		t.Errorf("night 2 e-mail: %q", msgs[0].Subject)
	}

	// Nothing new: the same object again.
	run = r.night(base.AddDate(0, 0, 1).Add(12 * time.Hour))
	if run.State != "nothing_new" || run.ImportID != 0 {
		t.Fatalf("nothing new: run %+v", run)
	}
	time.Sleep(500 * time.Millisecond)
	waitMail(t, r.to, 2)

	// Night 3: a truncated file, 40 % of the active users missing. The
	// e-mail links the run's page.
	r.deps.PublicURL = "https://imports.example.com/"
	night3 := night2[:len(night2)*60/100]
	r.put("night-3.csv", night3)
	run = r.night(base.AddDate(0, 0, 2))
	absent := logins(night2[len(night3):])
	if run.State != "needs_approval" || run.Pending != len(absent) || run.Deactivated != 0 || r.active() != 525 {
		t.Fatalf("night 3: run %+v, %d active", run, r.active())
	}
	msgs = waitMail(t, r.to, 3)
	if !strings.Contains(msgs[0].Subject, "needs approval") || !strings.Contains(msgs[0].Subject, "210 users") {
		t.Errorf("night 3 e-mail: %q", msgs[0].Subject)
	}
	if text, link := stacktest.Text(t, msgs[0].ID), fmt.Sprintf("https://imports.example.com/ui/feed-runs/%d", run.ID); !strings.Contains(text, link) {
		t.Errorf("night 3 e-mail does not link %s:\n%s", link, text)
	}
	// Approving deactivates exactly the users the file left out.
	decided, err := r.store.DecideFeedRun(t.Context(), r.tenant, run.ID, true, "test")
	if err != nil {
		t.Fatal(err)
	}
	if decided.State != "applied" || decided.Deactivated != len(absent) {
		t.Fatalf("approved: %+v", decided)
	}
	want := append(logins(r.rows[:15]), absent...)
	slices.Sort(want)
	if got := r.inactive(); !slices.Equal(got, want) {
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("after approval: %d inactive, want %d; first difference at %d: %q, want %q", len(got), len(want), i, got[i], want[i])
			}
		}
	}
	if _, err := r.store.DecideFeedRun(t.Context(), r.tenant, run.ID, true, "test"); err == nil {
		t.Error("approved twice")
	}
	// The decision's e-mail, once however often its task is delivered.
	decidedTask, err := task.NewFeedDecided(task.FeedDecidedPayload{Tenant: r.tenant, RunID: run.ID}, task.QueueDefault)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := worker.NewServeMux(r.deps).ProcessTask(t.Context(), decidedTask); err != nil {
			t.Fatal(err)
		}
	}
	msgs = waitMail(t, r.to, 4)
	if want := fmt.Sprintf("Feed hr: run %d approved, %d users deactivated", run.ID, len(absent)); msgs[0].Subject != want {
		t.Errorf("decision e-mail: %q, want %q", msgs[0].Subject, want)
	}
	if text := stacktest.Text(t, msgs[0].ID); !strings.Contains(text, "approved by test") || !strings.Contains(text, "/ui/feed-runs/") {
		t.Errorf("decision e-mail:\n%s", text)
	}
	time.Sleep(500 * time.Millisecond)
	waitMail(t, r.to, 4)

	// Night 4: everyone back, and five new: the 210 are reactivated.
	r.put("night-4.csv", append(slices.Clone(night2), r.rows[540:545]...))
	run = r.night(base.AddDate(0, 0, 3))
	if run.State != "finished" || run.Reactivated != len(absent) || run.Deactivated != 0 {
		t.Fatalf("night 4: run %+v", run)
	}
	if got := r.inactive(); !slices.Equal(got, logins(r.rows[:15])) {
		t.Fatalf("night 4: %d inactive, want the 15 who left", len(got))
	}
	msgs = waitMail(t, r.to, 5)
	if !strings.Contains(msgs[0].Subject, "Import of") {
		t.Errorf("night 4 e-mail: %q", msgs[0].Subject)
	}

	// Stale: nothing new for more than a day warns once, however often the
	// run is delivered.
	stale := 1
	r.feed.StaleAfterDays = &stale
	if r.feed, err = r.store.UpdateFeed(t.Context(), r.feed); err != nil {
		t.Fatal(err)
	}
	later := time.Now().UTC().Truncate(time.Minute).AddDate(0, 0, 3)
	for range 2 {
		if run = r.night(later); run.State != "nothing_new" || !run.Stale {
			t.Fatalf("stale: %+v", run)
		}
	}
	time.Sleep(500 * time.Millisecond)
	msgs = waitMail(t, r.to, 6)
	if !strings.Contains(msgs[0].Subject, "stale") {
		t.Errorf("stale e-mail: %q", msgs[0].Subject)
	}
}

// A full feed's file rejected as a whole (here a misspelt header) fails the
// run: nobody is deactivated, and the e-mail says so. The next night's good
// file is imported.
func TestFeedRejectedFileDeactivatesNobody(t *testing.T) {
	t.Parallel()
	r := newFeedRig(t, 50)
	base := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -5).Add(time.Hour)
	r.put("1.csv", r.rows[:50])
	if run := r.night(base); run.State != "finished" || r.active() != 50 {
		t.Fatalf("night 1: %+v", run)
	}
	if _, err := r.files.Put(t.Context(), r.feed.Prefix+"2.csv", []byte("User name,Login Identifier\nAnna,anna\n"), "text/csv"); err != nil {
		t.Fatal(err)
	}
	run := r.night(base.AddDate(0, 0, 1))
	if run.State != "failed" || !strings.Contains(run.Error, "rejected as a whole") || r.active() != 50 {
		t.Fatalf("night 2: %+v, %d active", run, r.active())
	}
	msgs := waitMail(t, r.to, 2)
	if !strings.Contains(msgs[0].Subject, "rejected") {
		t.Errorf("night 2 e-mail: %q", msgs[0].Subject)
	}
	r.put("3.csv", r.rows[:49])
	if run := r.night(base.AddDate(0, 0, 2)); run.State != "finished" || run.Deactivated != 1 || r.active() != 49 {
		t.Fatalf("night 3: %+v", run)
	}
}

// An HR system exports an earlier night's data again (people who left came
// back): the same bytes, so the same ETag, as a new object or over the same
// key. It is new against what the users hold now and is imported, and the
// users it lists are reactivated; only the object version of the last
// applied run is nothing new.
func TestFeedReExportOfAnEarlierNight(t *testing.T) {
	t.Parallel()
	r := newFeedRig(t, 100)
	base := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -8).Add(time.Hour)
	nightA, nightB := r.rows, r.rows[5:] // B: five people left
	gone := logins(r.rows[:5])
	etag := func(name string) string {
		t.Helper()
		o, err := r.files.Head(t.Context(), r.feed.Prefix+name)
		if err != nil {
			t.Fatal(err)
		}
		return o.ETag
	}
	steps := []struct {
		name        string
		put         string     // the object uploaded before the night ("": none)
		rows        [][]string // its records
		state       lifecycle.FeedRunState
		reactivated int
		inactive    []string
	}{
		{"night 1: file A", "1.csv", nightA, "finished", 0, nil},
		{"night 2: file B, five left", "2.csv", nightB, "finished", 0, gone},
		{"night 3: A's bytes as a new object", "3.csv", nightA, "finished", len(gone), nil},
		{"night 4: the same object", "", nil, "nothing_new", 0, nil},
		{"night 5: B's bytes over the same key", "3.csv", nightB, "finished", 0, gone},
		{"night 6: A's bytes over it again", "3.csv", nightA, "finished", len(gone), nil},
		{"night 7: the same object", "", nil, "nothing_new", 0, nil},
	}
	for i, st := range steps {
		if st.put != "" {
			r.put(st.put, st.rows)
		}
		run := r.night(base.AddDate(0, 0, i))
		if run.State != st.state || run.Reactivated != st.reactivated || r.active() != 100-len(st.inactive) {
			t.Fatalf("%s: run %+v, %d active", st.name, run, r.active())
		}
		if got := r.inactive(); !slices.Equal(got, st.inactive) {
			t.Fatalf("%s: inactive %v, want %v", st.name, got, st.inactive)
		}
		if st.put != "" && (run.ObjectKey != r.feed.Prefix+st.put || run.ObjectETag != etag(st.put)) {
			t.Fatalf("%s: the run took %s (%s)", st.name, run.ObjectKey, run.ObjectETag)
		}
	}
	// The point of the test: the re-exports carry the ETags seen before.
	if etag("3.csv") != etag("1.csv") {
		t.Fatal("A's bytes have another ETag the second time: the test proves nothing")
	}
}
