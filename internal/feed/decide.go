package feed

import (
	"context"
	"fmt"

	"github.com/userimport/userimport/internal/postgres"
)

// RunDecider is what a decision on a held run needs (a *postgres.Store).
type RunDecider interface {
	TokenName(ctx context.Context, tenant string, id int64) (string, error)
	DecideFeedRun(ctx context.Context, tenant string, runID int64, approve bool, by string) (postgres.FeedRun, error)
}

var _ RunDecider = (*postgres.Store)(nil)

// DecidedBy is how a run records the token whose holder decided it: its
// name and ID, never the token.
func DecidedBy(tokenName string, tokenID int64) string {
	return fmt.Sprintf("token %s (#%d)", tokenName, tokenID)
}

// DecideRun approves (deactivates the users on the list still active) or
// rejects a run held for approval, recording the token of the person who
// decided: the one path of the API's approve and reject and the web pages'
// buttons. A run not held is postgres.ErrRunNotPending, another tenant's
// postgres.ErrNotFound.
func DecideRun(ctx context.Context, s RunDecider, tenant string, runID int64, approve bool, tokenID int64) (postgres.FeedRun, error) {
	name, err := s.TokenName(ctx, tenant, tokenID)
	if err != nil {
		return postgres.FeedRun{}, err
	}
	return s.DecideFeedRun(ctx, tenant, runID, approve, DecidedBy(name, tokenID))
}
