// Package feed owns the scheduled HR feeds: their settings and the checks
// of them, their schedules (cron in a time zone) and the asynq
// PeriodicTaskConfigProvider that reads the enabled feeds from PostgreSQL,
// the choice of the object a run imports, and the policy of a run (Decide:
// thresholds, approval, supersede; Stale). Runner carries out the runs
// against small interfaces (Store, Files, Starter, NoticeMailer): Run is the
// feed:run task, AfterImport the run's step once its import ended, DryRun
// what importctl feeds dry-run prints. The worker and importctl only call
// them; the SQL, and the transaction of a run's step, stay in package
// postgres.
//
// A feed run imports the newest object under the feed's prefix, unless it
// is the object version (key and ETag) of the last run whose file was
// applied, through the ordinary pipeline, as an import of kind feed. In full
// mode, once the import has finished and the file was accepted as a whole,
// the active users absent from the file are deactivated — or, above the
// feed's limits, kept on a list that waits for a person's approval.
package feed

import (
	"errors"
	"fmt"
	"io"
	"net/mail"
	"path"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/s3store"
	"github.com/userimport/userimport/internal/userfile"
	"github.com/userimport/userimport/internal/userrow"
)

// Schedule is a feed's schedule in its time zone.
type Schedule struct {
	expr  string
	loc   *time.Location
	every time.Duration // @every: the runs are the multiples of it since the Unix epoch
	cron  cron.Schedule
}

// ParseSchedule reads a schedule: a 5-field cron expression ("0 2 * * *"), a
// descriptor (@daily, @hourly, ...) or "@every <duration>" (at least 1 s),
// in the IANA time zone tz ("" is UTC).
func ParseSchedule(expr, tz string) (Schedule, error) {
	expr = strings.TrimSpace(expr)
	if tz == "" {
		tz = "UTC"
	}
	loc, err := time.LoadLocation(tz)
	if err != nil || tz == "Local" {
		return Schedule{}, fmt.Errorf("time zone %q: use an IANA name such as Europe/Paris or UTC", tz)
	}
	if strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ=") {
		return Schedule{}, fmt.Errorf("schedule %q: give the time zone on its own, not in the expression", expr)
	}
	s := Schedule{expr: expr, loc: loc}
	if d, ok := strings.CutPrefix(expr, "@every "); ok {
		s.every, err = time.ParseDuration(strings.TrimSpace(d))
		if err != nil || s.every < time.Second || s.every%time.Second != 0 {
			return Schedule{}, fmt.Errorf("schedule %q: @every takes a whole number of seconds, at least 1s (e.g. @every 1h)", expr)
		}
		return s, nil
	}
	s.cron, err = cron.ParseStandard(s.Cronspec())
	if err != nil {
		return Schedule{}, fmt.Errorf("schedule %q: %w (want a cron expression such as \"0 2 * * *\", or @daily)", expr, err)
	}
	return s, nil
}

// Cronspec is the schedule as asynq's scheduler (robfig/cron) takes it, the
// time zone included: "CRON_TZ=Europe/Paris 0 2 * * *".
func (s Schedule) Cronspec() string {
	if s.every > 0 {
		return s.expr
	}
	return "CRON_TZ=" + s.loc.String() + " " + s.expr
}

// skew is how far ahead of the worker's clock a scheduler's may be: a task
// fired at 02:00:00 by a producer whose clock runs a second ahead still maps
// to 02:00 on the worker, not to the day before.
const skew = 2 * time.Second

// Last returns the schedule's latest fire time at or before now: the time a
// run started now is scheduled for. For @every, the fire times are the
// multiples of the interval.
func (s Schedule) Last(now time.Time) time.Time {
	if s.every > 0 {
		return now.Truncate(s.every)
	}
	now = now.Add(skew).Truncate(time.Minute)
	// Look back over growing windows until one holds a fire time, then step
	// forward to the last one before now.
	for _, back := range []time.Duration{time.Minute, time.Hour, 25 * time.Hour, 32 * 24 * time.Hour, 367 * 24 * time.Hour, 5 * 366 * 24 * time.Hour} {
		t := s.cron.Next(now.Add(-back))
		if t.IsZero() || t.After(now) {
			continue
		}
		for {
			n := s.cron.Next(t)
			if n.IsZero() || n.After(now) {
				return t.In(time.UTC)
			}
			t = n
		}
	}
	return time.Time{}
}

// Next returns the first fire time after t.
func (s Schedule) Next(t time.Time) time.Time {
	if s.every > 0 {
		return t.Truncate(s.every).Add(s.every)
	}
	return s.cron.Next(t)
}

// Defaults of a feed's settings.
const (
	DefaultMaxDeactivatePercent = 10
	DefaultTimeZone             = "UTC"
)

var feedName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// PrefixRoot is the tenant's area of the bucket that feeds read from.
func PrefixRoot(tenant string) string { return "feeds/" + tenant + "/" }

// DefaultPrefix is where a feed reads when no prefix is given.
func DefaultPrefix(tenant, name string) string { return PrefixRoot(tenant) + name + "/" }

