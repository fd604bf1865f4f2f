// Package operator serves the endpoints operators use rather than tenants:
// the asynq dashboard and the Prometheus metrics, behind operator
// credentials.
package operator

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// Credential is a user name and password for HTTP basic authentication.
type Credential struct{ User, Password string }

// Set says whether the credential grants anything.
func (c Credential) Set() bool { return c.User != "" && c.Password != "" }

// Credentials are who may use the operator endpoints. The zero value grants
// nobody: every request is answered 401.
type Credentials struct {
	Viewer Credential // the dashboard read-only, and /metrics
	Admin  Credential // the dashboard with retry, delete, pause and cancel
	// MetricsToken lets a scraper read /metrics with "Authorization: Bearer".
	MetricsToken string
}

// Role is what a request may do.
type Role int

// The roles, each allowed what the one before is and more.
const (
	Nobody Role = iota // no valid credentials: 401
	Viewer             // read the dashboard and /metrics
	Admin              // also retry, delete, archive, cancel and pause in the dashboard
)

// Role returns the role the request's basic-auth credentials grant.
func (c Credentials) Role(r *http.Request) Role {
	user, password, ok := r.BasicAuth()
	switch {
	case !ok:
		return Nobody
	case c.Admin.Set() && c.Admin.matches(user, password):
		return Admin
	case c.Viewer.Set() && c.Viewer.matches(user, password):
		return Viewer
	}
	return Nobody
}

// matches compares in constant time; hashing first makes the comparison's
// time independent of the lengths too.
func (c Credential) matches(user, password string) bool {
	u := subtle.ConstantTimeCompare(digest(user), digest(c.User))
	p := subtle.ConstantTimeCompare(digest(password), digest(c.Password))
	return u&p == 1
}

func digest(s string) []byte {
	d := sha256.Sum256([]byte(s))
	return d[:]
}

func (c Credentials) bearer(r *http.Request) bool {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && c.MetricsToken != "" && subtle.ConstantTimeCompare(digest(token), digest(c.MetricsToken)) == 1
}

// unauthorized asks for basic credentials. The realm names who may answer.
func unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="userimport operators", charset="UTF-8"`)
	http.Error(w, "operator credentials required (MONITORING_VIEWER or MONITORING_ADMIN)", http.StatusUnauthorized)
}
