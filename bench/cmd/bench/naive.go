package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/userfile"
	"github.com/userimport/userimport/internal/userrow"
)

// naiveImport writes the file's first o.rows records the way a typical
// ORM-based importer does: record by record, one transaction each, looking up
// every user, group, extension and role by its key before writing it. It
// holds one connection, as such an importer does.
func naiveImport(ctx context.Context, store *postgres.Store, file string, o childOpts) (storeResult, error) {
	f, size, err := openGenerated(file)
	if err != nil {
		return storeResult{}, err
	}
	defer f.Close()
	conn, err := store.Pool().Acquire(ctx)
	if err != nil {
		return storeResult{}, err
	}
	defer conn.Release()

	start := time.Now()
	roles, err := store.Roles(ctx, o.tenant)
	if err != nil {
		return storeResult{}, err
	}
	ur := userfile.NewReader(f, userfile.Options{Roles: roles, SizeHint: size})
	defer ur.Close()
	w := naiveWriter{conn: conn.Conn(), tenant: o.tenant}
	n := 0
	for o.rows == 0 || n < o.rows {
		rec, err := ur.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return storeResult{}, err
		}
		if !rec.Valid() {
			return storeResult{}, fmt.Errorf("line %d: invalid record in a file generated valid: %s", rec.Line, rec.Errors[0].Message)
		}
		if err := w.write(ctx, &rec.User); err != nil {
			return storeResult{}, fmt.Errorf("line %d: %w", rec.Line, err)
		}
		n++
		if n%2000 == 0 {
			fmt.Fprintf(os.Stderr, "  naive: %d records, %.0f/s\n", n, float64(n)/time.Since(start).Seconds())
		}
	}
	elapsed := time.Since(start)
	if w.created != n {
		return storeResult{}, fmt.Errorf("naive into a fresh tenant: %d of %d records created", w.created, n)
	}
	return storeResult{
		result: result{Seconds: elapsed.Seconds(), Records: n},
		Phases: []phase{
			{"user select+insert", w.spent[spentUser].Seconds()},
			{"groups", w.spent[spentGroups].Seconds()},
			{"extensions", w.spent[spentExtensions].Seconds()},
			{"roles", w.spent[spentRoles].Seconds()},
			{"begin+commit", w.spent[spentCommit].Seconds()},
		},
	}, nil
}

// What the naive importer's time is spent on.
const (
	spentUser = iota
	spentGroups
	spentExtensions
	spentRoles
	spentCommit
	numSpent
)

type naiveWriter struct {
	conn    *pgx.Conn
	tenant  string
	created int
	spent   [numSpent]time.Duration
	last    time.Time
}

// lap adds the time since the previous lap to what.
func (w *naiveWriter) lap(what int) {
	now := time.Now()
	w.spent[what] += now.Sub(w.last)
	w.last = now
}

// naiveColumns are the users table's columns the naive importer writes, in
// the order of naiveValues.
const naiveColumns = `name, login_id, language, email, valid_from, password_md5, change_password,
	recording_mode, time_zone, crm_user_id, voice, instant_messaging, video, desktop_screen,
	custom0, custom1, custom2, custom3, custom4, prompt_inbound, prompt_conference,
	inbound_file, conference_file, conference_message, column_hashes`

func naiveValues(u *userrow.User) []any {
	h := u.ColumnHashes()
	hashes := make([]byte, 8*len(h))
	for i, x := range h {
		binary.LittleEndian.PutUint64(hashes[8*i:], x)
	}
	return []any{u.Name, u.LoginID, u.Language, nullText(u.Email), u.ValidFrom, u.PasswordMD5, u.ChangePassword,
		u.RecordingMode, u.TimeZone, nullText(u.CRMUserID), u.Voice, u.InstantMessaging, u.Video, u.DesktopScreen,
		nullText(u.Custom[0]), nullText(u.Custom[1]), nullText(u.Custom[2]), nullText(u.Custom[3]), nullText(u.Custom[4]),
		u.PromptInbound, u.PromptConference, nullText(u.InboundFile), nullText(u.ConferenceFile), nullText(u.ConferenceMessage),
		hashes}
}

