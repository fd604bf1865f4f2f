package client_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/userimport/userimport/client"
)

// Undo through the client: a dry run changes nothing, the undo deactivates
// the users the import created and shows in their history, and undoing a dry
// run or an unknown import is refused with a typed error.
func TestUndoAndHistory(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, _, _ := tenantClient(t)
	im, err := c.Upload(ctx, "users.csv", bytes.NewReader(users(10)), client.ImportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if im, err = c.Wait(ctx, im.ID, client.WaitOptions{}); err != nil || im.Created != 9 {
		t.Fatalf("import: %+v (%v), want 9 created", im, err)
	}
	dry, err := c.Undo(ctx, im.ID, client.UndoOptions{DryRun: true})
	if err != nil || !dry.DryRun || dry.ImportID != 0 || dry.Deactivated != 9 {
		t.Fatalf("dry run: %+v (%v), want 9 to deactivate and no undo import", dry, err)
	}
	undo, err := c.Undo(ctx, im.ID, client.UndoOptions{})
	if err != nil || undo.ImportID == 0 || undo.Undone != im.ID || undo.Deactivated != 9 || len(undo.Conflicts) != 0 {
		t.Fatalf("undo: %+v (%v), want 9 deactivated by a new import", undo, err)
	}
	h, err := c.History(ctx, "user0000")
	if err != nil || len(h) != 2 || h[0].ImportID != undo.ImportID || h[0].Kind != "undo" || h[1].ImportID != im.ID || !h[1].Created {
		t.Fatalf("history: %+v (%v), want the undo, then the import that created the user", h, err)
	}
	if _, err := c.History(ctx, "nobody"); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("history of an unknown user: %v, want ErrNotFound", err)
	}
	dryImport, err := c.Upload(ctx, "dry.csv", bytes.NewReader(users(3)), client.ImportOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(ctx, dryImport.ID, client.WaitOptions{}); err != nil {
		t.Fatal(err)
	}
	var apiErr *client.Error
	if _, err := c.Undo(ctx, dryImport.ID, client.UndoOptions{}); !errors.As(err, &apiErr) || apiErr.StatusCode != 409 || apiErr.Code != "undo_refused" {
		t.Errorf("undo of a dry run: %v, want 409 undo_refused", err)
	}
	if _, err := c.Undo(ctx, 1<<40, client.UndoOptions{}); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("undo of an unknown import: %v, want ErrNotFound", err)
	}
}
