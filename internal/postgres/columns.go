package postgres

import (
	"strconv"
	"strings"

	"github.com/userimport/userimport/internal/userrow"
)

// userColumn maps a column of the format to its column in the users table.
// The three lists (phones, groups, roles) live in their own tables.
type userColumn struct {
	col    userrow.Column
	name   string
	pgType string
	value  func(u *userrow.User) any
}

// nullable stores "" as NULL: an optional text column with no value.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

var userColumns = []userColumn{
	{userrow.UserName, "name", "text", func(u *userrow.User) any { return u.Name }},
	{userrow.LoginID, "login_id", "text", func(u *userrow.User) any { return u.LoginID }},
	{userrow.Language, "language", "text", func(u *userrow.User) any { return u.Language }},
	{userrow.Email, "email", "text", func(u *userrow.User) any { return nullable(u.Email) }},
	{userrow.ValidFrom, "valid_from", "date", func(u *userrow.User) any { return u.ValidFrom }},
	{userrow.Password, "password_md5", "text", func(u *userrow.User) any { return u.PasswordMD5 }},
	{userrow.ChangePassword, "change_password", "boolean", func(u *userrow.User) any { return u.ChangePassword }},
	{userrow.RecordingMode, "recording_mode", "text", func(u *userrow.User) any { return u.RecordingMode }},
	{userrow.TimeZone, "time_zone", "text", func(u *userrow.User) any { return u.TimeZone }},
	{userrow.CRMUserID, "crm_user_id", "text", func(u *userrow.User) any { return nullable(u.CRMUserID) }},
	{userrow.Voice, "voice", "boolean", func(u *userrow.User) any { return u.Voice }},
	{userrow.InstantMessaging, "instant_messaging", "boolean", func(u *userrow.User) any { return u.InstantMessaging }},
	{userrow.Video, "video", "boolean", func(u *userrow.User) any { return u.Video }},
	{userrow.DesktopScreen, "desktop_screen", "boolean", func(u *userrow.User) any { return u.DesktopScreen }},
	{userrow.Custom0, "custom0", "text", func(u *userrow.User) any { return nullable(u.Custom[0]) }},
	{userrow.Custom1, "custom1", "text", func(u *userrow.User) any { return nullable(u.Custom[1]) }},
	{userrow.Custom2, "custom2", "text", func(u *userrow.User) any { return nullable(u.Custom[2]) }},
	{userrow.Custom3, "custom3", "text", func(u *userrow.User) any { return nullable(u.Custom[3]) }},
	{userrow.Custom4, "custom4", "text", func(u *userrow.User) any { return nullable(u.Custom[4]) }},
	{userrow.PromptInbound, "prompt_inbound", "boolean", func(u *userrow.User) any { return u.PromptInbound }},
	{userrow.PromptConference, "prompt_conference", "boolean", func(u *userrow.User) any { return u.PromptConference }},
	{userrow.InboundFile, "inbound_file", "text", func(u *userrow.User) any { return nullable(u.InboundFile) }},
	{userrow.ConferenceFile, "conference_file", "text", func(u *userrow.User) any { return nullable(u.ConferenceFile) }},
	{userrow.ConferenceMessage, "conference_message", "text", func(u *userrow.User) any { return nullable(u.ConferenceMessage) }},
}

// The statements built from userColumns: column names only, never values.
var (
	// insertColumns are the columns COPY writes for a new user.
	insertColumns = func() []string {
		cols := []string{"id", "tenant_id"}
		for _, c := range userColumns {
			cols = append(cols, c.name)
		}
		return append(cols, "column_hashes", "last_import_id", "created_by_import")
	}()

	// stageColumns are those of the staging table for updates: the user's id,
	// which columns the record gives and which it changes, their values and
	// the merged hashes.
	stageColumns = func() []string {
		cols := []string{"id", "given", "changed"}
		for _, c := range userColumns {
			cols = append(cols, c.name)
		}
		return append(cols, "column_hashes")
	}()

	createStage = func() string {
		var b strings.Builder
		b.WriteString("CREATE TEMP TABLE IF NOT EXISTS stage_users (id bigint PRIMARY KEY, given bigint NOT NULL, changed bigint NOT NULL")
		for _, c := range userColumns {
			b.WriteString(", " + c.name + " " + c.pgType)
		}
		b.WriteString(", column_hashes bytea NOT NULL) ON COMMIT DELETE ROWS")
		return b.String()
	}()

	// updateFromStage sets each column the record gives and leaves the others,
	// and writes the journal's row: the previous values of the columns that
	// change (read from o, the row as the statement's snapshot sees it) and
	// the previous hashes.
	updateFromStage = func() string {
		var b strings.Builder
		b.WriteString("WITH upd AS (UPDATE users u SET ")
		for _, c := range userColumns {
			if c.col == userrow.LoginID {
				// The key never changes; its spelling may (Login IDs compare
				// case-insensitively).
				b.WriteString("login_id = s.login_id, ")
				continue
			}
			b.WriteString(c.name + " = CASE WHEN s.given & " + bit(c.col) + " <> 0 THEN s." + c.name + " ELSE u." + c.name + " END, ")
		}
		b.WriteString("column_hashes = s.column_hashes, updated_at = now(), last_import_id = $2 ")
		b.WriteString("FROM stage_users s, users o WHERE u.id = s.id AND u.tenant_id = $1 AND o.id = u.id AND o.tenant_id = $1 ")
		b.WriteString("RETURNING u.id, o.column_hashes, NULLIF(")
		for i, c := range userColumns {
			if i > 0 {
				b.WriteString(" || ")
			}
			b.WriteString("CASE WHEN s.changed & " + bit(c.col) + " <> 0 THEN jsonb_build_object('" + c.name + "', o." + c.name + ") ELSE '{}'::jsonb END")
		}
		b.WriteString(", '{}'::jsonb) AS old) ")
		b.WriteString("INSERT INTO journal_users (tenant_id, import_id, user_id, old, old_hashes) SELECT $1, $2, id, old, column_hashes FROM upd")
		return b.String()
	}()
)

func bit(c userrow.Column) string {
	return "(1::bigint << " + strconv.Itoa(int(c)) + ")"
}