func nullText(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// The naive importer's statements; $1 is always the tenant.
var (
	naiveInsertUser = func() string {
		params := make([]string, 25)
		for i := range params {
			params[i] = fmt.Sprintf("$%d", i+2)
		}
		return "INSERT INTO users (tenant_id, " + naiveColumns + ") VALUES ($1, " + strings.Join(params, ", ") + ") RETURNING id"
	}()
	naiveUpdateUser = func() string {
		cols := strings.Split(naiveColumns, ",")
		for i, c := range cols {
			cols[i] = strings.TrimSpace(c) + fmt.Sprintf(" = $%d", i+3)
		}
		return "UPDATE users SET " + strings.Join(cols, ", ") + ", updated_at = now() WHERE tenant_id = $1 AND id = $2"
	}()
)

// write writes one user in its own transaction: the user, then each group,
// extension and role looked up, created if missing, and linked.
func (w *naiveWriter) write(ctx context.Context, u *userrow.User) error {
	w.last = time.Now()
	tx, err := w.conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	w.lap(spentCommit)

	// login_key is the stored lower(login_id), the column the unique index is on.
	var id int64
	err = tx.QueryRow(ctx, `SELECT id FROM users WHERE tenant_id = $1 AND login_key = lower($2)`, w.tenant, u.LoginID).Scan(&id)
	create := errors.Is(err, pgx.ErrNoRows)
	switch {
	case create:
		nu := u.ForCreate(userrow.Defaults{})
		if err := tx.QueryRow(ctx, naiveInsertUser, append([]any{w.tenant}, naiveValues(&nu)...)...).Scan(&id); err != nil {
			return fmt.Errorf("insert user: %w", err)
		}
	case err != nil:
		return err
	default:
		// Like an ORM's save(): every column set, every list replaced.
		if _, err := tx.Exec(ctx, naiveUpdateUser, append([]any{w.tenant, id}, naiveValues(u)...)...); err != nil {
			return fmt.Errorf("update user: %w", err)
		}
		for _, t := range []string{"user_groups", "user_extensions", "user_roles"} {
			if _, err := tx.Exec(ctx, "DELETE FROM "+t+" WHERE tenant_id = $1 AND user_id = $2", w.tenant, id); err != nil {
				return err
			}
		}
	}
	w.lap(spentUser)

	for _, g := range u.Groups {
		gid, err := w.lookUp(ctx, tx, `SELECT id FROM groups WHERE tenant_id = $1 AND name_key = lower($2)`, g,
			`INSERT INTO groups (tenant_id, name) VALUES ($1, $2) RETURNING id`, g)
		if err != nil {
			return fmt.Errorf("group: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO user_groups (tenant_id, user_id, group_id) VALUES ($1, $2, $3)`, w.tenant, id, gid); err != nil {
			return err
		}
	}
	w.lap(spentGroups)

	ext := u.Extension()
	for _, number := range u.Phones {
		eid, err := w.lookUp(ctx, tx, `SELECT id FROM extensions WHERE tenant_id = $1 AND number = $2`, number,
			`INSERT INTO extensions (tenant_id, number, recording_mode, voice, instant_messaging, video, desktop_screen)
				VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
			number, ext.RecordingMode, ext.Voice, ext.InstantMessaging, ext.Video, ext.DesktopScreen)
		if err != nil {
			return fmt.Errorf("extension: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO user_extensions (tenant_id, user_id, extension_id) VALUES ($1, $2, $3)`, w.tenant, id, eid); err != nil {
			return err
		}
	}
	w.lap(spentExtensions)

	for _, r := range u.Roles {
		var rid int64
		if err := tx.QueryRow(ctx, `SELECT id FROM roles WHERE tenant_id = $1 AND name_key = lower($2)`, w.tenant, r).Scan(&rid); err != nil {
			return fmt.Errorf("role %q: %w", r, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO user_roles (tenant_id, user_id, role_id) VALUES ($1, $2, $3)`, w.tenant, id, rid); err != nil {
			return err
		}
	}
	w.lap(spentRoles)

	if err := tx.Commit(ctx); err != nil {
		return err
	}
	w.lap(spentCommit)
	if create {
		w.created++
	}
	return nil
}

// lookUp returns the id the select finds for key, or inserts the row.
func (w *naiveWriter) lookUp(ctx context.Context, tx pgx.Tx, sel, key, ins string, insArgs ...any) (int64, error) {
	var id int64
	err := tx.QueryRow(ctx, sel, w.tenant, key).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		err = tx.QueryRow(ctx, ins, append([]any{w.tenant}, insArgs...)...).Scan(&id)
	}
	return id, err
}
