package client

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// UndoOptions shape an undo. DryRun works it out and reports it without
// changing anything; Force rolls back the users later imports changed too,
// which an undo otherwise leaves alone and reports as conflicts.
type UndoOptions struct {
	DryRun bool `json:"dry_run"`
	Force  bool `json:"force"`
}

// UndoResult is what an undo did, or would do for a dry run.
type UndoResult struct {
	ImportID int64 `json:"import_id"` // the undo, an import of kind undo; 0 for a dry run
	Undone   int64 `json:"undone"`    // the import undone
	DryRun   bool  `json:"dry_run"`
	// Restored users got their values and memberships back; Deactivated
	// are the users the import created; Reactivated those its feed run
	// deactivated.
	Restored    int `json:"restored"`
	Deactivated int `json:"deactivated"`
	Reactivated int `json:"reactivated"`
	// Groups and extensions the import created and nothing uses any more
	// are removed; those an undone undo had removed are put back.
	GroupsRemoved      int        `json:"groups_removed"`
	ExtensionsRemoved  int        `json:"extensions_removed"`
	GroupsRestored     int        `json:"groups_restored"`
	ExtensionsRestored int        `json:"extensions_restored"`
	Conflicts          []Conflict `json:"conflicts"`
}

// Conflict is a user a later import changed since the import undone: left
// alone unless UndoOptions.Force.
type Conflict struct {
	LoginID   string `json:"login_id"`
	ChangedBy int64  `json:"changed_by"` // the latest import to have changed the user
}

// Undo puts every user the import touched back to its state before it, as
// an import of kind undo (which can itself be undone). A dry run, an import
// still running, another import of the tenant running, or an import whose
// journal is gone is refused: an *Error with code undo_refused (409) or
// journal_pruned (410).
func (c *Client) Undo(ctx context.Context, id int64, o UndoOptions) (*UndoResult, error) {
	var res UndoResult
	if err := c.call(ctx, http.MethodPost, importPath(id)+"/undo", nil, o, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// HistoryEntry is what one import did to a user.
type HistoryEntry struct {
	ImportID int64     `json:"import_id"`
	Kind     string    `json:"kind"` // upload, event, feed, retry, undo or local
	At       time.Time `json:"at"`
	Created  bool      `json:"created"` // the import created the user
	Changes  []Change  `json:"changes"`
}

// Change is one column or list an import changed, old → new. A password
// reads "(hidden)", never its hash.
type Change struct {
	Column string `json:"column"`
	Old    string `json:"old"`
	New    string `json:"new"`
}

// History returns every import that changed the user, newest first, while
// the journal keeps them (JOURNAL_RETENTION). An unknown user is ErrNotFound.
func (c *Client) History(ctx context.Context, loginID string) ([]HistoryEntry, error) {
	var out struct {
		History []HistoryEntry `json:"history"`
	}
	if err := c.call(ctx, http.MethodGet, "/v1/users/"+url.PathEscape(loginID)+"/history", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.History, nil
}
