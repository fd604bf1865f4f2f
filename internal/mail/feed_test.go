package mail

import (
	"strings"
	"testing"

	"github.com/userimport/userimport/internal/lifecycle"
)

func TestComposeFeed(t *testing.T) {
	t.Parallel()
	base := Result{Tenant: "acme", File: "hr.csv", ImportID: 7, State: lifecycle.ImportFinished, Records: 100, Unchanged: 100}
	for _, tc := range []struct {
		feed             FeedSummary
		subject, inIntro string
	}{
		{FeedSummary{Name: "hr", RunID: 3, State: "needs_approval", Full: true, Pending: 40, Active: 100,
			Reason: "40 of 100 active users (40.0 %) is more than the feed's limit of 10 %", Names: []string{"Anna (anna)", "Béla\n(bela)"}},
			"Feed hr needs approval: 40 users to deactivate (import 7)", "importctl feeds approve --tenant acme 3"},
		{FeedSummary{Name: "hr", RunID: 3, State: "needs_approval", Full: true, Pending: 40, Active: 100, Reason: "over",
			RunURL: "https://imports.example.com/ui/feed-runs/3"},
			"Feed hr needs approval", "approve or reject it on the run's page: https://imports.example.com/ui/feed-runs/3"},
		{FeedSummary{Name: "hr", RunID: 4, State: "finished", Full: true, Deactivated: 2, Names: []string{"Anna (anna)", "Béla (bela)"}},
			"Feed hr: 0 created, 0 updated, 2 deactivated, 0 rejected", "2 users absent from the file were deactivated: Anna (anna); Béla (bela)."},
		{FeedSummary{Name: "hr", RunID: 5, State: "finished", Full: true, Reactivated: 3},
			"Import of hr.csv: 0 created, 0 updated, 100 unchanged, 0 rejected", "3 users who are back in the file were reactivated."},
		{FeedSummary{Name: "hr", RunID: 6, State: "failed", Reason: "the file was replaced or removed during the import"},
			"Import of hr.csv", "Nobody was deactivated: the file was replaced"},
	} {
		r := base
		r.Feed = &tc.feed
		subject, text, html := Compose(r)
		if !strings.HasPrefix(subject, tc.subject) || !strings.Contains(text, tc.inIntro) || !strings.Contains(html, "feed hr (run") {
			t.Errorf("%+v:\nsubject %q\n%s", tc.feed, subject, text)
		}
		if strings.Contains(text, "Béla\n") {
			t.Error("a name from the file broke a line")
		}
	}
}
