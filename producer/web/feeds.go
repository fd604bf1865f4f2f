package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/userimport/userimport/internal/feed"
	"github.com/userimport/userimport/internal/intake"
	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/postgres"
)

// The HR feeds' pages: the tenant's feeds, a feed and its runs, and a run's
// page, where a run held for approval is approved or rejected.

// feedRow is a feed as the list of feeds shows it.
type feedRow struct {
	postgres.Feed
	Last *postgres.FeedRun // nil: no run yet
	Next *time.Time        // nil: disabled
}

func (u *UI) newFeedRow(r *http.Request, s *session, f postgres.Feed) (feedRow, error) {
	row := feedRow{Feed: f}
	runs, err := u.d.Store.FeedRuns(r.Context(), s.Tenant, f.ID, 1)
	if err != nil {
		return row, err
	}
	if len(runs) > 0 {
		row.Last = &runs[0]
	}
	if sch, err := feed.ParseSchedule(f.Schedule, f.TimeZone); err == nil && f.Enabled {
		next := sch.Next(time.Now())
		row.Next = &next
	}
	return row, nil
}

func (u *UI) feedsPage(w http.ResponseWriter, r *http.Request, s *session) {
	feeds, err := u.d.Store.Feeds(r.Context(), s.Tenant)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	rows := make([]feedRow, 0, len(feeds))
	for _, f := range feeds {
		row, err := u.newFeedRow(r, s, f)
		if err != nil {
			u.fail(w, r, err)
			return
		}
		rows = append(rows, row)
	}
	u.render(w, r, http.StatusOK, "feeds", page{Title: "HR feeds", Tenant: s.Tenant, CSRF: u.csrf(s), Nav: "feeds", D: rows})
}

type feedData struct {
	feedRow
	Runs []postgres.FeedRun
}

// feedRunsShown is how many runs a feed's page lists, newest first.
const feedRunsShown = 50

func (u *UI) feedPage(w http.ResponseWriter, r *http.Request, s *session) {
	f, ok := u.lookupFeed(w, r, s)
	if !ok {
		return
	}
	row, err := u.newFeedRow(r, s, f)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	runs, err := u.d.Store.FeedRuns(r.Context(), s.Tenant, f.ID, feedRunsShown)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	u.render(w, r, http.StatusOK, "feed", page{Title: "Feed " + f.Name, Tenant: s.Tenant, CSRF: u.csrf(s), Nav: "feeds",
		Notice: notices[r.URL.Query().Get("notice")], D: feedData{feedRow: row, Runs: runs}})
}

// runUsersPage is how many users of a run's list its page shows at once.
const runUsersPage = 50

type feedRunData struct {
	Run      postgres.FeedRun
	Feed     postgres.Feed
	Held     bool   // waiting for approval: the buttons are shown
	Crossed  string // the limit the run's list crosses, in words
	Percent  string // the list's share of the active users
	Users    []postgres.UserRef
	Matching int // the users of the list whose Login ID matches Search
	Search   string
	Page     int
	Pages    int
	Prev     string
	Next     string
}

// lookupRun finds the tenant's run named in the path; another tenant's
// answers 404 like a missing one.
func (u *UI) lookupRun(w http.ResponseWriter, r *http.Request, s *session) (postgres.FeedRun, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		u.notFound(w, r, s, "The tenant has no such feed run.")
		return postgres.FeedRun{}, false
	}
	run, err := u.d.Store.FeedRun(r.Context(), s.Tenant, id)
	if errors.Is(err, postgres.ErrNotFound) {
		u.notFound(w, r, s, "The tenant has no such feed run.")
		return run, false
	}
	if err != nil {
		u.fail(w, r, err)
		return run, false
	}
	return run, true
}

