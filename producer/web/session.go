package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/userimport/userimport/internal/postgres"
)

// Cookies: the session, and before it the login form's CSRF nonce.
const (
	sessionCookie = "ui_session"
	loginCookie   = "ui_login"
)

// session is what the session cookie holds, signed: never the token itself.
type session struct {
	Tenant  string `json:"t"`
	TokenID int64  `json:"k"` // the API token logged in with; revoking it ends the session
	Expires int64  `json:"e"` // Unix seconds
	Nonce   string `json:"n"` // the CSRF token derives from it
	// ID names the session's record in PostgreSQL: logging out deletes it,
	// so that a copy of the cookie stops working too.
	ID string `json:"i"`
}

func deriveKey(secret string) []byte {
	h := sha256.Sum256([]byte("userimport web session\x00" + secret))
	return h[:]
}

func (u *UI) mac(parts ...string) []byte {
	m := hmac.New(sha256.New, u.key)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

// sign returns value.signature, both base64url.
func (u *UI) sign(kind string, v []byte) string {
	p := base64.RawURLEncoding.EncodeToString(v)
	return p + "." + base64.RawURLEncoding.EncodeToString(u.mac(kind, p))
}

// verify returns the value of a signed string, or false.
func (u *UI) verify(kind, s string) ([]byte, bool) {
	p, sig, ok := strings.Cut(s, ".")
	if !ok {
		return nil, false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, u.mac(kind, p)) {
		return nil, false
	}
	v, err := base64.RawURLEncoding.DecodeString(p)
	return v, err == nil
}

func nonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// csrf is the session's CSRF token, for the hidden field of every form.
func (u *UI) csrf(s *session) string {
	if s == nil {
		return ""
	}
	return hex.EncodeToString(u.mac("csrf", s.Nonce))
}

func (u *UI) csrfOK(s *session, got string) bool {
	return got != "" && hmac.Equal([]byte(got), []byte(u.csrf(s)))
}

func (u *UI) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	//nolint:gosec // G124: Secure over TLS or with an https:// PUBLIC_URL; a producer on plain http://127.0.0.1 must still work
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/ui/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil || u.d.SecureCookies})
}

// current returns the request's valid session, or nil.
func (u *UI) current(r *http.Request) (*session, error) {
	var value string
	for _, c := range r.CookiesNamed(sessionCookie) {
		value = c.Value
	}
	v, ok := u.verify("session", value)
	if !ok {
		return nil, nil
	}
	var s session
	if err := json.Unmarshal(v, &s); err != nil || time.Now().Unix() >= s.Expires || s.Tenant == "" || s.ID == "" {
		return nil, nil //nolint:nilerr // an unreadable cookie is no session, not a failure
	}
	valid, err := u.d.Store.WebSessionValid(r.Context(), s.Tenant, s.ID)
	if err != nil || !valid {
		return nil, err
	}
	return &s, nil
}

// handlerFunc is a page's handler, given the session.
type handlerFunc func(http.ResponseWriter, *http.Request, *session)

// session requires a session (else redirects to the login page) and, on a
// POST, the CSRF token in the form.
func (u *UI) session(next handlerFunc) http.Handler {
	return u.withSession(next, true)
}

// sessionNoForm is session for a POST whose handler reads the body itself
// (a multipart upload streamed to S3) and checks the CSRF token there.
func (u *UI) sessionNoForm(next handlerFunc) http.Handler {
	return u.withSession(next, false)
}

func (u *UI) withSession(next handlerFunc, form bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := u.current(r)
		if err != nil {
			u.fail(w, r, err)
			return
		}
		if s == nil {
			to := LoginPath
			if r.Method == http.MethodGet {
				to += "?next=" + url.QueryEscape(r.URL.RequestURI())
			}
			setHeaders(w)
			seeOther(w, r, to)
			return
		}
		if u.d.TokenAllowed != nil {
			if ok, wait := u.d.TokenAllowed(s.TokenID); !ok {
				secs := max(int(math.Ceil(wait.Seconds())), 1)
				w.Header().Set("Retry-After", strconv.Itoa(secs))
				u.render(w, r, http.StatusTooManyRequests, "message", page{Title: "Too many requests", Tenant: s.Tenant, CSRF: u.csrf(s),
					D: message{Heading: "Too many requests", Text: fmt.Sprintf("The token you logged in with has made too many requests (API_RATE_LIMIT): wait %d s and reload the page.", secs),
						Link: "Back to the imports", LinkTo: "/ui/"}})
				return
			}
		}
		if r.Method == http.MethodPost && form {
			r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
			if err := r.ParseForm(); err != nil || !u.csrfOK(s, r.PostFormValue("csrf")) {
				u.forbidden(w, r, s)
				return
			}
		}
		next(w, r, s)
	})
}

