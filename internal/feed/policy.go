package feed

import (
	"fmt"
	"time"

	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/postgres"
)

// A feed's modes.
const (
	ModeUpsert = "upsert" // create and update only
	ModeFull   = "full"   // also deactivate the active users absent from the file
)

// superseded is why a run whose file came after a later run's changes nobody.
const superseded = "a later run of the feed was applied first: nobody was deactivated or reactivated"

// Decide is the feed's policy for a run's step once its import finished,
// and for a dry run: a run overtaken by a later run of the feed (its import
// was slow) is superseded, since its file is out of date; an upsert feed
// reactivates the users its file imported and deactivates nobody; a full
// feed also deactivates the active users absent from the file, unless they
// are over the feed's limits (OverLimit): then it deactivates nobody and
// holds them for a person's approval.
func Decide(f *postgres.Feed, s postgres.FeedStep) postgres.FeedOutcome {
	switch {
	case s.LaterApplied:
		return postgres.FeedOutcome{State: lifecycle.RunSuperseded, Reason: superseded}
	case f.Mode != ModeFull:
		return postgres.FeedOutcome{State: lifecycle.RunFinished}
	}
	if reason := OverLimit(f, len(s.Plan.Absent), s.Plan.Active); reason != "" {
		return postgres.FeedOutcome{State: lifecycle.RunNeedsApproval, Full: true, Reason: reason}
	}
	return postgres.FeedOutcome{State: lifecycle.RunFinished, Full: true}
}

// decider is Decide for f, as postgres.Store.ApplyFeedRun takes it.
func decider(f *postgres.Feed) func(postgres.FeedStep) postgres.FeedOutcome {
	return func(s postgres.FeedStep) postgres.FeedOutcome { return Decide(f, s) }
}

// OverLimit says why deactivating absent of active users needs approval
// under f's limits (MaxDeactivateCount, MaxDeactivatePercent), or "" when it
// does not.
func OverLimit(f *postgres.Feed, absent, active int) string {
	if absent == 0 {
		return ""
	}
	if f.MaxDeactivateCount != nil && absent > *f.MaxDeactivateCount {
		return fmt.Sprintf("%d users to deactivate is more than the feed's limit of %d", absent, *f.MaxDeactivateCount)
	}
	pct := 100.0
	if active > 0 {
		pct = 100 * float64(absent) / float64(active)
	}
	if pct > f.MaxDeactivatePercent {
		return fmt.Sprintf("%d of %d active users (%.1f %%) is more than the feed's limit of %g %%",
			absent, active, pct, f.MaxDeactivatePercent)
	}
	return ""
}

// Stale reports whether a feed whose newest object was modified at newest
// (zero: it has none; then the feed's creation counts) is older than the
// feed allows at the run's scheduled time.
func Stale(f *postgres.Feed, newest, at time.Time) bool {
	if f.StaleAfterDays == nil {
		return false
	}
	if newest.IsZero() {
		newest = f.CreatedAt
	}
	return at.Sub(newest) > time.Duration(*f.StaleAfterDays)*24*time.Hour
}
