package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/feed"
	"github.com/userimport/userimport/internal/importer"
	"github.com/userimport/userimport/internal/mail"
	"github.com/userimport/userimport/internal/postgres"
)

// Changing the HR feeds from the pages: create, edit, enable and disable,
// remove, and a dry run of the newest file. The settings go the API's way
// (POST and PATCH /v1/feeds, importctl feeds add and update): a
// feed.Change applied and checked by feed.Change.Apply, the addresses by
// intake.Recipients, then the store.

// feedForm is a feed's settings as the form holds them, typed.
type feedForm struct {
	Name, Prefix, Schedule, TimeZone, Delimiter, Header, Mode string
	MaxPercent, MaxCount, Notify, StaleDays                   string
	Enabled                                                   bool
}

func formOf(f *postgres.Feed) feedForm {
	ff := feedForm{Name: f.Name, Prefix: f.Prefix, Schedule: f.Schedule, TimeZone: f.TimeZone, Delimiter: f.Delimiter,
		Header: f.Header, Mode: f.Mode, MaxPercent: strconv.FormatFloat(f.MaxDeactivatePercent, 'g', -1, 64),
		Notify: strings.Join(f.Notify, ", "), Enabled: f.Enabled}
	if f.MaxDeactivateCount != nil {
		ff.MaxCount = strconv.Itoa(*f.MaxDeactivateCount)
	}
	if f.StaleAfterDays != nil {
		ff.StaleDays = strconv.Itoa(*f.StaleAfterDays)
	}
	return ff
}

func readFeedForm(r *http.Request) feedForm {
	v := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	return feedForm{Name: v("name"), Prefix: v("prefix"), Schedule: v("schedule"), TimeZone: v("time_zone"),
		Delimiter: v("delimiter"), Header: v("header"), Mode: v("mode"), MaxPercent: v("max_deactivate_percent"),
		MaxCount: v("max_deactivate_count"), Notify: r.PostFormValue("notify"), StaleDays: v("stale_after_days"),
		Enabled: r.PostFormValue("enabled") == "on"}
}

// change is the form as a feed.Change of every setting: an empty count
// limit is none, an empty stale warning never, an empty folder the default.
func (ff feedForm) change() (feed.Change, error) {
	c := feed.Change{Name: &ff.Name, Prefix: &ff.Prefix, Schedule: &ff.Schedule, TimeZone: &ff.TimeZone,
		Delimiter: &ff.Delimiter, Header: &ff.Header, Mode: &ff.Mode, Enabled: &ff.Enabled}
	notify := splitNames(ff.Notify)
	c.Notify = &notify
	var errs []error
	percent, err := strconv.ParseFloat(ff.MaxPercent, 64)
	if err != nil {
		errs = append(errs, fmt.Errorf("the deactivation limit in per cent %q: want a number from 0 to 100", ff.MaxPercent))
	}
	c.MaxDeactivatePercent = &percent
	count, days := -1, 0
	if ff.MaxCount != "" {
		if count, err = strconv.Atoi(ff.MaxCount); err != nil || count < 0 {
			errs = append(errs, fmt.Errorf("the deactivation limit in users %q: want a whole number, 0 or more, or nothing for no limit", ff.MaxCount))
		}
	}
	if ff.StaleDays != "" {
		if days, err = strconv.Atoi(ff.StaleDays); err != nil || days <= 0 {
			errs = append(errs, fmt.Errorf("the stale warning %q: want a number of days, 1 or more, or nothing for none", ff.StaleDays))
		}
	}
	c.MaxDeactivateCount, c.StaleAfterDays = &count, &days
	return c, errors.Join(errs...)
}

type feedEditData struct {
	Form    feedForm
	Action  string // where the form posts
	Editing string // the name of the feed edited; "": a new feed
	Root    string // the tenant's area of the bucket
}

func (u *UI) renderFeedForm(w http.ResponseWriter, r *http.Request, s *session, status int, d feedEditData, problem string) {
	d.Root = feed.PrefixRoot(s.Tenant)
	title := "New feed"
	if d.Editing != "" {
		title = "Edit feed " + d.Editing
	}
	u.render(w, r, status, "feed-edit", page{Title: title, Tenant: s.Tenant, CSRF: u.csrf(s), Nav: "feeds", Error: problem, D: d})
}

