package client

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// WaitOptions tune Wait. The zero value polls every 250 ms at first.
type WaitOptions struct {
	// Progress, when set, is called with the import at the first poll and
	// whenever its state, progress or counts change.
	Progress func(Import)
	// Interval is the first pause between polls (default 250 ms). While
	// nothing changes the pause doubles up to MaxInterval (default 5 s);
	// a change brings it back to Interval.
	Interval, MaxInterval time.Duration
}

// Wait polls the import until it has ended (finished, rejected or failed)
// and returns it; it returns early with ctx's error when ctx ends. Answers
// 429 and 503 (the token's rate limit, a producer not ready) are waited out,
// as long as Retry-After says or the current pause; any other error ends
// the wait.
func (c *Client) Wait(ctx context.Context, id int64, o WaitOptions) (*Import, error) {
	if o.Interval <= 0 {
		o.Interval = 250 * time.Millisecond
	}
	if o.MaxInterval < o.Interval {
		o.MaxInterval = max(5*time.Second, o.Interval)
	}
	pause := o.Interval
	var last *Import
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-timer.C:
		}
		im, err := c.Import(ctx, id)
		var apiErr *Error
		switch {
		case errors.As(err, &apiErr) && (apiErr.StatusCode == http.StatusTooManyRequests || apiErr.StatusCode == http.StatusServiceUnavailable):
			timer.Reset(max(apiErr.RetryAfter, pause))
			continue
		case err != nil:
			return last, err
		}
		if last == nil || changed(*last, *im) {
			if o.Progress != nil {
				o.Progress(*im)
			}
			pause = o.Interval
		} else {
			pause = min(2*pause, o.MaxInterval)
		}
		last = im
		if im.State.Ended() {
			return im, nil
		}
		timer.Reset(pause)
	}
}

func changed(a, b Import) bool {
	return a.State != b.State || a.Progress != b.Progress || a.Records != b.Records ||
		a.Created != b.Created || a.Updated != b.Updated || a.Unchanged != b.Unchanged || a.Rejected != b.Rejected
}
