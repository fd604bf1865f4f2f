package producer

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/userimport/userimport/internal/feed"
	"github.com/userimport/userimport/producer/web"
)

// webRoutes are the tenant admins' pages under /ui/ (package web), wired to
// the API's uploads, retries and failed-token limit.
func (a *API) webRoutes() []Route {
	lister, _ := a.d.Files.(feed.Lister) // an *s3store.Store lists
	ui, err := web.New(web.Deps{
		Store: a.d.Store, Files: a.d.Files, Lister: lister, Intake: a.intake(), Log: a.d.Log,
		MaxUpload: a.d.MaxUpload, EventsPrefix: a.d.Events.Prefix, SessionSecret: a.d.WebSessionSecret,
		SecureCookies: strings.HasPrefix(a.d.PublicURL, "https://"),
		LoginFailed:   func(r *http.Request) bool { ok, _ := a.failing.allow(a.client(r)); return !ok },
		TokenAllowed:  a.tokenAllowed,
		UploadSlot: func(tenant string) (func(), error) {
			release, err := a.uploads.acquire(tenant)
			var busy busyError
			if errors.As(err, &busy) {
				return nil, &web.BusyError{Status: busy.status(), RetryAfter: busyRetryAfter * time.Second, Message: busy.Error()}
			}
			return release, err
		},
		SlowBody: "The upload was too slow: " + slowMessage(a.d.UploadMinRate, a.d.BodyTimeout) + ".",
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
