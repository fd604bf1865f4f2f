package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/metrics"
)

// ImportStats counts the imports by state over all tenants, for operators'
// metrics (never shown to a tenant), and the age of the oldest unfinished one.
func (s *Store) ImportStats(ctx context.Context) (metrics.ImportStats, error) {
	st := metrics.ImportStats{ByState: map[lifecycle.ImportState]int{}}
	rows, err := s.pool.Query(ctx, `SELECT state, count(*),
		    coalesce(extract(epoch FROM now() - min(created_at) FILTER (WHERE state = ANY($1))), 0)
		FROM imports GROUP BY state`, lifecycle.Strings(lifecycle.ImportPlanning, lifecycle.ImportRunning))
	if err != nil {
		return st, fmt.Errorf("import stats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var state lifecycle.ImportState
		var n int
		var age float64
		if err := rows.Scan(&state, &n, &age); err != nil {
			return st, fmt.Errorf("import stats: %w", err)
		}
		st.ByState[state] = n
		st.OldestUnfinished = max(st.OldestUnfinished, time.Duration(age*float64(time.Second)))
	}
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("import stats: %w", err)
	}
	return st, nil
}
