package postgres

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/userrow"
)

// The refusals of an undo.
var (
	ErrUndoDryRun    = errors.New("the import is a dry run: it changed nothing, so there is nothing to undo")
	ErrUndoRunning   = errors.New("the import has not ended: undo it once it has finished or failed")
	ErrUndoBusy      = errors.New("another import of the tenant has not ended: undo once it has")
	ErrJournalPruned = errors.New("the import is older than JOURNAL_RETENTION: its journal is gone and it can no longer be undone")
)

// UndoOptions say how to undo an import.
type UndoOptions struct {
	// Force rolls back the users a later import changed too (they are
	// reported as conflicts all the same).
	Force bool
	// DryRun works out the undo and reports it, and keeps nothing: no undo
	// import is recorded.
	DryRun      bool
	RequestedBy string
}

// Conflict is a user the import changed that a later import changed again.
type Conflict struct {
	UserID    int64  `json:"-"`
	LoginID   string `json:"login_id"`
	ChangedBy int64  `json:"changed_by"` // the latest import to have changed the user since
}

// UndoResult says what an undo did (would do, for a dry run).
type UndoResult struct {
	ImportID int64 `json:"import_id"` // the undo import; 0 for a dry run
	Undone   int64 `json:"undone"`    // the import undone
	// Restored: users put back to their values and memberships before the
	// import; Deactivated: users it created (or its feed step reactivated),
	// now inactive; Reactivated: users its feed step deactivated.
	Restored    int `json:"restored"`
	Deactivated int `json:"deactivated"`
	Reactivated int `json:"reactivated"`
	// Groups and extensions it created and nothing uses any more, removed;
	// those an undone undo had removed, put back.
	GroupsRemoved      int `json:"groups_removed"`
	ExtensionsRemoved  int `json:"extensions_removed"`
	GroupsRestored     int `json:"groups_restored"`
	ExtensionsRestored int `json:"extensions_restored"`
	// Conflicts are skipped, unless Force.
	Conflicts []Conflict `json:"conflicts"`
}

// errUndoDryRun rolls a dry run's transaction back.
var errUndoDryRun = errors.New("dry run")

// Undo puts every user the import changed back to its state before it, from
// the import's journal, in one transaction: the columns it changed get their
// previous values, the lists it changed their previous members, users it
// created are deactivated (their Login IDs stay reserved), users its feed
// step deactivated are reactivated (and those it reactivated deactivated),
// extension settings it changed are restored, and the groups and extensions
// it created are removed when no user is a member any more. A user a later
// import changed is a conflict: left alone unless opts.Force.
//
// The undo is an import of kind undo (its parent the import undone), and is
// journaled like any import, so it can be undone in turn. An import still
// running, a dry run and an import whose journal was pruned are refused, and
// so is any undo while another import of the tenant has not ended: the undo
// holds the tenant's import lock, so no import starts while it runs.
func (s *Store) Undo(ctx context.Context, tenant string, importID int64, opts UndoOptions) (UndoResult, error) {
	res := UndoResult{Undone: importID}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var (
			state  lifecycle.ImportState
			dryRun bool
			pruned bool
			raw    []byte
		)
		err := tx.QueryRow(ctx, `SELECT state, dry_run, journal_pruned, options FROM imports WHERE tenant_id = $1 AND id = $2`,
			tenant, importID).Scan(&state, &dryRun, &pruned, &raw)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("import %d: %w", importID, ErrNotFound)
		}
		if err != nil {
			return err
		}
		switch {
		case dryRun:
			return fmt.Errorf("undo import %d: %w", importID, ErrUndoDryRun)
		case !state.Ended():
			return fmt.Errorf("undo import %d (%s): %w", importID, state, ErrUndoRunning)
		case pruned:
			return fmt.Errorf("undo import %d: %w", importID, ErrJournalPruned)
		}
		undone, err := lifecycle.ParseOptions(raw)
		if err != nil {
			return fmt.Errorf("import %d: %w", importID, err)
		}
		// Who was told of the import is told of its undo.
		undoID, _, err := insertImport(ctx, tx, NewImport{
			Tenant: tenant, Kind: lifecycle.KindUndo, ParentID: importID, Source: fmt.Sprintf("import %d", importID),
			RequestedBy: opts.RequestedBy, Options: lifecycle.Options{Notify: undone.Notify},
		})
		if err != nil {
			return err
		}
		var busy int64
		err = tx.QueryRow(ctx, `SELECT id FROM imports WHERE tenant_id = $1 AND id <> $2 AND state = ANY($3) ORDER BY id LIMIT 1`,
			tenant, undoID, lifecycle.Strings(lifecycle.ImportPlanning, lifecycle.ImportRunning)).Scan(&busy)
		if err == nil {
			return fmt.Errorf("undo import %d: import %d: %w", importID, busy, ErrUndoBusy)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		u := undoer{tx: tx, tenant: tenant, undone: importID, undo: undoID, force: opts.Force, res: &res}
		if err := u.run(ctx); err != nil {
			return err
		}
		if opts.DryRun {
			return errUndoDryRun
		}
		res.ImportID = undoID
		return nil
	})
	if errors.Is(err, errUndoDryRun) {
		err = nil
	}
	return res, err
}