func (u *UI) newFeedPage(w http.ResponseWriter, r *http.Request, s *session) {
	f := feed.New(s.Tenant)
	feed.Normalize(&f)
	f.Prefix = "" // the default follows the name
	u.renderFeedForm(w, r, s, http.StatusOK, feedEditData{Form: formOf(&f), Action: "/ui/feeds"}, "")
}

func (u *UI) editFeedPage(w http.ResponseWriter, r *http.Request, s *session) {
	f, ok := u.lookupFeed(w, r, s)
	if !ok {
		return
	}
	u.renderFeedForm(w, r, s, http.StatusOK, feedEditData{Form: formOf(&f), Action: "/ui/feeds/" + f.Name + "/edit", Editing: f.Name}, "")
}

// lookupFeed finds the tenant's feed named in the path; another tenant's
// answers 404 like a missing one.
func (u *UI) lookupFeed(w http.ResponseWriter, r *http.Request, s *session) (postgres.Feed, bool) {
	f, err := u.d.Store.FeedByName(r.Context(), s.Tenant, r.PathValue("name"))
	if errors.Is(err, postgres.ErrNotFound) {
		u.notFound(w, r, s, "The tenant has no such feed.")
		return f, false
	}
	if err != nil {
		u.fail(w, r, err)
		return f, false
	}
	return f, true
}

// createFeed and saveFeed store the form's feed, or show the form again
// with every problem found.
func (u *UI) createFeed(w http.ResponseWriter, r *http.Request, s *session) {
	ff := readFeedForm(r)
	f := feed.New(s.Tenant)
	u.storeFeed(w, r, s, &f, ff, feedEditData{Form: ff, Action: "/ui/feeds"})
}

func (u *UI) saveFeed(w http.ResponseWriter, r *http.Request, s *session) {
	f, ok := u.lookupFeed(w, r, s)
	if !ok {
		return
	}
	ff := readFeedForm(r)
	u.storeFeed(w, r, s, &f, ff, feedEditData{Form: ff, Action: "/ui/feeds/" + f.Name + "/edit", Editing: f.Name})
}

func (u *UI) storeFeed(w http.ResponseWriter, r *http.Request, s *session, f *postgres.Feed, ff feedForm, d feedEditData) {
	c, err := ff.change()
	if err == nil {
		err = c.Apply(f)
	}
	if err != nil {
		u.renderFeedForm(w, r, s, http.StatusBadRequest, d, capitalise(strings.ReplaceAll(err.Error(), "\n", "; "))+".")
		return
	}
	if f.Notify, err = u.d.Intake.Recipients(r.Context(), s.Tenant, f.Notify); err != nil {
		var bad *mail.RecipientError
		if errors.As(err, &bad) {
			u.renderFeedForm(w, r, s, http.StatusBadRequest, d, capitalise(bad.Error())+".")
			return
		}
		u.fail(w, r, err)
		return
	}
	var saved postgres.Feed
	if d.Editing == "" {
		saved, err = u.d.Store.CreateFeed(r.Context(), *f)
	} else {
		saved, err = u.d.Store.UpdateFeed(r.Context(), *f)
	}
	switch {
	case errors.Is(err, postgres.ErrFeedExists):
		u.renderFeedForm(w, r, s, http.StatusConflict, d, fmt.Sprintf("The tenant has a feed named %s already.", f.Name))
		return
	case errors.Is(err, postgres.ErrNotFound):
		u.notFound(w, r, s, "The tenant has no such feed.")
		return
	case err != nil:
		u.fail(w, r, err)
		return
	}
	notice := "feed-saved"
	if d.Editing == "" {
		notice = "feed-created"
		u.d.Log.Info("feed created", zap.String("tenant", s.Tenant), zap.String("feed", saved.Name))
	}
	seeOther(w, r, "/ui/feeds/"+saved.Name+"?notice="+notice)
}

