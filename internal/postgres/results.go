package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/userrow"
)

// ErrNotEnded says an import's results are asked for before it finished.
var ErrNotEnded = errors.New("the import has not finished: its results file exists once it has")

// ResultsJob returns the import whose results file is asked for: it must
// have finished, and its journal be kept (an undo's, and the journal of the
// import it undid, which tells its conflicts). A dry run keeps its record
// outcomes in import_records and needs no journal.
func (s *Store) ResultsJob(ctx context.Context, tenant string, id int64) (Job, error) {
	j, err := s.Job(ctx, tenant, id)
	if err != nil {
		return j, err
	}
	if j.State != lifecycle.ImportFinished {
		return j, fmt.Errorf("results of import %d (%s): %w", id, j.State, ErrNotEnded)
	}
	if j.DryRun {
		return j, nil
	}
	var pruned bool
	err = s.pool.QueryRow(ctx, `SELECT bool_or(journal_pruned) FROM imports WHERE tenant_id = $1 AND (id = $2 OR (id = $3 AND $4))`,
		tenant, id, j.ParentID, j.Kind == lifecycle.KindUndo).Scan(&pruned)
	if err != nil {
		return j, err
	}
	if pruned {
		return j, fmt.Errorf("results of import %d: %w", id, ErrJournalPruned)
	}
	return j, nil
}

// RecordResult is what an import did with one record: created, updated
// (Changed: the columns it changed, by title, in the format's order),
// unchanged or rejected (Errors). For a dry run, what it would do.
type RecordResult struct {
	Outcome lifecycle.RecordOutcome
	Changed []string
	Errors  []ProblemJSON
}

// activeTitle names the active flag, which is no column of the format,
// among an undo's changes.
const activeTitle = "Active"

// columnTitles maps the users table's column names to the format's titles.
var columnTitles = func() map[string]userrow.Column {
	m := make(map[string]userrow.Column, len(userColumns))
	for _, c := range userColumns {
		m[c.name] = c.col
	}
	return m
}()

// changedTitles names the columns a journal row says changed, in the
// format's order: the old values' keys and the lists kept; active, the flag
// a feed step or an undo changed.
func changedTitles(keys []string, lists [3]bool, active bool) []string {
	cols := make([]userrow.Column, 0, len(keys)+3)
	for _, k := range keys {
		if c, ok := columnTitles[k]; ok {
			cols = append(cols, c)
		}
	}
	for i, c := range []userrow.Column{userrow.Groups, userrow.Roles, userrow.PhoneMapping} {
		if lists[i] {
			cols = append(cols, c)
		}
	}
	slices.Sort(cols)
	out := make([]string, 0, len(cols)+1)
	for _, c := range cols {
		out = append(out, c.String())
	}
	if active {
		out = append(out, activeTitle)
	}
	return out
}

