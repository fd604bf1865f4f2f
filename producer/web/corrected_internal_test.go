package web

import (
	"strings"
	"testing"
)

// A corrected copy goes next to an uploaded file, but never under the events
// prefix: there the events endpoint would import it a second time.
func TestCorrectedKeyStaysOutOfTheEventsPrefix(t *testing.T) {
	t.Parallel()
	u := &UI{d: Deps{EventsPrefix: "incoming/", UploadKey: func(tenant, name string) string { return "uploads/" + tenant + "/T-1/" + name }}}
	for _, tc := range []struct{ key, want string }{
		{"uploads/acme/T-0/users.csv", "uploads/acme/T-0/users.corrected-7.csv"},
		{"incoming/acme/users.csv", "uploads/acme/T-1/users.corrected-7.csv"},
		{"incoming/acme/sub/dir/users", "uploads/acme/T-1/users.corrected-7.csv"},
	} {
		got := u.correctedKey("acme", tc.key, 7)
		if got != tc.want {
			t.Errorf("correctedKey(%q) = %q, want %q", tc.key, got, tc.want)
		}
		if strings.HasPrefix(got, "incoming/") {
			t.Errorf("correctedKey(%q) = %q: under the events prefix", tc.key, got)
		}
	}
}
