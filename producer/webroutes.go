package producer

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/userimport/userimport/producer/web"
)

// webRoutes are the tenant admins' pages under /ui/ (package web), wired to
// the API's uploads, retries and failed-token limit.
func (a *API) webRoutes() []Route {
	ui, err := web.New(web.Deps{
		Store: a.d.Store, Files: a.d.Files, Queue: a.d.Queue, Namespace: a.d.Namespace, Log: a.d.Log,
		MaxUpload: a.d.MaxUpload, UploadKey: UploadKey, SessionSecret: a.d.WebSessionSecret, NotifyMax: a.d.NotifyMax,
		Retry: func(ctx context.Context, tenant string, id int64) (int64, error) {
			child, err := Retry(ctx, a.d.Store, a.d.Queue, a.d.Namespace, tenant, id)
			if errors.Is(err, ErrNothingToRetry) {
				return 0, fmt.Errorf("%w: %w", web.ErrNothingToRetry, err)
			}
			return child.ID, err
		},
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