type undoer struct {
	tx           pgx.Tx
	tenant       string
	undone, undo int64
	force        bool
	res          *UndoResult
}

func (u *undoer) exec(ctx context.Context, query string, args ...any) (int, error) {
	tag, err := u.tx.Exec(ctx, query, append([]any{u.tenant, u.undone, u.undo}, args...)...)
	return int(tag.RowsAffected()), err
}

// The lists an undo restores: membership table, its reference, the journal's
// column.
var undoLists = []struct{ table, ref, journal string }{
	{"user_groups", "group_id", "old_groups"},
	{"user_roles", "role_id", "old_roles"},
	{"user_extensions", "extension_id", "old_exts"},
}

// run does the undo; every statement names tenant $1, the import undone $2
// and the undo $3.
func (u *undoer) run(ctx context.Context) error {
	if _, err := u.tx.Exec(ctx, `CREATE TEMP TABLE IF NOT EXISTS undo_users (user_id bigint PRIMARY KEY, created boolean NOT NULL,
		old jsonb, old_hashes bytea, old_groups bigint[], old_roles bigint[], old_exts bigint[], old_active boolean) ON COMMIT DELETE ROWS`); err != nil {
		return err
	}
	if _, err := u.tx.Exec(ctx, `TRUNCATE undo_users`); err != nil {
		return err
	}
	if _, err := u.tx.Exec(ctx, `INSERT INTO undo_users SELECT user_id, created, old, old_hashes, old_groups, old_roles, old_exts, old_active
		FROM journal_users WHERE tenant_id = $1 AND import_id = $2`, u.tenant, u.undone); err != nil {
		return err
	}
	if _, err := u.tx.Exec(ctx, `INSERT INTO undo_users (user_id, created) SELECT id, true FROM users
		WHERE tenant_id = $1 AND created_by_import = $2
		ON CONFLICT (user_id) DO UPDATE SET created = true`, u.tenant, u.undone); err != nil {
		return err
	}
	// The planner's row count for the joins that follow (a temporary table
	// has no statistics until analyzed).
	if _, err := u.tx.Exec(ctx, `ANALYZE undo_users`); err != nil {
		return err
	}
	// Lock the users, so that the conflicts read next are final.
	if _, err := u.tx.Exec(ctx, `SELECT 1 FROM users us, undo_users t WHERE us.id = t.user_id AND us.tenant_id = $1
		ORDER BY us.id FOR UPDATE OF us`, u.tenant); err != nil {
		return err
	}
	if err := u.conflicts(ctx); err != nil {
		return err
	}
	if err := u.journal(ctx); err != nil {
		return err
	}
	if err := u.restoreUsers(ctx); err != nil {
		return err
	}
	if err := u.restoreObjects(ctx); err != nil {
		return err
	}
	if err := u.restoreMembersObjects(ctx); err != nil {
		return err
	}
	for _, l := range undoLists {
		if _, err := u.exec(ctx, `DELETE FROM `+l.table+` m USING undo_users t
			WHERE m.tenant_id = $1 AND m.user_id = t.user_id AND (t.`+l.journal+` IS NOT NULL OR t.created) AND $2::bigint + $3::bigint > 0`); err != nil {
			return err
		}
		if _, err := u.exec(ctx, `INSERT INTO `+l.table+` (tenant_id, user_id, `+l.ref+`)
			SELECT $1, t.user_id, unnest(t.`+l.journal+`) FROM undo_users t
			WHERE t.`+l.journal+` IS NOT NULL AND NOT t.created AND $2::bigint + $3::bigint > 0`); err != nil {
			return err
		}
	}
	if err := u.removeObjects(ctx); err != nil {
		return err
	}
	_, err := u.exec(ctx, `UPDATE imports SET state = $4, records = $5, updated = $6, rejected = $7 WHERE tenant_id = $1 AND id = $3 AND state = $8 AND $2::bigint > 0`,
		lifecycle.ImportRunning, u.res.Restored+u.res.Deactivated+u.res.Reactivated+len(u.res.Conflicts),
		u.res.Restored+u.res.Deactivated+u.res.Reactivated, len(u.res.Conflicts), lifecycle.ImportPlanning)
	if err != nil {
		return err
	}
	// Its result e-mail is owed, like any import's: intake queues its
	// finalize, and the sweep sends any e-mail still owed.
	n, err := u.exec(ctx, `UPDATE imports SET state = $4, finished_at = now()
		WHERE tenant_id = $1 AND id = $3 AND state = $5 AND $2::bigint > 0`, lifecycle.ImportFinished, lifecycle.ImportRunning)
	if err == nil && n != 1 {
		err = fmt.Errorf("undo import %d: %w", u.undo, ErrIllegalMove)
	}
	return err
}

