package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Feed is a tenant's scheduled HR feed (docs/feeds.md).
type Feed struct {
	Name                 string    `json:"name"`
	Prefix               string    `json:"prefix"`
	Schedule             string    `json:"schedule"`
	TimeZone             string    `json:"time_zone"`
	Delimiter            string    `json:"delimiter"`
	Header               string    `json:"header"`
	Mode                 string    `json:"mode"`
	MaxDeactivatePercent float64   `json:"max_deactivate_percent"`
	MaxDeactivateCount   *int      `json:"max_deactivate_count"`
	Notify               []string  `json:"notify"`
	StaleAfterDays       *int      `json:"stale_after_days"`
	Enabled              bool      `json:"enabled"`
	CreatedAt            time.Time `json:"created_at"`
	UpdatedAt            time.Time `json:"updated_at"`
}

// FeedChange sets a feed's fields: nil leaves one as it is (or at its
// default, for a new feed). A new feed needs Name and Schedule.
type FeedChange struct {
	Name                 *string   `json:"name,omitempty"`
	Prefix               *string   `json:"prefix,omitempty"`
	Schedule             *string   `json:"schedule,omitempty"`
	TimeZone             *string   `json:"time_zone,omitempty"`
	Delimiter            *string   `json:"delimiter,omitempty"`
	Header               *string   `json:"header,omitempty"`
	Mode                 *string   `json:"mode,omitempty"`
	MaxDeactivatePercent *float64  `json:"max_deactivate_percent,omitempty"`
	MaxDeactivateCount   *int      `json:"max_deactivate_count,omitempty"` // -1: no count limit
	Notify               *[]string `json:"notify,omitempty"`
	StaleAfterDays       *int      `json:"stale_after_days,omitempty"` // 0: no warning
	Enabled              *bool     `json:"enabled,omitempty"`
}

// FeedRunState is where a feed's run is (docs/state-machine.md).
type FeedRunState string

// The states of a feed run.
const (
	RunNothingNew    FeedRunState = "nothing_new"    // the newest file was applied before
	RunImporting     FeedRunState = "importing"      // its import is under way
	RunFinished      FeedRunState = "finished"       // imported, deactivations done
	RunNeedsApproval FeedRunState = "needs_approval" // deactivations over the limits wait for a person
	RunApplied       FeedRunState = "applied"        // a person approved the held deactivations
	RunRejected      FeedRunState = "rejected"       // a person dropped them
	RunSuperseded    FeedRunState = "superseded"     // a later run's file came first
	RunFailed        FeedRunState = "failed"         // its import was rejected or failed
)

// FeedRun is one run of a feed.
type FeedRun struct {
	ID           int64        `json:"id"`
	Feed         string       `json:"feed"`
	ScheduledFor time.Time    `json:"scheduled_for"`
	State        FeedRunState `json:"state"`
	Object       string       `json:"object,omitempty"`
	ETag         string       `json:"etag,omitempty"`
	ImportID     int64        `json:"import_id,omitempty"`
	ActiveBefore *int         `json:"active_before,omitempty"`
	Absent       *int         `json:"absent,omitempty"`
	Deactivated  int          `json:"deactivated"`
	Reactivated  int          `json:"reactivated"`
	Pending      int          `json:"pending_deactivations"`
	Stale        bool         `json:"stale,omitempty"`
	Error        string       `json:"error,omitempty"`
	DecidedBy    string       `json:"decided_by,omitempty"`
	CreatedAt    time.Time    `json:"created_at"`
	FinishedAt   *time.Time   `json:"finished_at,omitempty"`
}

// Feeds returns the tenant's feeds.
func (c *Client) Feeds(ctx context.Context) ([]Feed, error) {
	var out struct {
		Feeds []Feed `json:"feeds"`
	}
	if err := c.call(ctx, http.MethodGet, "/v1/feeds", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Feeds, nil
}

// Feed returns the feed named name.
func (c *Client) Feed(ctx context.Context, name string) (*Feed, error) {
	return c.feedCall(ctx, http.MethodGet, name, nil)
}

// CreateFeed creates a feed; one of the same name gives code feed_exists.
func (c *Client) CreateFeed(ctx context.Context, ch FeedChange) (*Feed, error) {
	var f Feed
	if err := c.call(ctx, http.MethodPost, "/v1/feeds", nil, ch, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// UpdateFeed changes the fields ch sets on the feed named name.
func (c *Client) UpdateFeed(ctx context.Context, name string, ch FeedChange) (*Feed, error) {
	return c.feedCall(ctx, http.MethodPatch, name, ch)
}

// DeleteFeed removes the feed named name (its runs' imports stay).
func (c *Client) DeleteFeed(ctx context.Context, name string) error {
	return c.call(ctx, http.MethodDelete, feedPath(name), nil, nil, nil)
}

func (c *Client) feedCall(ctx context.Context, method, name string, in any) (*Feed, error) {
	var f Feed
	if err := c.call(ctx, method, feedPath(name), nil, in, &f); err != nil {
		return nil, err
	}
	return &f, nil
}

// FeedRuns returns the feed's runs, newest first; limit 0 for the API's
// default (50), at most 1000.
func (c *Client) FeedRuns(ctx context.Context, name string, limit int) ([]FeedRun, error) {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var out struct {
		Runs []FeedRun `json:"runs"`
	}
	if err := c.call(ctx, http.MethodGet, feedPath(name)+"/runs", q, nil, &out); err != nil {
		return nil, err
	}
	return out.Runs, nil
}

// RunFeed queues a run of the feed scheduled for now, as its schedule would
// (never a second import of the same object), and returns that time; a
// disabled feed gives code feed_disabled.
func (c *Client) RunFeed(ctx context.Context, name string) (time.Time, error) {
	var out struct {
		ScheduledFor time.Time `json:"scheduled_for"`
	}
	if err := c.call(ctx, http.MethodPost, feedPath(name)+"/run", nil, nil, &out); err != nil {
		return time.Time{}, err
	}
	return out.ScheduledFor, nil
}

// ApproveFeedRun carries out the deactivations a run holds for approval; a
// run not waiting for one gives code not_pending.
func (c *Client) ApproveFeedRun(ctx context.Context, id int64) (*FeedRun, error) {
	return c.decide(ctx, id, "approve")
}

// RejectFeedRun drops the deactivations a run holds for approval.
func (c *Client) RejectFeedRun(ctx context.Context, id int64) (*FeedRun, error) {
	return c.decide(ctx, id, "reject")
}

func (c *Client) decide(ctx context.Context, id int64, verb string) (*FeedRun, error) {
	var r FeedRun
	if err := c.call(ctx, http.MethodPost, "/v1/feed-runs/"+strconv.FormatInt(id, 10)+"/"+verb, nil, nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

func feedPath(name string) string { return "/v1/feeds/" + name } // names are [a-z0-9_-]: nothing to escape
