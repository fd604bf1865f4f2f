package producer

import (
	"fmt"
	"net/http"

	"github.com/userimport/userimport/producer/web"
)

// webRoutes are the tenant admins' pages under /ui/ (package web), wired to
// the API's uploads, retries and failed-token limit.
func (a *API) webRoutes() []Route {
	ui, err := web.New(web.Deps{
		Store: a.d.Store, Files: a.d.Files, Intake: a.intake(), Log: a.d.Log,
		MaxUpload: a.d.MaxUpload, SessionSecret: a.d.WebSessionSecret,
		LoginAllowed: func(r *http.Request) bool { ok, _ := a.failing.peek(clientAddr(r)); return ok },
		LoginFailed:  func(r *http.Request) { a.failing.allow(clientAddr(r)) },
	})
	if err != nil {
		// The templates are embedded: a broken one fails every test.
		panic(fmt.Sprintf("web pages: %v", err))
	}
	access := map[web.Auth]Access{web.Session: Session, web.Token: TenantToken, web.Public: Public}
	var routes []Route
	for _, rt := range ui.Routes() {
		routes = append(routes, Route{Pattern: rt.Pattern, Access: access[rt.Auth], handler: rt.Handler})
	}
	return routes
}
