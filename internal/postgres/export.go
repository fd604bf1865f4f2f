package postgres

import (
	"context"
	"strings"

	"github.com/userimport/userimport/internal/userrow"
)

// userSelect reads users (as u) with their lists; the lists come sorted, as
// Values writes them. The FROM follows.
var userSelect = func() string {
	var b strings.Builder
	b.WriteString("SELECT ")
	for _, c := range userColumns {
		b.WriteString("u." + c.name + ", ")
	}
	b.WriteString(`coalesce((SELECT array_agg(g.name ORDER BY g.name_key) FROM user_groups ug JOIN groups g ON g.id = ug.group_id
			WHERE ug.user_id = u.id AND ug.tenant_id = u.tenant_id AND g.tenant_id = u.tenant_id), '{}'),
		coalesce((SELECT array_agg(r.name ORDER BY r.name_key) FROM user_roles ur JOIN roles r ON r.id = ur.role_id
			WHERE ur.user_id = u.id AND ur.tenant_id = u.tenant_id AND r.tenant_id = u.tenant_id), '{}'),
		coalesce((SELECT array_agg(e.number ORDER BY e.number) FROM user_extensions ue JOIN extensions e ON e.id = ue.extension_id
			WHERE ue.user_id = u.id AND ue.tenant_id = u.tenant_id AND e.tenant_id = u.tenant_id), '{}')`)
	return b.String()
}()

var exportQuery = userSelect + ` FROM users u WHERE u.tenant_id = $1 ORDER BY u.login_key`

// userScanner scans a row of userSelect into a User.
type userScanner struct {
	u    *userrow.User
	opt  [userrow.NumColumns]*string
	dest []any
}

func newUserScanner(u *userrow.User) *userScanner {
	sc := &userScanner{u: u, dest: make([]any, 0, len(userColumns)+3)}
	for _, c := range userColumns {
		sc.dest = append(sc.dest, scanTarget(u, c.col, &sc.opt))
	}
	sc.dest = append(sc.dest, &u.Groups, &u.Roles, &u.Phones)
	return sc
}

// reset readies the scanner for the next row.
func (sc *userScanner) reset() {
	*sc.u = userrow.User{}
	sc.opt = [userrow.NumColumns]*string{}
}

// finish sets the optional texts of the row scanned and marks every column given.
func (sc *userScanner) finish() {
	for c, p := range sc.opt {
		if p != nil {
			setText(sc.u, userrow.Column(c), *p)
		}
	}
	for c := range userrow.Column(userrow.NumColumns) {
		sc.u.Given = sc.u.Given.With(c)
	}
}

// ExportUsers calls fn with each of the tenant's users in Login ID order,
// streaming: memory does not grow with the number of users. The password hash
// is read but an export leaves it out (see the CSV format).
func (s *Store) ExportUsers(ctx context.Context, tenant string, fn func(*userrow.User) error) error {
	rows, err := s.pool.Query(ctx, exportQuery, tenant)
	if err != nil {
		return err
	}
	defer rows.Close()
	var u userrow.User
	sc := newUserScanner(&u)
	for rows.Next() {
		sc.reset()
		if err := rows.Scan(sc.dest...); err != nil {
			return err
		}
		sc.finish()
		if err := fn(&u); err != nil {
			return err
		}
	}
	return rows.Err()
}

// scanTarget returns where to scan a column: the field itself, or for an
// optional text column a *string slot (NULL stays nil).
func scanTarget(u *userrow.User, c userrow.Column, opt *[userrow.NumColumns]*string) any {
	switch c {
	case userrow.UserName:
		return &u.Name
	case userrow.LoginID:
		return &u.LoginID
	case userrow.Language:
		return &u.Language
	case userrow.ValidFrom:
		return &u.ValidFrom
	case userrow.Password:
		return &u.PasswordMD5
	case userrow.ChangePassword:
		return &u.ChangePassword
	case userrow.RecordingMode:
		return &u.RecordingMode
	case userrow.TimeZone:
		return &u.TimeZone
	case userrow.Voice:
		return &u.Voice
	case userrow.InstantMessaging:
		return &u.InstantMessaging
	case userrow.Video:
		return &u.Video
	case userrow.DesktopScreen:
		return &u.DesktopScreen
	case userrow.PromptInbound:
		return &u.PromptInbound
	case userrow.PromptConference:
		return &u.PromptConference
	default:
		return &opt[c]
	}
}

func setText(u *userrow.User, c userrow.Column, v string) {
	switch c {
	case userrow.Email:
		u.Email = v
	case userrow.CRMUserID:
		u.CRMUserID = v
	case userrow.Custom0, userrow.Custom1, userrow.Custom2, userrow.Custom3, userrow.Custom4:
		u.Custom[c-userrow.Custom0] = v
	case userrow.InboundFile:
		u.InboundFile = v
	case userrow.ConferenceFile:
		u.ConferenceFile = v
	case userrow.ConferenceMessage:
		u.ConferenceMessage = v
	default:
	}
}
