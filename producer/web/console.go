package web

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/userimport/userimport/internal/intake"
	"github.com/userimport/userimport/internal/postgres"
)

// The tenant admin's console besides the imports: the role catalog and the
// tenant's settings.

type rolesData struct {
	Roles []postgres.RoleUse
	Add   string // what the form held, when refused
}

func (u *UI) rolesPage(w http.ResponseWriter, r *http.Request, s *session) {
	u.renderRoles(w, r, s, http.StatusOK, "")
}

func (u *UI) renderRoles(w http.ResponseWriter, r *http.Request, s *session, status int, problem string) {
	roles, err := u.d.Store.RoleUses(r.Context(), s.Tenant)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	u.render(w, r, status, "roles", page{Title: "Roles", Tenant: s.Tenant, CSRF: u.csrf(s), Nav: "roles",
		Notice: notices[r.URL.Query().Get("notice")], Error: problem, D: rolesData{Roles: roles, Add: r.PostFormValue("names")}})
}

// addRoles adds the names of the form (comma- or line-separated) to the
// catalog.
func (u *UI) addRoles(w http.ResponseWriter, r *http.Request, s *session) {
	names := splitNames(r.PostFormValue("names"))
	if len(names) == 0 {
		u.renderRoles(w, r, s, http.StatusBadRequest, "Name at least one role to add.")
		return
	}
	if err := u.d.Store.AddRoles(r.Context(), s.Tenant, names); err != nil {
		// The store refuses a name that cannot be a role, and says why.
		u.renderRoles(w, r, s, http.StatusBadRequest, capitalise(err.Error())+".")
		return
	}
	seeOther(w, r, "/ui/roles?notice=roles-added")
}

type removeRoleData struct {
	Name  string
	Users int
}

// removeRole asks first, saying how many users hold the role, and removes it
// once confirmed.
func (u *UI) removeRole(w http.ResponseWriter, r *http.Request, s *session) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	roles, err := u.d.Store.RoleUses(r.Context(), s.Tenant)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	var role *postgres.RoleUse
	for i := range roles {
		if strings.EqualFold(roles[i].Name, name) {
			role = &roles[i]
		}
	}
	if role == nil {
		u.renderRoles(w, r, s, http.StatusNotFound, fmt.Sprintf("The catalog has no role %q.", name))
		return
	}
	if r.PostFormValue("confirm") != "yes" {
		u.render(w, r, http.StatusOK, "role-remove", page{Title: "Remove a role", Tenant: s.Tenant, CSRF: u.csrf(s), Nav: "roles",
			D: removeRoleData{Name: role.Name, Users: role.Users}})
		return
	}
	if err := u.d.Store.RemoveRoles(r.Context(), s.Tenant, []string{role.Name}); err != nil {
		u.fail(w, r, err)
		return
	}
	seeOther(w, r, "/ui/roles?notice=role-removed")
}

type settingsData struct {
	NotifyDomains, DefaultNotify string
	Delimiter, Header            string
}

func (u *UI) settingsPage(w http.ResponseWriter, r *http.Request, s *session) {
	ts, err := u.d.Store.TenantSettings(r.Context(), s.Tenant)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	u.render(w, r, http.StatusOK, "settings", page{Title: "Settings", Tenant: s.Tenant, CSRF: u.csrf(s), Nav: "settings",
		Notice: notices[r.URL.Query().Get("notice")], D: settingsData{
			NotifyDomains: strings.Join(ts.NotifyDomains, ", "), DefaultNotify: strings.Join(ts.DefaultNotify, ", "),
			Delimiter: cmp.Or(ts.DefaultDelimiter, "auto"), Header: cmp.Or(ts.DefaultHeader, "auto")}})
}

// saveSettings changes every setting of the form, as intake checks them: a
// setting that cannot work is refused with its reason, and nothing changes.
func (u *UI) saveSettings(w http.ResponseWriter, r *http.Request, s *session) {
	f := settingsData{NotifyDomains: r.PostFormValue("notify_domains"), DefaultNotify: r.PostFormValue("default_notify"),
		Delimiter: r.PostFormValue("delimiter"), Header: r.PostFormValue("header")}
	domains, notify := splitNames(f.NotifyDomains), splitNames(f.DefaultNotify)
	change, err := u.d.Intake.CheckSettings(r.Context(), s.Tenant, postgres.TenantSettingsChange{
		NotifyDomains: &domains, DefaultNotify: &notify, DefaultDelimiter: &f.Delimiter, DefaultHeader: &f.Header})
	var bad *intake.InvalidError
	if errors.As(err, &bad) {
		u.render(w, r, http.StatusBadRequest, "settings", page{Title: "Settings", Tenant: s.Tenant, CSRF: u.csrf(s), Nav: "settings",
			Error: capitalise(bad.Reason) + ".", D: f})
		return
	}
	if err == nil {
		_, err = u.d.Store.SetTenantSettings(r.Context(), s.Tenant, change)
	}
	if err != nil {
		u.fail(w, r, err)
		return
	}
	seeOther(w, r, "/ui/settings?notice=settings-saved")
}

// splitNames splits a form's list: commas or line ends, blanks dropped.
func splitNames(s string) []string {
	var out []string
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func capitalise(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// notices are the messages a page shows after a change redirected to it
// (?notice=…): fixed texts, so that a link cannot make the page say anything.
var notices = map[string]string{ //nolint:gosec // G101: messages, no credential
	"roles-added":     "The roles were added to the catalog. Retry an import's rejected records to import the users who name them.",
	"role-removed":    "The role was removed from the catalog and from the users who held it.",
	"token-revoked":   "The token was revoked: requests with it are refused from now on.",
	"settings-saved":  "The settings were saved. They apply to the imports started from now on.",
	"feed-run-queued": "A run of the feed is queued: it imports the newest file unless the feed imported it already. Reload to see it below.",
	"feed-created":    "The feed was created. It runs on its schedule; try it first with a dry run of the newest file.",
	"feed-saved":      "The feed's settings were saved. They apply to its next run.",
	"feed-enabled":    "The feed was enabled: it runs on its schedule again.",
	"feed-disabled":   "The feed was disabled: it does not run until it is enabled again.",
	"feed-removed":    "The feed was removed with its runs' records. Its users and imports stay.",
	"run-approved":    "The run was approved: the users on its list who were still active and unchanged since are deactivated.",
	"run-rejected":    "The run was rejected: nobody on its list was deactivated.",
}