// Normalize fills in the defaults of f's unset settings.
func Normalize(f *postgres.Feed) {
	if f.Prefix == "" {
		f.Prefix = DefaultPrefix(f.Tenant, f.Name)
	}
	if f.TimeZone == "" {
		f.TimeZone = DefaultTimeZone
	}
	if f.Delimiter == "" {
		f.Delimiter = "auto"
	}
	if f.Header == "" {
		f.Header = "auto"
	}
	if f.Mode == "" {
		f.Mode = ModeUpsert
	}
	if f.Notify == nil {
		f.Notify = []string{}
	}
}

// Validate checks a feed's settings; the error lists every problem, in words
// an operator can act on.
func Validate(f *postgres.Feed) error {
	var errs []error
	if err := postgres.ValidTenant(f.Tenant); err != nil {
		errs = append(errs, err)
	}
	if !feedName.MatchString(f.Name) {
		errs = append(errs, fmt.Errorf(`name %q: 1 to 63 lower-case letters, digits, "-" or "_", starting with a letter or digit`, f.Name))
	}
	if err := ValidPrefix(f.Tenant, f.Prefix); err != nil {
		errs = append(errs, err)
	}
	if _, err := ParseSchedule(f.Schedule, f.TimeZone); err != nil {
		errs = append(errs, err)
	}
	if _, err := userfile.ParseDelimiter(f.Delimiter); err != nil {
		errs = append(errs, err)
	}
	if _, err := userrow.ParseHeaderMode(f.Header); err != nil {
		errs = append(errs, err)
	}
	switch f.Mode {
	case ModeUpsert:
	case ModeFull:
		if len(f.Notify) == 0 {
			errs = append(errs, errors.New("notify: a full feed needs someone to notify (its deactivations may wait for approval)"))
		}
	default:
		errs = append(errs, fmt.Errorf("mode %q: use upsert (create and update only) or full (also deactivate the users absent from the file)", f.Mode))
	}
	if f.MaxDeactivatePercent < 0 || f.MaxDeactivatePercent > 100 {
		errs = append(errs, fmt.Errorf("max_deactivate_percent %g: from 0 to 100", f.MaxDeactivatePercent))
	}
	if f.MaxDeactivateCount != nil && *f.MaxDeactivateCount < 0 {
		errs = append(errs, fmt.Errorf("max_deactivate_count %d: 0 or more", *f.MaxDeactivateCount))
	}
	if f.StaleAfterDays != nil && *f.StaleAfterDays <= 0 {
		errs = append(errs, fmt.Errorf("stale_after_days %d: 1 or more", *f.StaleAfterDays))
	}
	for _, n := range f.Notify {
		if a, err := mail.ParseAddress(n); err != nil || a.Address != n || len(n) > 254 {
			errs = append(errs, fmt.Errorf("notify: %q is not an e-mail address", n))
		}
	}
	return errors.Join(errs...)
}

// ValidPrefix checks that a feed's prefix is in the tenant's own area,
// feeds/<tenant>/, and ends with "/": a feed never reads another tenant's
// objects (feeds/acme/ must not also match feeds/acme2/...).
func ValidPrefix(tenant, prefix string) error {
	root := PrefixRoot(tenant)
	if !strings.HasPrefix(prefix, root) || !strings.HasSuffix(prefix, "/") || strings.Contains(prefix, "..") ||
		strings.Contains(prefix, "//") {
		return fmt.Errorf("prefix %q: name a folder under %s, ending with / (e.g. %shr/)", prefix, root, root)
	}
	return nil
}

// reportSuffix ends the error reports the workers write next to a file
// (worker.ReportSuffix): they are not feed files.
const reportSuffix = ".errors.csv"

// Newest returns the object a run considers: the newest (last modified,
// then greatest key) under the prefix, leaving out error reports and
// "folders". Only the newest counts: a full feed's file is a snapshot, and
// importing an older one after it would bring back what the newer removed.
func Newest(objs []s3store.Object) (s3store.Object, bool) {
	var (
		best  s3store.Object
		found bool
	)
	for _, o := range objs {
		if strings.HasSuffix(o.Key, "/") || strings.HasSuffix(o.Key, reportSuffix) || path.Base(o.Key) == "" {
			continue
		}
		if !found || o.LastModified.After(best.LastModified) || (o.LastModified.Equal(best.LastModified) && o.Key > best.Key) {
			best, found = o, true
		}
	}
	return best, found
}

// Login is a record's Login ID and line.
type Login struct {
	Line    int
	LoginID string
}

// ReadLogins reads the Login ID of every record of a file that has one,
// valid or not.
func ReadLogins(r *userfile.Reader) ([]Login, error) {
	var out []Login
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if id := rec.User.LoginID; id != "" {
			out = append(out, Login{Line: rec.Line, LoginID: id})
		}
	}
}

// Split returns the Login IDs present in the file (every record's: a user
// whose record was rejected is still in the file and is not deactivated)
// and those imported (of records not rejected, which may reactivate their
// user).
func Split(logins []Login, rejectedLines []int) (present, imported []string) {
	slices.Sort(rejectedLines)
	present = make([]string, 0, len(logins))
	imported = make([]string, 0, len(logins))
	for _, l := range logins {
		present = append(present, l.LoginID)
		if _, rejected := slices.BinarySearch(rejectedLines, l.Line); !rejected {
			imported = append(imported, l.LoginID)
		}
	}
	return present, imported
}
