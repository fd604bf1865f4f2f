package web

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/userimport/userimport/internal/postgres"
)

type undoData struct {
	ID     int64
	Result postgres.UndoResult
}

// undoPage asks to confirm the undo of an import, showing its dry run.
func (u *UI) undoPage(w http.ResponseWriter, r *http.Request, s *session) {
	im, ok := u.lookup(w, r, s)
	if !ok {
		return
	}
	res, err := u.d.Intake.Undo(r.Context(), s.Tenant, im.ID, postgres.UndoOptions{DryRun: true, RequestedBy: "web"})
	if u.undoRefused(w, r, s, im.ID, err) {
		return
	}
	if err != nil {
		u.fail(w, r, err)
		return
	}
	u.render(w, r, http.StatusOK, "undo", page{Title: fmt.Sprintf("Undo import %d", im.ID), Tenant: s.Tenant, CSRF: u.csrf(s), Nav: "imports",
		D: undoData{ID: im.ID, Result: res}})
}

// undo undoes the import and shows the undo's page.
func (u *UI) undo(w http.ResponseWriter, r *http.Request, s *session) {
	im, ok := u.lookup(w, r, s)
	if !ok {
		return
	}
	res, err := u.d.Intake.Undo(r.Context(), s.Tenant, im.ID, postgres.UndoOptions{Force: r.PostFormValue("force") == "on", RequestedBy: "web"})
	if u.undoRefused(w, r, s, im.ID, err) {
		return
	}
	if err != nil {
		u.fail(w, r, err)
		return
	}
	seeOther(w, r, fmt.Sprintf("/ui/imports/%d?notice=undone", res.ImportID))
}

// undoRefused answers an undo the store refused with a page saying why (409,
// or 404 for an import gone), and reports whether it did.
func (u *UI) undoRefused(w http.ResponseWriter, r *http.Request, s *session, id int64, err error) bool {
	var why string
	switch {
	case errors.Is(err, postgres.ErrNotFound):
		u.notFound(w, r, s, "No such import.")
		return true
	case errors.Is(err, postgres.ErrUndoDryRun):
		why = "The import is a dry run: it changed nothing, so there is nothing to undo."
	case errors.Is(err, postgres.ErrUndoRunning):
		why = "The import has not ended: undo it once it has finished or failed."
	case errors.Is(err, postgres.ErrUndoBusy):
		why = "Another import of the tenant has not ended: undo once it has."
	case errors.Is(err, postgres.ErrJournalPruned):
		why = "The import is older than the journal's retention (JOURNAL_RETENTION): what it changed is no longer recorded, so it can no longer be undone."
	default:
		return false
	}
	u.render(w, r, http.StatusConflict, "message", page{Title: "Cannot undo", Tenant: s.Tenant, CSRF: u.csrf(s),
		D: message{Heading: "The import cannot be undone", Text: why, Link: "Back to the import", LinkTo: fmt.Sprintf("/ui/imports/%d", id)}})
	return true
}