func (u *UI) forbidden(w http.ResponseWriter, r *http.Request, s *session) {
	u.render(w, r, http.StatusForbidden, "message", page{Title: "Form expired", Tenant: s.Tenant, CSRF: u.csrf(s),
		D: message{Heading: "The form has expired", Text: "Reload the page and send the form again.", Link: "Back to the imports", LinkTo: "/ui/"}})
}

// safeNext is where to go after logging in: a page of the UI, else the list.
func safeNext(next string) string {
	if strings.HasPrefix(next, "/ui/") && !strings.HasPrefix(next, "//") && !strings.ContainsAny(next, "\\\r\n") {
		return next
	}
	return "/ui/"
}

type loginData struct {
	Next string
}

// loginPage shows the login form, with a fresh CSRF nonce in a cookie.
func (u *UI) loginPage(w http.ResponseWriter, r *http.Request) {
	if s, err := u.current(r); err == nil && s != nil {
		seeOther(w, r, safeNext(r.URL.Query().Get("next")))
		return
	}
	u.renderLogin(w, r, http.StatusOK, "", r.URL.Query().Get("next"))
}

func (u *UI) renderLogin(w http.ResponseWriter, r *http.Request, status int, msg, next string) {
	n := nonce()
	u.setCookie(w, r, loginCookie, n, 3600)
	u.render(w, r, status, "login", page{Title: "Log in", CSRF: hex.EncodeToString(u.mac("login", n)), Error: msg,
		D: loginData{Next: safeNext(next)}})
}

// login checks the token of the form and starts a session.
func (u *UI) login(w http.ResponseWriter, r *http.Request) {
	// The form is a token, a CSRF token and a page's path: a few hundred
	// bytes. The producer's body deadline bounds how long it may take.
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if err := r.ParseForm(); err != nil {
		u.renderLogin(w, r, http.StatusBadRequest, "The form did not arrive whole, or in time: enter the token again.", "")
		return
	}
	token := strings.TrimSpace(r.PostFormValue("token"))
	next := r.PostFormValue("next")
	if token == "" {
		u.renderLogin(w, r, http.StatusUnauthorized, "Enter the tenant's API token (it starts with uit_).", next)
		return
	}
	c, err := r.Cookie(loginCookie)
	if err != nil || !hmac.Equal([]byte(r.PostFormValue("csrf")), []byte(hex.EncodeToString(u.mac("login", c.Value)))) {
		u.renderLogin(w, r, http.StatusForbidden, "The form has expired: enter the token again.", next)
		return
	}
	tenant, id, err := u.d.Store.TokenLogin(r.Context(), token)
	if errors.Is(err, postgres.ErrNotFound) {
		// Counted after the check, failures only: a good token is never
		// refused because others failed from the same address.
		if u.d.LoginFailed != nil && u.d.LoginFailed(r) {
			u.renderLogin(w, r, http.StatusTooManyRequests, "Too many wrong tokens from this address: wait a minute and try again.", next)
			return
		}
		u.renderLogin(w, r, http.StatusUnauthorized, "The token is unknown or revoked.", next)
		return
	}
	if err != nil {
		u.fail(w, r, err)
		return
	}
	expires := time.Now().Add(u.d.SessionTTL)
	s := session{Tenant: tenant, TokenID: id, Expires: expires.Unix(), Nonce: nonce(), ID: nonce()}
	v, err := json.Marshal(s)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	if err := u.d.Store.CreateWebSession(r.Context(), tenant, id, s.ID, expires); err != nil {
		u.fail(w, r, err)
		return
	}
	u.setCookie(w, r, sessionCookie, u.sign("session", v), int(u.d.SessionTTL.Seconds()))
	u.setCookie(w, r, loginCookie, "", -1)
	u.d.Log.Info("web login", zap.String("tenant", tenant), zap.Int64("token_id", id))
	seeOther(w, r, safeNext(next))
}

func (u *UI) logout(w http.ResponseWriter, r *http.Request, s *session) {
	if err := u.d.Store.EndWebSession(r.Context(), s.Tenant, s.ID); err != nil {
		u.fail(w, r, err)
		return
	}
	u.setCookie(w, r, sessionCookie, "", -1)
	seeOther(w, r, LoginPath)
}
