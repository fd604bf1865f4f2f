package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/config"
	"github.com/userimport/userimport/internal/feed"
	"github.com/userimport/userimport/internal/importer"
	"github.com/userimport/userimport/internal/intake"
	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/s3store"
	"github.com/userimport/userimport/producer"
)

const feedsSynopsis = `feeds ACTION --tenant T [flags] [args]

Actions:
  list                      the tenant's feeds
  add NAME --schedule CRON  a new feed (flags below)
  update NAME               change the flags given, and only those
  remove NAME               delete the feed and its runs' records (users and imports stay)
  runs NAME                 the feed's runs, newest first
  run NAME                  run the feed now, as its schedule would (never a second import of the same file)
  approve RUN_ID            deactivate the users a run holds for approval
  reject RUN_ID             drop the run's list: nobody is deactivated
  dry-run NAME [s3://...]   what a run would do with the newest (or the given) file, writing no user`

func runFeeds(ctx context.Context, e env, args []string) int {
	fs := newFlags(e, "feeds", feedsSynopsis, `  importctl feeds add --tenant acme --schedule "0 2 * * *" --tz Europe/Paris --mode full \
      --notify hr-admin@acme.example --max-deactivate-percent 5 hr
  # the HR system drops its exports under s3://$S3_BUCKET/feeds/acme/hr/ (the default prefix)
  importctl feeds list --tenant acme
  importctl feeds dry-run --tenant acme hr                  # creates, updates, deactivations: nothing written
  importctl feeds runs --tenant acme hr
  importctl feeds run --tenant acme hr                      # now, instead of waiting for 02:00
  importctl feeds approve --tenant acme 42                  # a run above the limits waits for this
  importctl feeds update --tenant acme --enabled=false hr
A run imports the newest object under the prefix; when a run already imported that version
(same ETag), it records "nothing new" (an older file is never imported after a newer one). In
full mode it then deactivates the active users absent from the file, unless they are more than
--max-deactivate-percent of the active users (or --max-deactivate-count): then it deactivates
nobody, e-mails --notify and waits for approve or reject. Users are never deleted; a user
back in a later file is reactivated. Schedules: 5-field cron, @daily, @hourly or @every 1h.
API mode, for a tenant's admins (list, runs, approve, reject; see --api URL --help):
  USERIMPORT_API=https://import.example.com USERIMPORT_TOKEN=uit_... importctl feeds runs hr
`)
	tenant := fs.String("tenant", "", "the tenant (required)")
	format := fs.String("format", "table", "output: table or json")
	limit := fs.Int("limit", 20, "runs: how many to show")
	fs.String("schedule", "", `add, update: when it runs: "0 2 * * *", @daily, @every 1h`)
	fs.String("tz", "", "add, update: the schedule's IANA time zone (default UTC)")
	fs.String("prefix", "", "add, update: the folder the HR system writes to, under feeds/<tenant>/ (default feeds/<tenant>/<name>/)")
	fs.String("mode", "", "add, update: upsert (create and update) or full (also deactivate users absent from the file) (default upsert)")
	fs.Float64("max-deactivate-percent", feed.DefaultMaxDeactivatePercent, "add, update: full mode: above this share of the active users, deactivations wait for approval")
	fs.Int("max-deactivate-count", -1, "add, update: full mode: above this many, deactivations wait for approval (-1: no count limit)")
	fs.String("notify", "", "add, update: comma-separated addresses that get the runs' e-mails")
	fs.Int("stale-after-days", 0, "add, update: warn when the newest file is older than this (0: never)")
	fs.String("delimiter", "", "add, update: auto, comma or semicolon (default auto)")
	fs.String("header", "", "add, update: auto, skip or none (default auto)")
	fs.Bool("enabled", true, "add, update: whether the feed runs on its schedule")
	fs.String("name", "", "update: rename the feed")
	pos, code, ok := parseArgs(fs, e, args)
	if !ok {
		return code
	}
	if len(pos) == 0 {
		return usageError(e, "feeds", "name an action: list, add, update, remove, runs, run, approve, reject or dry-run (see --help)")
	}
	action, rest := pos[0], pos[1:]
	if err := postgres.ValidTenant(*tenant); err != nil {
		return usageError(e, "feeds", "--tenant: "+err.Error())
	}
	if err := oneOf("format", *format, "table", "json"); err != nil {
		return usageError(e, "feeds", err.Error())
	}
	want := map[string]int{"list": 0, "add": 1, "update": 1, "remove": 1, "runs": 1, "run": 1, "approve": 1, "reject": 1, "dry-run": 1}
	n, known := want[action]
	switch {
	case !known:
		return usageError(e, "feeds", fmt.Sprintf("unknown action %q: use list, add, update, remove, runs, run, approve, reject or dry-run", action))
	case action == "dry-run" && (len(rest) < 1 || len(rest) > 2):
		return usageError(e, "feeds", "dry-run takes a feed name and, optionally, an s3:// object")
	case action != "dry-run" && len(rest) != n:
		return usageError(e, "feeds", fmt.Sprintf("%s takes %d argument(s) (see --help)", action, n))
	}
	change := feedChange(fs)
	if action == "add" && change.Schedule == nil {
		return usageError(e, "feeds", "add needs --schedule")
	}
	if action != "add" && action != "update" && change.set {
		return usageError(e, "feeds", "the feed's settings go with add or update")
	}
	if action == "dry-run" {
		return feedDryRun(ctx, e, *tenant, rest, *format)
	}
	s, err := openStore(ctx, e)
	if err != nil {
		return failure(e, "feeds", err)
	}
	defer s.Close()
	out := feedsOutput{e: e, json: *format == "json"}
	switch action {
	case "list":
		feeds, err := s.Feeds(ctx, *tenant)
		if err != nil {
			return failure(e, "feeds", err)
		}
		return out.feeds(feeds)
	case "add", "update":
		var f postgres.Feed
		if action == "add" {
			f = feed.New(*tenant)
			f.Name = rest[0]
		} else if f, err = s.FeedByName(ctx, *tenant, rest[0]); err != nil {
			return feedFailure(e, *tenant, err)
		}
		if err := change.Apply(&f); err != nil {
			return usageError(e, "feeds", strings.ReplaceAll(err.Error(), "\n", "; "))
		}
		cfg, err := config.Load(config.Importctl, e.getenv)
		if err != nil {
			return failure(e, "feeds", err)
		}
		if f.Notify, err = checkNotify(ctx, s, cfg.NotifyMaxRecipients, *tenant, f.Notify); err != nil {
			return notifyRefused(e, "feeds", err)
		}
		if action == "add" {
			f, err = s.CreateFeed(ctx, f)
		} else {
			f, err = s.UpdateFeed(ctx, f)
		}
		if err != nil {
			return feedFailure(e, *tenant, err)
		}
		return out.feeds([]postgres.Feed{f})
	case "remove":
		if err := s.DeleteFeed(ctx, *tenant, rest[0]); err != nil {
			return feedFailure(e, *tenant, err)
		}
		fmt.Fprintf(e.stdout, "feed %s removed\n", rest[0])
		return exitOK
	case "runs":
		f, err := s.FeedByName(ctx, *tenant, rest[0])
		if err != nil {
			return feedFailure(e, *tenant, err)
		}
		runs, err := s.FeedRuns(ctx, *tenant, f.ID, *limit)
		if err != nil {
			return failure(e, "feeds", err)
		}
		return out.runs(runs)
	case "run":
		return feedRunNow(ctx, e, s, *tenant, rest[0])
	default: // approve, reject
		id, err := strconv.ParseInt(rest[0], 10, 64)
		if err != nil || id <= 0 {
			return usageError(e, "feeds", fmt.Sprintf("run ID %q: want a number (see feeds runs)", rest[0]))
		}
		run, err := s.DecideFeedRun(ctx, *tenant, id, action == "approve", "importctl")
		if errors.Is(err, postgres.ErrRunNotPending) {
			fmt.Fprintf(e.stderr, "importctl feeds: %v\n", err)
			return exitInvalid
		}
		if err != nil {
			return feedFailure(e, *tenant, err)
		}
		if err := queueDecisionMail(ctx, e, s, *tenant, run.ID); err != nil {
			fmt.Fprintf(e.stderr, "importctl feeds: run %d decided, but its e-mail to the feed's people was not queued: %v\n", run.ID, err)
		}
		if out.json {
			return writeJSON(e, producer.NewRunView(&run))
		}
		if run.State == lifecycle.RunApplied {
			fmt.Fprintf(e.stdout, "run %d applied: %d users deactivated\n", run.ID, run.Deactivated)
		} else {
			fmt.Fprintf(e.stdout, "run %d rejected: nobody deactivated\n", run.ID)
		}
		return exitOK
	}
}

