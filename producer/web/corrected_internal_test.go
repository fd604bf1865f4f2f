package web

import (
	"regexp"
	"strings"
	"testing"
)

// A corrected copy goes next to an uploaded file, but never under the events
// prefix: there the events endpoint would import it a second time.
func TestCorrectedKeyStaysOutOfTheEventsPrefix(t *testing.T) {
	t.Parallel()
	u := &UI{d: Deps{EventsPrefix: "incoming/"}}
	// An upload's key: uploads/<tenant>/<time>-<random>/<name>.
	upload := regexp.MustCompile(`^uploads/acme/[0-9TZ]+-[0-9a-f]{8}/users\.corrected-7\.csv$`)
	for _, tc := range []struct {
		key  string
		want *regexp.Regexp
	}{
		{"uploads/acme/T-0/users.csv", regexp.MustCompile(`^uploads/acme/T-0/users\.corrected-7\.csv$`)},
		{"incoming/acme/users.csv", upload},
		{"incoming/acme/sub/dir/users", upload},
	} {
		got := u.correctedKey("acme", tc.key, 7)
		if !tc.want.MatchString(got) {
			t.Errorf("correctedKey(%q) = %q, want %q", tc.key, got, tc.want)
		}
		if strings.HasPrefix(got, "incoming/") {
			t.Errorf("correctedKey(%q) = %q: under the events prefix", tc.key, got)
		}
	}
}