// setFeedEnabled enables or disables the feed. The addresses are not
// checked again: a feed whose recipients the tenant's domains no longer
// allow can still be stopped.
func (u *UI) setFeedEnabled(enabled bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		f, ok := u.lookupFeed(w, r, s)
		if !ok {
			return
		}
		c := feed.Change{Enabled: &enabled}
		if err := c.Apply(&f); err != nil {
			// Stored settings that no longer pass: say which, and where to fix them.
			u.render(w, r, http.StatusConflict, "message", page{Title: "Feed not changed", Tenant: s.Tenant, CSRF: u.csrf(s), Nav: "feeds",
				D: message{Heading: "Feed not changed", Text: capitalise(err.Error()) + ".", Link: "Edit the feed", LinkTo: "/ui/feeds/" + f.Name + "/edit"}})
			return
		}
		_, err := u.d.Store.UpdateFeed(r.Context(), f)
		if errors.Is(err, postgres.ErrNotFound) {
			u.notFound(w, r, s, "The tenant has no such feed.")
			return
		}
		if err != nil {
			u.fail(w, r, err)
			return
		}
		notice := "feed-disabled"
		if enabled {
			notice = "feed-enabled"
		}
		seeOther(w, r, "/ui/feeds/"+f.Name+"?notice="+notice)
	}
}

// removeFeed asks first, and removes the feed and its runs' records once
// confirmed (the users and the imports stay), as DELETE /v1/feeds/{name}.
func (u *UI) removeFeed(w http.ResponseWriter, r *http.Request, s *session) {
	f, ok := u.lookupFeed(w, r, s)
	if !ok {
		return
	}
	if r.PostFormValue("confirm") != "yes" {
		u.render(w, r, http.StatusOK, "feed-remove", page{Title: "Remove feed " + f.Name, Tenant: s.Tenant, CSRF: u.csrf(s), Nav: "feeds", D: f})
		return
	}
	err := u.d.Store.DeleteFeed(r.Context(), s.Tenant, f.Name)
	if errors.Is(err, postgres.ErrNotFound) {
		u.notFound(w, r, s, "The tenant has no such feed.")
		return
	}
	if err != nil {
		u.fail(w, r, err)
		return
	}
	u.d.Log.Info("feed removed", zap.String("tenant", s.Tenant), zap.String("feed", f.Name))
	seeOther(w, r, "/ui/feeds?notice=feed-removed")
}

// dryRunShown is how many users of each list a dry run's page names.
const dryRunShown = 50

type dryRunData struct {
	Feed postgres.Feed
	feed.DryRunResult
	Shown int
}

// dryRunFeed shows what a run of the feed would do with the newest file
// under its folder, writing no user: feed.Runner.DryRun, as importctl feeds
// dry-run (its dry-run import is recorded, kind local). It answers when the
// file is read: some 80 s for a million records.
func (u *UI) dryRunFeed(w http.ResponseWriter, r *http.Request, s *session) {
	f, ok := u.lookupFeed(w, r, s)
	if !ok {
		return
	}
	// The dry run reads the whole file in this process, as an upload does:
	// it takes one of the tenant's uploads in flight.
	if u.d.UploadSlot != nil {
		release, err := u.d.UploadSlot(s.Tenant)
		var busy *BusyError
		if errors.As(err, &busy) {
			w.Header().Set("Retry-After", strconv.Itoa(max(int(busy.RetryAfter.Seconds()), 1)))
			u.render(w, r, busy.Status, "message", page{Title: "Busy", Tenant: s.Tenant, CSRF: u.csrf(s), Nav: "feeds",
				D: message{Heading: "Busy", Text: busy.Message, Link: "Back to the feed", LinkTo: "/ui/feeds/" + f.Name}})
			return
		}
		if err != nil {
			u.fail(w, r, err)
			return
		}
		defer release()
	}
	runner := feed.Runner{Store: u.d.Store, Files: u.d.Files, Lister: u.d.Lister, Log: u.d.Log,
		Import: func(ctx context.Context, body io.Reader, opts importer.Options) (importer.Summary, error) {
			return importer.Local(ctx, u.d.Store, body, opts)
		}}
	res, err := runner.DryRun(r.Context(), &f, "")
	if errors.Is(err, feed.ErrNoFile) {
		u.render(w, r, http.StatusConflict, "message", page{Title: "No file", Tenant: s.Tenant, CSRF: u.csrf(s), Nav: "feeds",
			D: message{Heading: "No file to try", Text: "There is no file under " + f.Prefix + " yet: the HR system drops its exports there.",
				Link: "Back to the feed", LinkTo: "/ui/feeds/" + f.Name}})
		return
	}
	if err != nil {
		u.fail(w, r, err)
		return
	}
	u.render(w, r, http.StatusOK, "feed-dry-run", page{Title: "Dry run of feed " + f.Name, Tenant: s.Tenant, CSRF: u.csrf(s), Nav: "feeds",
		D: dryRunData{Feed: f, DryRunResult: res, Shown: dryRunShown}})
}