// flagChange is a feed.Change from the flags given on the command line; set
// says whether any was.
type flagChange struct {
	feed.Change
	set bool
}

func feedChange(fs *flag.FlagSet) flagChange {
	var c flagChange
	str := func(f *flag.Flag) *string { v := f.Value.String(); return &v }
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "tenant", "format", "limit":
			return
		case "schedule":
			c.Schedule = str(f)
		case "tz":
			c.TimeZone = str(f)
		case "prefix":
			c.Prefix = str(f)
		case "mode":
			c.Mode = str(f)
		case "delimiter":
			c.Delimiter = str(f)
		case "header":
			c.Header = str(f)
		case "name":
			c.Name = str(f)
		case "notify":
			l := splitList(f.Value.String())
			c.Notify = &l
		case "max-deactivate-percent":
			v := f.Value.(flag.Getter).Get().(float64)
			c.MaxDeactivatePercent = &v
		case "max-deactivate-count":
			v := f.Value.(flag.Getter).Get().(int)
			c.MaxDeactivateCount = &v
		case "stale-after-days":
			v := f.Value.(flag.Getter).Get().(int)
			c.StaleAfterDays = &v
		case "enabled":
			v := f.Value.(flag.Getter).Get().(bool)
			c.Enabled = &v
		}
		c.set = true
	})
	return c
}

