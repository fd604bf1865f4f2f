package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/userimport/userimport/internal/postgres"
)

// The tenant's API tokens: listed (never the secrets, which are not kept),
// created (the secret shown once, on the page the creating POST answers, so
// that it is in no URL and no history), revoked after a confirmation.

type tokensData struct {
	Tokens  []postgres.Token
	Current int64 // the token this session was made with
	Name    string
}

func (u *UI) tokensPage(w http.ResponseWriter, r *http.Request, s *session) {
	u.renderTokens(w, r, s, http.StatusOK, "")
}

func (u *UI) renderTokens(w http.ResponseWriter, r *http.Request, s *session, status int, problem string) {
	toks, err := u.d.Store.Tokens(r.Context(), s.Tenant)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	u.render(w, r, status, "tokens", page{Title: "API tokens", Tenant: s.Tenant, CSRF: u.csrf(s), Nav: "tokens",
		Notice: notices[r.URL.Query().Get("notice")], Error: problem,
		D: tokensData{Tokens: toks, Current: s.TokenID, Name: r.PostFormValue("name")}})
}

type tokenCreatedData struct {
	Name, Secret string
}

// createToken makes a token and shows its secret, this once.
func (u *UI) createToken(w http.ResponseWriter, r *http.Request, s *session) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	if name == "" {
		u.renderTokens(w, r, s, http.StatusBadRequest, "Name the token after who or what uses it.")
		return
	}
	if len(name) > 200 {
		u.renderTokens(w, r, s, http.StatusBadRequest, "A token's name has at most 200 characters.")
		return
	}
	secret, t, err := u.d.Store.CreateToken(r.Context(), s.Tenant, name)
	if err != nil {
		u.fail(w, r, err)
		return
	}
	u.render(w, r, http.StatusOK, "token-created", page{Title: "Token created", Tenant: s.Tenant, CSRF: u.csrf(s), Nav: "tokens",
		D: tokenCreatedData{Name: t.Name, Secret: secret}})
}

type revokeTokenData struct {
	Token   postgres.Token
	Current bool
}

// revokeToken asks first, and revokes once confirmed. Revoking the token
// the session was made with ends the session too.
func (u *UI) revokeToken(w http.ResponseWriter, r *http.Request, s *session) {
	id, err := strconv.ParseInt(r.PostFormValue("id"), 10, 64)
	var tok *postgres.Token
	if err == nil {
		toks, err := u.d.Store.Tokens(r.Context(), s.Tenant)
		if err != nil {
			u.fail(w, r, err)
			return
		}
		for i := range toks {
			if toks[i].ID == id {
				tok = &toks[i]
			}
		}
	}
	if tok == nil {
		u.notFound(w, r, s, "The tenant has no such token.")
		return
	}
	if r.PostFormValue("confirm") != "yes" {
		u.render(w, r, http.StatusOK, "token-revoke", page{Title: "Revoke a token", Tenant: s.Tenant, CSRF: u.csrf(s), Nav: "tokens",
			D: revokeTokenData{Token: *tok, Current: tok.ID == s.TokenID}})
		return
	}
	if err := u.d.Store.RevokeToken(r.Context(), s.Tenant, tok.ID); err != nil {
		if errors.Is(err, postgres.ErrNotFound) {
			u.notFound(w, r, s, "The tenant has no such token.")
			return
		}
		u.fail(w, r, err)
		return
	}
	if tok.ID == s.TokenID {
		seeOther(w, r, LoginPath)
		return
	}
	seeOther(w, r, "/ui/tokens?notice=token-revoked")
}
