package worker_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/userimport/userimport/worker"
)

func TestRetryDelay(t *testing.T) {
	t.Parallel()
	delay := worker.RetryDelay(10 * time.Second)
	for _, tc := range []struct {
		n        int
		min, max time.Duration
	}{
		{0, 7500 * time.Millisecond, 12500 * time.Millisecond},
		{1, 15 * time.Second, 25 * time.Second},
		{3, 60 * time.Second, 100 * time.Second},
		{9, 45 * time.Minute, 75 * time.Minute}, // capped at an hour
		{64, 45 * time.Minute, 75 * time.Minute},
	} {
		for range 50 {
			if d := delay(tc.n, errors.New("boom"), nil); d < tc.min || d > tc.max {
				t.Fatalf("retry %d: %s, want %s to %s", tc.n, d, tc.min, tc.max)
			}
		}
	}
	for range 50 {
		if d := delay(9, fmt.Errorf("chunk 3: %w", worker.ErrThrottled), nil); d < time.Second || d > 3*time.Second {
			t.Fatalf("throttled: %s, want 1 s to 3 s whatever the retry count", d)
		}
	}
}