// conflicts lists the users a later import changed (its journal, or the
// user's last writer) and, unless forced, leaves them out.
func (u *undoer) conflicts(ctx context.Context) error {
	rows, err := u.tx.Query(ctx, `SELECT t.user_id, us.login_id,
			greatest(max(l.import_id), CASE WHEN us.last_import_id > $2 AND us.last_import_id <> $3 THEN us.last_import_id END)
		FROM undo_users t JOIN users us ON us.id = t.user_id AND us.tenant_id = $1
		LEFT JOIN journal_users l ON l.tenant_id = $1 AND l.import_id > $2 AND l.import_id <> $3 AND l.user_id = t.user_id
		GROUP BY t.user_id, us.login_id, us.login_key, us.last_import_id
		HAVING max(l.import_id) IS NOT NULL OR (us.last_import_id > $2 AND us.last_import_id <> $3)
		ORDER BY us.login_key`, u.tenant, u.undone, u.undo)
	if err != nil {
		return err
	}
	var c Conflict
	if _, err := pgx.ForEachRow(rows, []any{&c.UserID, &c.LoginID, &c.ChangedBy}, func() error {
		u.res.Conflicts = append(u.res.Conflicts, c)
		return nil
	}); err != nil {
		return err
	}
	if u.force || len(u.res.Conflicts) == 0 {
		return nil
	}
	ids := make([]int64, len(u.res.Conflicts))
	for i, c := range u.res.Conflicts {
		ids[i] = c.UserID
	}
	_, err = u.tx.Exec(ctx, `DELETE FROM undo_users WHERE user_id = ANY($1)`, ids)
	return err
}

// journal writes the undo's own journal before it changes anything: for each
// user, the current values of what it is about to restore.
func (u *undoer) journal(ctx context.Context) error {
	var lists strings.Builder
	for _, l := range undoLists {
		lists.WriteString(`, CASE WHEN t.` + l.journal + ` IS NOT NULL OR t.created THEN (SELECT coalesce(array_agg(m.` + l.ref +
			` ORDER BY m.` + l.ref + `), '{}') FROM ` + l.table + ` m WHERE m.tenant_id = $1 AND m.user_id = t.user_id) END`)
	}
	_, err := u.exec(ctx, `INSERT INTO journal_users (tenant_id, import_id, user_id, old, old_hashes, old_groups, old_roles, old_exts, old_active)
		SELECT $1, $3, t.user_id,
			CASE WHEN t.old IS NOT NULL THEN (SELECT jsonb_object_agg(k, to_jsonb(us) -> k) FROM jsonb_object_keys(t.old) AS k) END,
			CASE WHEN t.old_hashes IS NOT NULL OR t.created THEN us.column_hashes END`+lists.String()+`,
			CASE WHEN t.old_active IS NOT NULL OR t.created THEN us.active END
		FROM undo_users t JOIN users us ON us.id = t.user_id AND us.tenant_id = $1 WHERE $2::bigint > 0`)
	return err
}