func feedFailure(e env, tenant string, err error) int {
	if errors.Is(err, postgres.ErrNotFound) {
		return failure(e, "feeds", fmt.Errorf("tenant %s: %w", tenant, err))
	}
	return failure(e, "feeds", err)
}

type feedsOutput struct {
	e    env
	json bool
}

func (o feedsOutput) feeds(feeds []postgres.Feed) int {
	if o.json {
		views := make([]producer.FeedView, len(feeds))
		for i := range feeds {
			views[i] = producer.NewFeedView(&feeds[i])
		}
		return writeJSON(o.e, map[string]any{"feeds": views})
	}
	rows := make([]feedRow, len(feeds))
	for i, f := range feeds {
		rows[i] = feedRow{f.Name, f.Mode, f.Schedule, f.TimeZone, f.Prefix, f.MaxDeactivatePercent, f.MaxDeactivateCount, f.Notify, f.Enabled}
	}
	return printFeeds(o.e, rows)
}

func (o feedsOutput) runs(runs []postgres.FeedRun) int {
	if o.json {
		views := make([]producer.RunView, len(runs))
		for i := range runs {
			views[i] = producer.NewRunView(&runs[i])
		}
		return writeJSON(o.e, map[string]any{"runs": views})
	}
	tw := tabwriter.NewWriter(o.e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tSCHEDULED FOR\tSTATE\tIMPORT\tDEACTIVATED\tREACTIVATED\tPENDING\tOBJECT\tNOTE")
	for _, r := range runs {
		imp := "-"
		if r.ImportID != 0 {
			imp = strconv.FormatInt(r.ImportID, 10)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", r.ID, r.ScheduledFor.UTC().Format(time.DateTime+"Z"), r.State, imp,
			r.Deactivated, r.Reactivated, r.Pending, orDash(r.ObjectKey), orDash(r.Error))
	}
	if err := tw.Flush(); err != nil {
		return failure(o.e, "feeds", err)
	}
	return exitOK
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// feedDryRun prints what a run of the feed would do with its newest (or
// the given) object: feed.Runner.DryRun, the dry run's import in this
// process.
func feedDryRun(ctx context.Context, e env, tenant string, args []string, format string) int {
	cfg, err := config.Load(config.Importctl, e.getenv)
	if err != nil {
		return failure(e, "feeds", err)
	}
	store, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return failure(e, "feeds", err)
	}
	defer store.Close()
	files, err := s3store.New(ctx, cfg.S3)
	if err != nil {
		return failure(e, "feeds", err)
	}
	f, err := store.FeedByName(ctx, tenant, args[0])
	if err != nil {
		return feedFailure(e, tenant, err)
	}
	var key string
	if len(args) == 2 {
		var bucket string
		if bucket, key, err = s3store.ParseURL(args[1]); err != nil {
			return usageError(e, "feeds", err.Error())
		}
		if bucket != files.Bucket() || !strings.HasPrefix(key, feed.PrefixRoot(tenant)) {
			return usageError(e, "feeds", fmt.Sprintf("name an object under s3://%s/%s, the tenant's feeds", files.Bucket(), feed.PrefixRoot(tenant)))
		}
	}
	runner := feed.Runner{Store: store, Files: files, Lister: files, Log: zap.NewNop(),
		Import: func(ctx context.Context, r io.Reader, opts importer.Options) (importer.Summary, error) {
			return importer.Local(ctx, store, r, opts)
		}}
	res, err := runner.DryRun(ctx, &f, key)
	if err != nil {
		return failure(e, "feeds", err)
	}
	code := exitOK
	if res.FileError != nil || res.OverLimit != "" {
		code = exitInvalid
	}
	if format == "json" {
		if c := writeJSON(e, res); c != exitOK {
			return c
		}
		return code
	}
	w := e.stdout
	if res.FileError != nil {
		fmt.Fprintf(w, "feed %s, dry run of %s: the file would be rejected: %s\nnobody would be deactivated\n", res.Feed, res.Source, *res.FileError)
		return code
	}
	fmt.Fprintf(w, "feed %s, dry run of %s: %d records, %d to create, %d to update, %d unchanged, %d rejected\n",
		res.Feed, res.Source, res.Records, res.Create, res.Update, res.Unchanged, res.Rejected)
	switch {
	case res.Mode != feed.ModeFull:
		fmt.Fprintln(w, "upsert mode: nobody would be deactivated")
	case res.OverLimit != "":
		fmt.Fprintf(w, "%d of %d active users would be deactivated, but %s: the run would wait for approval\n",
			len(res.Deactivate), res.Active, res.OverLimit)
	default:
		fmt.Fprintf(w, "%d of %d active users would be deactivated (within the feed's limits)\n", len(res.Deactivate), res.Active)
	}
	listUsers(w, "to deactivate", res.Deactivate)
	fmt.Fprintf(w, "%d inactive users would be reactivated\n", len(res.Reactivate))
	listUsers(w, "to reactivate", res.Reactivate)
	return code
}

// listUsers prints up to 20 users of a list.
func listUsers(w io.Writer, what string, us []feed.User) {
	for i, u := range us {
		if i == 20 {
			fmt.Fprintf(w, "  … and %d more %s (--format json lists them all)\n", len(us)-20, what)
			return
		}
		fmt.Fprintf(w, "  %s\t%s\n", u.LoginID, u.Name)
	}
}

// feedRunNow queues a run of the feed scheduled for now, as POST
// /v1/feeds/{name}/run and the web pages' Run now do (intake.RunFeedNow).
func feedRunNow(ctx context.Context, e env, s *postgres.Store, tenant, name string) int {
	f, err := s.FeedByName(ctx, tenant, name)
	if err != nil {
		return feedFailure(e, tenant, err)
	}
	cfg, err := config.Load(config.Importctl, e.getenv)
	if err != nil {
		return failure(e, "feeds", err)
	}
	redis, err := cfg.Redis()
	if err != nil {
		return failure(e, "feeds", err)
	}
	client := asynq.NewClient(redis)
	defer client.Close()
	in := intake.Intake{Store: s, Queue: client, Namespace: cfg.Namespace}
	at, err := in.RunFeedNow(ctx, &f, time.Now())
	if errors.Is(err, intake.ErrFeedDisabled) {
		fmt.Fprintf(e.stderr, "importctl feeds: %v\n", err)
		return exitInvalid
	}
	if err != nil {
		return failure(e, "feeds", err)
	}
	fmt.Fprintf(e.stdout, "feed %s: a run scheduled for %s is queued (importctl feeds runs --tenant %s %s shows it)\n",
		f.Name, at.Format(time.RFC3339), tenant, f.Name)
	return exitOK
}

// queueDecisionMail queues the e-mail that a held run was decided, as the
// API's and the pages' decisions do (feed.Decisions).
func queueDecisionMail(ctx context.Context, e env, s *postgres.Store, tenant string, runID int64) error {
	cfg, err := config.Load(config.Importctl, e.getenv)
	if err != nil {
		return err
	}
	redis, err := cfg.Redis()
	if err != nil {
		return err
	}
	client := asynq.NewClient(redis)
	defer client.Close()
	in := intake.Intake{Store: s, Queue: client, Namespace: cfg.Namespace}
	return in.EnqueueFeedDecided(ctx, tenant, runID)
}

// feedRow is a feed as the table shows it, from the store (direct mode) or
// the API (API mode).
type feedRow struct {
	name, mode, schedule, zone, prefix string
	percent                            float64
	count                              *int
	notify                             []string
	enabled                            bool
}

// printFeeds writes the feeds' table.
func printFeeds(e env, rows []feedRow) int {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tMODE\tSCHEDULE\tTIME ZONE\tPREFIX\tLIMITS\tNOTIFY\tENABLED")
	for _, f := range rows {
		limits := fmt.Sprintf("%g %%", f.percent)
		if f.count != nil {
			limits += fmt.Sprintf(", %d users", *f.count)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%t\n", f.name, f.mode, f.schedule, f.zone, f.prefix, limits,
			orDash(strings.Join(f.notify, ",")), f.enabled)
	}
	if err := tw.Flush(); err != nil {
		return failure(e, "feeds", err)
	}
	return exitOK
}