// RecordResults returns what the import did with a batch of its file's
// records, named by line and by Login ID (lower case; "" when unreadable):
// rejected when import_rejects has the line; for a dry run, what
// import_records says; else created when the user's created_by_import is the
// import (changed later or not), updated when the import's journal has the
// user, with the columns it changed, and unchanged for the rest. One query a
// batch: the caller reads the file a batch at a time.
func (s *Store) RecordResults(ctx context.Context, j *Job, lines []int, keys []string) ([]RecordResult, error) {
	out := make([]RecordResult, len(lines))
	var rows pgx.Rows
	var err error
	if j.DryRun {
		rows, err = s.pool.Query(ctx, `SELECT r.n, rj.errors, coalesce(ir.outcome, ''), coalesce(ir.changed, 0)
			FROM unnest($3::integer[]) WITH ORDINALITY AS r(line, n)
			LEFT JOIN import_rejects rj ON rj.import_id = $2 AND rj.tenant_id = $1 AND rj.line = r.line
			LEFT JOIN import_records ir ON ir.import_id = $2 AND ir.tenant_id = $1 AND ir.line = r.line`,
			j.Tenant, j.ID, lines)
	} else {
		rows, err = s.pool.Query(ctx, `SELECT r.n, rj.errors, coalesce(u.created_by_import = $2, false), jr.user_id IS NOT NULL,
				coalesce(ARRAY(SELECT jsonb_object_keys(jr.old)), '{}'),
				jr.old_groups IS NOT NULL, jr.old_roles IS NOT NULL, jr.old_exts IS NOT NULL, jr.old_hashes IS NOT NULL
			FROM unnest($3::integer[], $4::text[]) WITH ORDINALITY AS r(line, login_key, n)
			LEFT JOIN import_rejects rj ON rj.import_id = $2 AND rj.tenant_id = $1 AND rj.line = r.line
			LEFT JOIN users u ON u.tenant_id = $1 AND u.login_key = r.login_key AND rj.line IS NULL
			LEFT JOIN journal_users jr ON jr.tenant_id = $1 AND jr.import_id = $2 AND jr.user_id = u.id`,
			j.Tenant, j.ID, lines, keys)
	}
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			n       int
			errs    []byte
			res     RecordResult
			outcome string
			changed int32
			created bool
			inJ     bool
			keys    []string
			lists   [3]bool
			hashes  bool
		)
		if j.DryRun {
			err = rows.Scan(&n, &errs, &outcome, &changed)
		} else {
			err = rows.Scan(&n, &errs, &created, &inJ, &keys, &lists[0], &lists[1], &lists[2], &hashes)
		}
		if err != nil {
			return nil, err
		}
		switch {
		case errs != nil:
			res.Outcome = lifecycle.OutcomeRejected
			if err := json.Unmarshal(errs, &res.Errors); err != nil {
				return nil, err
			}
		case j.DryRun:
			res.Outcome = lifecycle.RecordOutcome(outcome)
			if res.Outcome == lifecycle.OutcomeUpdate {
				for c := range userrow.Column(userrow.NumColumns) {
					if userrow.ColumnSet(changed).Has(c) {
						res.Changed = append(res.Changed, c.String())
					}
				}
			}
		case created:
			res.Outcome = lifecycle.OutcomeCreate
		// A journal row with only the active flag is the feed step's
		// reactivation: the record itself changed nothing.
		case inJ && (hashes || slices.Contains(lists[:], true)):
			res.Outcome, res.Changed = lifecycle.OutcomeUpdate, changedTitles(keys, lists, false)
		default:
			res.Outcome = lifecycle.OutcomeUnchanged
		}
		if n < 1 || n > len(out) {
			return nil, fmt.Errorf("record results: row %d of %d", n, len(out))
		}
		out[n-1] = res
	}
	return out, rows.Err()
}

// UndoConflict is the Errors text of a user an undo left alone.
const UndoConflict = "changed by a later import since the import undone: kept as it is (undo with force rolls it back)"

// UndoResults calls fn, in Login ID order, with each user the undo j
// touched, as the user is now (password hash and all), and what the undo did
// to it: updated (the columns, lists and active flag it put back), or
// rejected for a conflict, a user a later import had changed, which it left
// alone. Streaming: memory does not grow with the number of users.
func (s *Store) UndoResults(ctx context.Context, j *Job, fn func(*userrow.User, RecordResult) error) error {
	rows, err := s.pool.Query(ctx, `WITH undone AS (
			SELECT user_id FROM journal_users WHERE tenant_id = $1 AND import_id = $3
			UNION SELECT id FROM users WHERE tenant_id = $1 AND created_by_import = $3),
		t AS (SELECT j.user_id, false AS conflict, coalesce(ARRAY(SELECT jsonb_object_keys(j.old)), '{}') AS keys,
				j.old_groups IS NOT NULL AS g, j.old_roles IS NOT NULL AS r, j.old_exts IS NOT NULL AS e, j.old_active IS NOT NULL AS a
			FROM journal_users j WHERE j.tenant_id = $1 AND j.import_id = $2
			UNION ALL
			SELECT d.user_id, true, '{}', false, false, false, false FROM undone d
			WHERE NOT EXISTS (SELECT 1 FROM journal_users x WHERE x.tenant_id = $1 AND x.import_id = $2 AND x.user_id = d.user_id))
		`+userSelect+`, t.conflict, t.keys, t.g, t.r, t.e, t.a
		FROM users u JOIN t ON t.user_id = u.id WHERE u.tenant_id = $1 ORDER BY u.login_key`, j.Tenant, j.ID, j.ParentID)
	if err != nil {
		return err
	}
	defer rows.Close()
	var (
		u        userrow.User
		conflict bool
		keys     []string
		lists    [3]bool
		active   bool
	)
	sc := newUserScanner(&u)
	dest := append(slices.Clip(sc.dest), &conflict, &keys, &lists[0], &lists[1], &lists[2], &active)
	for rows.Next() {
		sc.reset()
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		sc.finish()
		res := RecordResult{Outcome: lifecycle.OutcomeUpdate, Changed: changedTitles(keys, lists, active)}
		if conflict {
			res = RecordResult{Outcome: lifecycle.OutcomeRejected, Errors: []ProblemJSON{{Message: UndoConflict}}}
		}
		if err := fn(&u, res); err != nil {
			return err
		}
	}
	return rows.Err()
}
