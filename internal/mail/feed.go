package mail

import (
	"context"
	"fmt"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/userimport/userimport/internal/lifecycle"
)

// FeedSummary is what a feed run's import e-mail adds: what the run did to
// the users besides the import.
type FeedSummary struct {
	Name  string // the feed's
	RunID int64
	Full  bool // full mode: absent users are deactivated
	// State is the run's: finished, needs_approval or failed.
	State       lifecycle.FeedRunState
	Deactivated int
	Reactivated int
	Pending     int    // users whose deactivation waits for approval
	Active      int    // active users before the run
	Reason      string // why the deactivations wait, or why the run failed
	Names       []string
	// RunURL is the run's web page, where a held run is approved or
	// rejected (PUBLIC_URL); "": the e-mail names importctl and the API only.
	RunURL string
}

// maxFeedNames is how many users on a deactivation list the e-mail names.
const maxFeedNames = 10

func feedSubject(r Result) string {
	f := r.Feed
	if f == nil {
		return ""
	}
	name := truncate(oneLine(f.Name), maxSubjectFile)
	switch {
	case f.State == lifecycle.RunNeedsApproval:
		return fmt.Sprintf("Feed %s needs approval: %s users to deactivate (import %d)", name, thousands(f.Pending), r.ImportID)
	case f.Deactivated > 0 && r.State == lifecycle.ImportFinished:
		return fmt.Sprintf("Feed %s: %s created, %s updated, %s deactivated, %s rejected", name,
			thousands(r.Created), thousands(r.Updated), thousands(f.Deactivated), thousands(r.Rejected))
	}
	return ""
}

// feedIntro says what the run did to the users besides the import.
func feedIntro(r Result) []string {
	f := r.Feed
	if f == nil {
		return nil
	}
	var out []string
	names := func() string {
		n := f.Names
		if len(n) > maxFeedNames {
			n = n[:maxFeedNames]
		}
		clean := make([]string, len(n))
		for i, s := range n {
			clean[i] = oneLine(s)
		}
		s := strings.Join(clean, "; ")
		if more := max(f.Pending, f.Deactivated) - len(n); more > 0 {
			s += fmt.Sprintf("; and %s more", thousands(more))
		}
		return s
	}
	feed := fmt.Sprintf("feed %s (run %d)", oneLine(f.Name), f.RunID)
	switch f.State {
	case lifecycle.RunNeedsApproval:
		out = append(out,
			fmt.Sprintf("This import is the %s. Its file leaves out %s of the %s active users, which is above the feed's safety limit: %s.",
				feed, thousands(f.Pending), thousands(f.Active), oneLine(f.Reason)),
		)
		if f.RunURL != "" {
			out = append(out, "Review the list and approve or reject it on the run's page: "+oneLine(f.RunURL))
		}
		out = append(out,
			"Nobody was deactivated. Check the file; if the list is right, approve it with "+
				fmt.Sprintf("importctl feeds approve --tenant %s %d (or POST /v1/feed-runs/%d/approve); otherwise reject it "+
					"(importctl feeds reject, or POST /v1/feed-runs/%d/reject).", oneLine(r.Tenant), f.RunID, f.RunID, f.RunID),
			"Users to deactivate: "+names()+".")
	case lifecycle.RunFailed, lifecycle.RunSuperseded:
		out = append(out, fmt.Sprintf("This import is the %s. Nobody was deactivated: %s", feed, oneLine(f.Reason)))
	default:
		switch {
		case !f.Full:
			out = append(out, fmt.Sprintf("This import is the %s, which creates and updates users only.", feed))
		case f.Deactivated == 0:
			out = append(out, fmt.Sprintf("This import is the %s. Every active user is in the file: nobody was deactivated.", feed))
		default:
			out = append(out, fmt.Sprintf("This import is the %s. %s users absent from the file were deactivated: %s.",
				feed, thousands(f.Deactivated), names()))
		}
	}
	if f.Reactivated > 0 {
		out = append(out, fmt.Sprintf("%s users who are back in the file were reactivated.", thousands(f.Reactivated)))
	}
	return out
}

// Notice is a short plain-text e-mail about a feed (a stale feed, say), not
// about one import.
type Notice struct {
	Subject    string
	Paragraphs []string
}

// StaleNotice is the warning that a feed's run found no new file and the
// newest is older than the feed allows (staleDays): feed and tenant name
// it, at is the run's scheduled time, where the s3:// folder it read.
func StaleNotice(feed, tenant string, at time.Time, where string, staleDays int) Notice {
	return Notice{
		Subject: fmt.Sprintf("Feed %s is stale: no new file for more than %s", feed, days(staleDays)),
		Paragraphs: []string{
			fmt.Sprintf("The run of feed %s of tenant %s scheduled for %s found no new file under %s.",
				feed, tenant, at.UTC().Format(time.RFC3339), where),
			fmt.Sprintf("The newest file is older than the %s the feed allows. Check that the HR system still exports it.", days(staleDays)),
		},
	}
}

// DecisionNotice says that the list of a feed's run held for approval was
// approved (deactivated users deactivated) or rejected, by whom (the token's
// name), with the run's page when there is one.
func DecisionNotice(feed, tenant string, runID int64, approved bool, deactivated int, by, runURL string) Notice {
	n := Notice{Subject: fmt.Sprintf("Feed %s: run %d rejected, nobody deactivated", feed, runID),
		Paragraphs: []string{fmt.Sprintf("The list of run %d of feed %s of tenant %s, held for approval, was rejected by %s: nobody on it was deactivated.",
			runID, feed, tenant, by)}}
	if approved {
		n.Subject = fmt.Sprintf("Feed %s: run %d approved, %s users deactivated", feed, runID, thousands(deactivated))
		n.Paragraphs = []string{fmt.Sprintf("The list of run %d of feed %s of tenant %s, held for approval, was approved by %s: %s users were deactivated "+
			"(those on the list still active and not changed by a later import).", runID, feed, tenant, by, thousands(deactivated))}
	}
	if runURL != "" {
		n.Paragraphs = append(n.Paragraphs, "The run's page: "+runURL)
	}
	return n
}

func days(n int) string {
	if n == 1 {
		return "1 day"
	}
	return fmt.Sprintf("%d days", n)
}

// SendNotice e-mails n to the recipients, each their own message; errors are
// as Send's.
func (s *Sender) SendNotice(ctx context.Context, to []string, n Notice) error {
	paras := make([]string, len(n.Paragraphs))
	for i, p := range n.Paragraphs {
		paras[i] = oneLine(p)
	}
	body := strings.Join(paras, "\n\n") + "\n\n-- \nThis message was sent automatically by userimport.\n"
	return s.sendEach(ctx, to, func(m *gomail.Msg) {
		m.Subject(oneLine(n.Subject))
		m.SetBodyString(gomail.TypeTextPlain, body)
	})
}
