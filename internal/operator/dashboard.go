package operator

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
)

// DashboardPath is where the asynq dashboard is mounted.
const DashboardPath = "/monitoring/"

// Dashboard is asynqmon, the asynq dashboard, for operators: viewers get it
// read-only, admins may also retry, delete, archive, cancel and pause.
type Dashboard struct {
	creds           Credentials
	readOnly, admin *asynqmon.HTTPHandler
	// PublicOrigin is the origin browsers reach the producer at
	// (PUBLIC_URL's scheme://host[:port]), for a proxy that rewrites Host;
	// empty: the request's Host is the origin.
	PublicOrigin string
}

// NewDashboard returns the dashboard on the Redis of redis; Close it to
// close its connections. With a Prometheus server's URL, its pages also chart
// the queues' series over time.
func NewDashboard(c Credentials, redis asynq.RedisConnOpt, prometheusURL string) *Dashboard {
	opts := asynqmon.Options{
		RootPath:          strings.TrimSuffix(DashboardPath, "/"),
		RedisConnOpt:      redis,
		PrometheusAddress: prometheusURL,
		PayloadFormatter:  asynqmon.PayloadFormatterFunc(FormatPayload),
		ResultFormatter: asynqmon.ResultFormatterFunc(func(_ string, result []byte) string {
			return fmt.Sprintf("(%d bytes)", len(result))
		}),
	}
	admin := asynqmon.New(opts)
	opts.ReadOnly = true
	return &Dashboard{creds: c, readOnly: asynqmon.New(opts), admin: admin}
}

// ServeHTTP serves the dashboard and its API to operators, and 401 to
// everyone else.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	role := d.creds.Role(r)
	if role != Nobody && r.Method != http.MethodGet && r.Method != http.MethodHead && !d.sameOrigin(r) {
		http.Error(w, "cross-site request refused: a change in the dashboard needs an Origin header of the dashboard's own origin, "+
			"Sec-Fetch-Site: same-origin or an X-Requested-With header (a script: add -H 'X-Requested-With: curl')", http.StatusForbidden)
		return
	}
	switch role {
	case Admin:
		d.admin.ServeHTTP(w, r)
	case Viewer:
		d.readOnly.ServeHTTP(w, r)
	default:
		unauthorized(w)
	}
}

// sameOrigin says whether a request that changes something comes from the
// dashboard's own pages. Admin access is basic auth, which the browser sends
// with any request to the site, and asynqmon's API has no CSRF token: a page
// elsewhere could otherwise pause queues or archive tasks with the admin's
// cached credentials. A cross-site form or fetch cannot claim the dashboard's
// Origin or Sec-Fetch-Site, nor add a custom header such as X-Requested-With
// without a CORS preflight, which nothing here answers. asynqmon's pages
// (axios) send no custom header, but browsers send Origin with every POST and
// DELETE, and Sec-Fetch-Site too.
func (d *Dashboard) sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin":
		return true
	case "": // an older browser, or not a browser: look further
	default: // cross-site, same-site (another subdomain), none (typed in)
		return false
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host == "" {
			return false // "null": a sandboxed frame, a redirect from elsewhere
		}
		return strings.EqualFold(u.Host, r.Host) || (d.PublicOrigin != "" && strings.EqualFold(strings.TrimSuffix(o, "/"), d.PublicOrigin))
	}
	return r.Header.Get("X-Requested-With") != ""
}

// Close closes the dashboard's Redis connections.
func (d *Dashboard) Close() error {
	return errors.Join(d.readOnly.Close(), d.admin.Close())
}

// FormatPayload shows what identifies a task's work, and nothing else: the
// tenant, the import and the chunk's place in the file. Payloads carry no
// personal data today; listing the fields keeps it so if one ever does.
func FormatPayload(_ string, payload []byte) string {
	var p struct {
		Tenant    string `json:"tenant"`
		ImportID  int64  `json:"import_id"`
		Seq       *int   `json:"seq"`
		Offset    int64  `json:"offset"`
		Length    int64  `json:"length"`
		FirstLine int    `json:"first_line"`
		FeedID    int64  `json:"feed_id"`
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		return fmt.Sprintf("(%d bytes, not JSON)", len(payload))
	}
	out, _ := json.Marshal(struct {
		Tenant    string `json:"tenant"`
		ImportID  int64  `json:"import_id,omitempty"`
		FeedID    int64  `json:"feed_id,omitempty"`
		Chunk     *int   `json:"chunk,omitempty"`
		FirstLine int    `json:"first_line,omitempty"`
		Bytes     string `json:"bytes,omitempty"`
	}{Tenant: p.Tenant, ImportID: p.ImportID, FeedID: p.FeedID, Chunk: p.Seq, FirstLine: p.FirstLine, Bytes: byteRange(p.Offset, p.Length)})
	return string(out)
}

func byteRange(offset, length int64) string {
	if length == 0 {
		return ""
	}
	return fmt.Sprintf("%d-%d", offset, offset+length-1)
}
