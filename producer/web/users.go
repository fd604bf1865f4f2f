package web

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/userimport/userimport/internal/postgres"
)

// The tenant's users: a search by Login ID, name or e-mail, paged by the
// Login ID the page ended with, and a user's current values and history.

const usersPageSize = 50

type usersData struct {
	Query string
	Users []postgres.UserSummary
	Next  string // the link to the next page; "": the last page
	Paged bool   // this is not the first page
}

func (u *UI) usersPage(w http.ResponseWriter, r *http.Request, s *session) {
	q := r.URL.Query()
	d := usersData{Query: q.Get("q"), Paged: q.Get("after") != ""}
	if len(d.Query) > 200 {
		d.Query = d.Query[:200]
	}
	users, more, err := u.d.Store.SearchUsers(r.Context(), s.Tenant, postgres.UserSearch{Query: d.Query, After: q.Get("after"), Limit: usersPageSize})
	if err != nil {
		u.fail(w, r, err)
		return
	}
	d.Users = users
	if more {
		d.Next = "/ui/users?" + url.Values{"q": {d.Query}, "after": {users[len(users)-1].LoginID}}.Encode()
	}
	u.render(w, r, http.StatusOK, "users", page{Title: "Users", Tenant: s.Tenant, CSRF: u.csrf(s), Nav: "users", D: d})
}

func (u *UI) userPage(w http.ResponseWriter, r *http.Request, s *session) {
	rec, err := u.d.Store.User(r.Context(), s.Tenant, r.PathValue("login"))
	if errors.Is(err, postgres.ErrNotFound) {
		u.notFound(w, r, s, "The tenant has no user with this Login ID.")
		return
	}
	if err != nil {
		u.fail(w, r, err)
		return
	}
	history, err := u.d.Store.History(r.Context(), s.Tenant, rec.User.LoginID)
	if err != nil && !errors.Is(err, postgres.ErrNotFound) { // removed since: the page shows no history
		u.fail(w, r, err)
		return
	}
	u.render(w, r, http.StatusOK, "user", page{Title: "User " + rec.User.LoginID, Tenant: s.Tenant, CSRF: u.csrf(s), Nav: "users",
		D: userData{UserRecord: rec, History: history}})
}

// userData is a user's page: the current values and the imports that changed
// them, newest first (what GET /v1/users/{login_id}/history answers).
type userData struct {
	postgres.UserRecord
	History []postgres.HistoryEntry
}