// restoreUsers puts the columns, hashes and active flags back.
func (u *undoer) restoreUsers(ctx context.Context) error {
	var set strings.Builder
	for _, c := range userColumns {
		set.WriteString(c.name + ` = CASE WHEN t.old ? '` + c.name + `' THEN r.` + c.name + ` ELSE us.` + c.name + ` END, `)
	}
	// A user the import created loses its memberships: its lists' hashes
	// become an empty list's, or a later import giving the same lists again
	// would find them unchanged and leave the user without them.
	emptied := "us.column_hashes"
	var empty []any
	for _, c := range []userrow.Column{userrow.PhoneMapping, userrow.Groups, userrow.Roles} {
		empty = append(empty, binary.LittleEndian.AppendUint64(nil, userrow.HashValue(c, "")))
		emptied = fmt.Sprintf("overlay(%s placing $%d from %d for 8)", emptied, 3+len(empty), 8*int(c)+1)
	}
	_, err := u.exec(ctx, `UPDATE users us SET `+set.String()+`
			column_hashes = CASE WHEN t.created THEN `+emptied+` ELSE coalesce(t.old_hashes, us.column_hashes) END,
			active = CASE WHEN t.created THEN false ELSE coalesce(t.old_active, us.active) END,
			deactivated_at = CASE WHEN t.created OR t.old_active = false THEN coalesce(us.deactivated_at, now())
				WHEN t.old_active THEN NULL ELSE us.deactivated_at END,
			updated_at = now(), last_import_id = $3
		FROM undo_users t LEFT JOIN LATERAL jsonb_populate_record(NULL::users, t.old) AS r ON true
		WHERE us.id = t.user_id AND us.tenant_id = $1 AND $2::bigint > 0`, empty...)
	if err != nil {
		return err
	}
	return u.tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE NOT created AND (old IS NOT NULL OR old_hashes IS NOT NULL
			OR old_groups IS NOT NULL OR old_roles IS NOT NULL OR old_exts IS NOT NULL)),
		count(*) FILTER (WHERE created OR old_active = false), count(*) FILTER (WHERE old_active)
		FROM undo_users`).Scan(&u.res.Restored, &u.res.Deactivated, &u.res.Reactivated)
}

const (
	groupCols = `id, tenant_id, name, created_at`
	extCols   = `id, tenant_id, number, recording_mode, voice, instant_messaging, video, desktop_screen, set_by_import, set_by_line, created_at, updated_at, created_by_import`
)

// restoreObjects puts back the groups and extensions an undone undo removed,
// with their ids, and the extension settings the import changed (unless a
// later import set them since, or forced).
func (u *undoer) restoreObjects(ctx context.Context) error {
	for _, o := range []struct {
		kind, table, cols string
		n                 *int
	}{
		{"group", "groups", groupCols, &u.res.GroupsRestored},
		{"extension", "extensions", extCols, &u.res.ExtensionsRestored},
	} {
		n, err := u.exec(ctx, `WITH ins AS (INSERT INTO `+o.table+` (`+o.cols+`) OVERRIDING SYSTEM VALUE
				SELECT `+prefixed("r.", o.cols)+` FROM journal_objects j, jsonb_populate_record(NULL::`+o.table+`, j.data) AS r
				WHERE j.tenant_id = $1 AND j.import_id = $2 AND j.kind = $4 AND j.action = 'removed' AND r.tenant_id = $1
				ON CONFLICT DO NOTHING RETURNING id)
			INSERT INTO journal_objects (tenant_id, import_id, kind, object_id, action) SELECT $1, $3, $4, id, 'created' FROM ins`, o.kind)
		if err != nil {
			return err
		}
		*o.n = n
	}
	_, err := u.exec(ctx, `WITH old AS (SELECT r.* FROM journal_objects j, jsonb_populate_record(NULL::extensions, j.data) AS r
			WHERE j.tenant_id = $1 AND j.import_id = $2 AND j.kind = 'extension' AND j.action = 'updated' AND r.tenant_id = $1),
		upd AS (UPDATE extensions e SET recording_mode = old.recording_mode, voice = old.voice, instant_messaging = old.instant_messaging,
				video = old.video, desktop_screen = old.desktop_screen, set_by_import = old.set_by_import, set_by_line = old.set_by_line,
				updated_at = now()
			FROM old, extensions cur
			WHERE e.tenant_id = $1 AND e.id = old.id AND cur.id = e.id AND cur.tenant_id = $1
				AND ($4 OR cur.set_by_import IS NULL OR cur.set_by_import <= $2 OR cur.set_by_import = $3)
			RETURNING e.id, to_jsonb(cur) AS data)
		INSERT INTO journal_objects (tenant_id, import_id, kind, object_id, action, data)
		SELECT $1, $3, 'extension', id, 'updated', data FROM upd`, u.force)
	return err
}

// restoreMembersObjects puts back the groups and extensions that the lists
// it restores name but a later undo removed (they had no members left then):
// a membership needs its group. The journal_objects row of that removal
// holds the row; the undo journals it as created, so undoing the undo
// removes it again when nothing uses it. One whose name another took since
// stays away: its members go to the one of that name.
func (u *undoer) restoreMembersObjects(ctx context.Context) error {
	for _, o := range []struct{ kind, table, cols, journal string }{
		{"group", "groups", groupCols, "old_groups"},
		{"extension", "extensions", extCols, "old_exts"},
	} {
		_, err := u.exec(ctx, `WITH need AS (SELECT DISTINCT unnest(t.`+o.journal+`) AS id FROM undo_users t WHERE NOT t.created),
			ins AS (INSERT INTO `+o.table+` (`+o.cols+`) OVERRIDING SYSTEM VALUE
				SELECT `+prefixed("r.", o.cols)+` FROM (SELECT DISTINCT ON (j.object_id) j.data FROM journal_objects j
						WHERE j.tenant_id = $1 AND j.kind = $4 AND j.action = 'removed' AND j.object_id IN (SELECT id FROM need)
							AND NOT EXISTS (SELECT 1 FROM `+o.table+` x WHERE x.tenant_id = $1 AND x.id = j.object_id)
						ORDER BY j.object_id, j.import_id DESC) AS d,
					jsonb_populate_record(NULL::`+o.table+`, d.data) AS r
				WHERE r.tenant_id = $1 AND $2::bigint > 0
				ON CONFLICT DO NOTHING RETURNING id)
			INSERT INTO journal_objects (tenant_id, import_id, kind, object_id, action) SELECT $1, $3, $4, id, 'created' FROM ins
			ON CONFLICT DO NOTHING`, o.kind)
		if err != nil {
			return err
		}
	}
	// A removed group or extension whose name a new one took since: the
	// members go to the new one, by name.
	for _, o := range []struct{ kind, table, journal, same string }{
		{"group", "groups", "old_groups", "x.name_key = lower(j.data->>'name')"},
		{"extension", "extensions", "old_exts", "x.number = j.data->>'number'"},
	} {
		_, err := u.exec(ctx, `UPDATE undo_users t SET `+o.journal+` = (
				SELECT coalesce(array_agg(DISTINCT coalesce(cur.id, m.id)), '{}') FROM unnest(t.`+o.journal+`) AS m(id)
				LEFT JOIN `+o.table+` g ON g.tenant_id = $1 AND g.id = m.id
				LEFT JOIN LATERAL (SELECT x.id FROM journal_objects j JOIN `+o.table+` x ON x.tenant_id = $1 AND `+o.same+`
					WHERE j.tenant_id = $1 AND j.kind = $4 AND j.action = 'removed' AND j.object_id = m.id
					ORDER BY j.import_id DESC LIMIT 1) AS cur ON g.id IS NULL
				WHERE g.id IS NOT NULL OR cur.id IS NOT NULL)
			WHERE t.`+o.journal+` IS NOT NULL AND NOT t.created AND $2::bigint + $3::bigint > 0`, o.kind)
		if err != nil {
			return err
		}
	}
	return nil
}

// removeObjects removes the groups and extensions the import created that no
// user is a member of any more, journaling each row so that undoing the undo
// puts it back.
func (u *undoer) removeObjects(ctx context.Context) error {
	for _, o := range []struct {
		kind, table, members, ref, or string
		n                             *int
	}{
		{"group", "groups", "user_groups", "group_id", "", &u.res.GroupsRemoved},
		{"extension", "extensions", "user_extensions", "extension_id", "x.created_by_import = $2 OR ", &u.res.ExtensionsRemoved},
	} {
		n, err := u.exec(ctx, `WITH gone AS (DELETE FROM `+o.table+` x
				WHERE x.tenant_id = $1 AND (`+o.or+`x.id IN (SELECT object_id FROM journal_objects
						WHERE tenant_id = $1 AND import_id = $2 AND kind = $4 AND action = 'created'))
					AND NOT EXISTS (SELECT 1 FROM `+o.members+` m WHERE m.tenant_id = $1 AND m.`+o.ref+` = x.id)
				RETURNING x.*)
			INSERT INTO journal_objects (tenant_id, import_id, kind, object_id, action, data)
			SELECT $1, $3, $4, gone.id, 'removed', to_jsonb(gone) FROM gone`, o.kind)
		if err != nil {
			return err
		}
		*o.n = n
	}
	return nil
}

func prefixed(p, cols string) string {
	parts := strings.Split(cols, ", ")
	for i := range parts {
		parts[i] = p + parts[i]
	}
	return strings.Join(parts, ", ")
}
