package producer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/postgres"
)

// undoRequest is the JSON body of POST /v1/imports/{id}/undo; an empty body
// is the zero request: undo, not by force.
type undoRequest struct {
	DryRun bool `json:"dry_run"` // work the undo out and report it, change nothing
	Force  bool `json:"force"`   // roll back the users later imports changed too
}

// undoView is an undo's result as the API shows it.
type undoView struct {
	postgres.UndoResult
	DryRun bool      `json:"dry_run"`
	Links  undoLinks `json:"links"`
}

type undoLinks struct {
	Self   string `json:"self,omitempty"` // the undo import; none for a dry run
	Undone string `json:"undone"`
}

// undoImport undoes the tenant's import (postgres.Store.Undo, applied before
// the answer: an undo reads the journal, it is not queued): 200 with what it
// would do for a dry run, else 201 with what it did and the undo import's
// Location.
func (a *API) undoImport(w http.ResponseWriter, r *http.Request, tenant string) {
	im, ok := a.lookup(w, r, tenant)
	if !ok {
		return
	}
	var req undoRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, "bad_request", "body: want {\"dry_run\": bool, \"force\": bool} or nothing: "+err.Error())
		return
	}
	res, err := a.intake().Undo(r.Context(), tenant, im.ID, postgres.UndoOptions{DryRun: req.DryRun, Force: req.Force, RequestedBy: "api"})
	if code, status, msg, refused := undoRefusal(err); refused {
		writeError(w, status, code, msg)
		return
	}
	if err != nil {
		a.internal(w, r, err)
		return
	}
	v := newUndoView(res, req.DryRun)
	if req.DryRun {
		writeJSON(w, http.StatusOK, v)
		return
	}
	w.Header().Set("Location", v.Links.Self)
	writeJSON(w, http.StatusCreated, v)
}

func newUndoView(res postgres.UndoResult, dryRun bool) undoView {
	if res.Conflicts == nil {
		res.Conflicts = []postgres.Conflict{}
	}
	v := undoView{UndoResult: res, DryRun: dryRun, Links: undoLinks{Undone: fmt.Sprintf("/v1/imports/%d", res.Undone)}}
	if res.ImportID != 0 {
		v.Links.Self = fmt.Sprintf("/v1/imports/%d", res.ImportID)
	}
	return v
}

// undoRefusal is how the API answers an undo the store refused: its error
// code, status and message; false for any other error.
func undoRefusal(err error) (code string, status int, msg string, refused bool) {
	switch {
	case errors.Is(err, postgres.ErrNotFound):
		return "not_found", http.StatusNotFound, "no such import", true
	case errors.Is(err, postgres.ErrJournalPruned):
		return "journal_pruned", http.StatusGone, postgres.ErrJournalPruned.Error(), true
	case errors.Is(err, postgres.ErrUndoDryRun), errors.Is(err, postgres.ErrUndoRunning), errors.Is(err, postgres.ErrUndoBusy):
		return "undo_refused", http.StatusConflict, err.Error(), true
	}
	return "", 0, "", false
}

// historyView is an entry of a user's history as the API shows it: its
// changes always there, empty for a created user.
type historyView struct {
	ImportID int64             `json:"import_id"`
	Kind     lifecycle.Kind    `json:"kind"`
	At       time.Time         `json:"at"`
	Created  bool              `json:"created,omitempty"`
	Changes  []postgres.Change `json:"changes"`
}

// userHistory answers every import that changed the user, newest first, with
// the old and new value of each change (a password's never shown).
func (a *API) userHistory(w http.ResponseWriter, r *http.Request, tenant string) {
	login := r.PathValue("login_id")
	h, err := a.d.Store.History(r.Context(), tenant, login)
	if errors.Is(err, postgres.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", "no such user")
		return
	}
	if err != nil {
		a.internal(w, r, err)
		return
	}
	views := make([]historyView, len(h))
	for i, e := range h {
		views[i] = historyView{ImportID: e.ImportID, Kind: e.Kind, At: e.At, Created: e.Created, Changes: e.Changes}
		if views[i].Changes == nil {
			views[i].Changes = []postgres.Change{}
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"login_id": login, "history": views})
}
