package gcpace_test

import (
	"runtime/debug"
	"testing"

	"github.com/userimport/userimport/internal/gcpace"
)

// Relax sets the pace and the limit, and leaves each alone when the
// environment names it.
func TestRelaxLeavesTheEnvironmentsSettings(t *testing.T) {
	oldPercent, oldLimit := debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
	t.Cleanup(func() {
		debug.SetGCPercent(oldPercent)
		debug.SetMemoryLimit(oldLimit)
	})
	for _, c := range []struct {
		env         map[string]string
		percent     int
		limit       int64
		description string
	}{
		{nil, gcpace.Percent, 96 << 20, "nothing set"},
		{map[string]string{"GOGC": "50"}, 100, 96 << 20, "GOGC set"},
		{map[string]string{"GOMEMLIMIT": "1GiB"}, gcpace.Percent, 1 << 40, "GOMEMLIMIT set"},
	} {
		debug.SetGCPercent(100)
		debug.SetMemoryLimit(1 << 40)
		gcpace.Relax(func(k string) string { return c.env[k] }, 96<<20)
		percent, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
		if percent != c.percent || limit != c.limit {
			t.Errorf("%s: GOGC %d, limit %d; want %d, %d", c.description, percent, limit, c.percent, c.limit)
		}
	}
}