// feedRunPage shows a run: its numbers and, for a full run, the users on
// its list (held for approval, or deactivated), paged and searchable by
// Login ID.
func (u *UI) feedRunPage(w http.ResponseWriter, r *http.Request, s *session) {
	run, ok := u.lookupRun(w, r, s)
	if !ok {
		return
	}
	f, err := u.d.Store.FeedByID(r.Context(), s.Tenant, run.FeedID)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	d := feedRunData{Run: run, Feed: f, Held: run.State == lifecycle.RunNeedsApproval,
		Search: strings.TrimSpace(r.URL.Query().Get("q")), Page: 1}
	if run.Absent != nil && run.ActiveBefore != nil {
		d.Crossed = feed.OverLimit(&f, *run.Absent, *run.ActiveBefore)
		if *run.ActiveBefore > 0 {
			d.Percent = strconv.FormatFloat(100*float64(*run.Absent)/float64(*run.ActiveBefore), 'f', 1, 64) + " %"
		}
	}
	if d.Held && d.Crossed == "" {
		d.Crossed = run.Error // the limits changed since: the reason recorded then
	}
	if p, err := strconv.Atoi(r.URL.Query().Get("page")); err == nil && p > 1 {
		d.Page = p
	}
	if run.Pending > 0 || run.Deactivated > 0 {
		d.Users, d.Matching, err = u.d.Store.RunDeactivationsPage(r.Context(), s.Tenant, run.ID, d.Search,
			(d.Page-1)*runUsersPage, runUsersPage)
		if err != nil {
			u.fail(w, r, err)
			return
		}
		d.Pages = max(1, (d.Matching+runUsersPage-1)/runUsersPage)
		link := func(p int) string {
			q := url.Values{"page": {strconv.Itoa(p)}}
			if d.Search != "" {
				q.Set("q", d.Search)
			}
			return "/ui/feed-runs/" + strconv.FormatInt(run.ID, 10) + "?" + q.Encode()
		}
		if d.Page > 1 {
			d.Prev = link(min(d.Page-1, d.Pages))
		}
		if d.Page < d.Pages {
			d.Next = link(d.Page + 1)
		}
	}
	u.render(w, r, http.StatusOK, "feed-run", page{Title: "Feed run " + strconv.FormatInt(run.ID, 10), Tenant: s.Tenant,
		CSRF: u.csrf(s), Nav: "feeds", Notice: notices[r.URL.Query().Get("notice")], D: d})
}

// decideRun approves or rejects a held run, as the API does
// (feed.Decisions), recording the token the session was made with.
func (u *UI) decideRun(approve bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		run, ok := u.lookupRun(w, r, s)
		if !ok {
			return
		}
		_, err := feed.Decisions{Store: u.d.Store, Queue: u.d.Intake, Log: u.d.Log}.Decide(r.Context(), s.Tenant, run.ID, approve, s.TokenID)
		switch {
		case errors.Is(err, postgres.ErrNotFound):
			u.notFound(w, r, s, "The tenant has no such feed run.")
			return
		case errors.Is(err, postgres.ErrRunNotPending):
			u.render(w, r, http.StatusConflict, "message", page{Title: "Already decided", Tenant: s.Tenant, CSRF: u.csrf(s), Nav: "feeds",
				D: message{Heading: "Already decided", Text: "This run is not waiting for approval any more (" + string(run.State) + ").",
					Link: "Back to the run", LinkTo: "/ui/feed-runs/" + strconv.FormatInt(run.ID, 10)}})
			return
		case err != nil:
			u.fail(w, r, err)
			return
		}
		notice := "run-rejected"
		if approve {
			notice = "run-approved"
		}
		seeOther(w, r, "/ui/feed-runs/"+strconv.FormatInt(run.ID, 10)+"?notice="+notice)
	}
}

// runFeedNow queues a run of the feed scheduled for now, as the API's
// POST /v1/feeds/{name}/run does (intake.RunFeedNow).
func (u *UI) runFeedNow(w http.ResponseWriter, r *http.Request, s *session) {
	f, ok := u.lookupFeed(w, r, s)
	if !ok {
		return
	}
	_, err := u.d.Intake.RunFeedNow(r.Context(), &f, time.Now())
	if errors.Is(err, intake.ErrFeedDisabled) {
		u.render(w, r, http.StatusConflict, "message", page{Title: "Feed disabled", Tenant: s.Tenant, CSRF: u.csrf(s), Nav: "feeds",
			D: message{Heading: "Feed disabled", Text: "The feed is disabled: enable it to run it.", Link: "Back to the feed", LinkTo: "/ui/feeds/" + f.Name}})
		return
	}
	if err != nil {
		u.fail(w, r, err)
		return
	}
	seeOther(w, r, "/ui/feeds/"+f.Name+"?notice=feed-run-queued")
}
