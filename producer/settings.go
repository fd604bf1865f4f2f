package producer

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/userimport/userimport/internal/intake"
	"github.com/userimport/userimport/internal/postgres"
)

func (a *API) settingsRoutes() []Route {
	return []Route{
		{"GET /v1/settings", TenantToken, a.auth(a.getSettings)},
		{"PATCH /v1/settings", TenantToken, a.auth(a.updateSettings)},
	}
}

// SettingsView is a tenant's settings as the API shows them (and importctl
// tenants show --format json).
type SettingsView struct {
	NotifyDomains    []string   `json:"notify_domains"` // []: any domain
	DefaultNotify    []string   `json:"default_notify"` // []: nobody
	DefaultDelimiter string     `json:"default_delimiter"`
	DefaultHeader    string     `json:"default_header"`
	UpdatedAt        *time.Time `json:"updated_at"` // null: never set
}

// NewSettingsView shows ts.
func NewSettingsView(ts postgres.TenantSettings) SettingsView {
	return SettingsView{NotifyDomains: ts.NotifyDomains, DefaultNotify: ts.DefaultNotify,
		DefaultDelimiter: ts.DefaultDelimiter, DefaultHeader: ts.DefaultHeader, UpdatedAt: ts.UpdatedAt}
}

// settingsChange is a PATCH's body: the fields given change, the others stay.
type settingsChange struct {
	NotifyDomains    *[]string `json:"notify_domains"`
	DefaultNotify    *[]string `json:"default_notify"`
	DefaultDelimiter *string   `json:"default_delimiter"`
	DefaultHeader    *string   `json:"default_header"`
}

func (a *API) getSettings(w http.ResponseWriter, r *http.Request, tenant string) {
	ts, err := a.d.Store.TenantSettings(r.Context(), tenant)
	if err != nil {
		a.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, NewSettingsView(ts))
}

func (a *API) updateSettings(w http.ResponseWriter, r *http.Request, tenant string) {
	var c settingsChange
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "malformed JSON: "+err.Error())
		return
	}
	change, err := a.intake().CheckSettings(r.Context(), tenant, postgres.TenantSettingsChange(c))
	var bad *intake.InvalidError
	if errors.As(err, &bad) {
		writeError(w, http.StatusBadRequest, "bad_request", bad.Reason)
		return
	}
	if err != nil {
		a.internal(w, r, err)
		return
	}
	ts, err := a.d.Store.SetTenantSettings(r.Context(), tenant, change)
	if err != nil {
		a.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, NewSettingsView(ts))
}
