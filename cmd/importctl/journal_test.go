package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/userimport/userimport/internal/postgres/pgtest"
)

// Import, change a user's name by importing the edited export, undo that
// import: the history shows the name going and coming back.
func TestUndoAndHistoryCommands(t *testing.T) {
	t.Parallel()
	tenant := pgtest.Tenant(t)
	if code, _, errOut := runDB(t, "", "roles", "set", "--tenant", tenant, "agent", "supervisor", "admin", "auditor"); code != exitOK {
		t.Fatal(errOut)
	}
	_, file, _ := runCLI(t, "", "gen", "--rows", "3", "--seed", "7")
	importID := func(stdin string, args ...string) int64 {
		t.Helper()
		code, out, errOut := runDB(t, stdin, append([]string{"import", "--tenant", tenant, "--local", "--format", "json"}, args...)...)
		var sum struct {
			ImportID int64 `json:"import_id"`
		}
		if err := json.Unmarshal([]byte(out), &sum); err != nil || code != exitOK {
			t.Fatalf("import: exit %d, %q %q: %v", code, out, errOut, err)
		}
		return sum.ImportID
	}
	importID(file, "-")
	exported := filepath.Join(t.TempDir(), "users.csv")
	if code, _, errOut := runDB(t, "", "export", "--tenant", tenant, "-o", exported); code != exitOK {
		t.Fatal(errOut)
	}
	data, err := os.ReadFile(exported)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(strings.NewReader(string(data))).ReadAll()
	if err != nil || len(recs) < 2 {
		t.Fatalf("export: %d records, %v", len(recs), err)
	}
	name, login := recs[1][0], recs[1][1] // User Name, Login ID, …
	recs[1][0] = "Renamed Person"
	var edited strings.Builder
	w := csv.NewWriter(&edited)
	if err := w.WriteAll(recs[:2]); err != nil {
		t.Fatal(err)
	}
	b := importID(edited.String(), "-")

	code, out, errOut := runDB(t, "", "undo", "--tenant", tenant, "--dry-run", fmt.Sprint(b))
	if code != exitOK || !strings.Contains(out, "dry run: nothing changed") || !strings.Contains(out, "users: 1 restored") {
		t.Fatalf("undo --dry-run: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runDB(t, "", "undo", "--tenant", tenant, "--format", "json", fmt.Sprint(b))
	var res struct {
		ImportID  int64 `json:"import_id"`
		Restored  int   `json:"restored"`
		Conflicts []any `json:"conflicts"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != exitOK || res.Restored != 1 || res.ImportID <= b {
		t.Fatalf("undo: exit %d, %q %q (%v)", code, out, errOut, err)
	}
	code, out, errOut = runDB(t, "", "history", "--tenant", tenant, login)
	want := fmt.Sprintf("import %d  undo  ", res.ImportID)
	if code != exitOK || !strings.HasPrefix(out, want) ||
		!strings.Contains(out, fmt.Sprintf("name: %q → %q", "Renamed Person", name)) ||
		!strings.Contains(out, fmt.Sprintf("import %d  local  ", b)) || !strings.Contains(out, "created") {
		t.Errorf("history: exit %d\n%s%s", code, out, errOut)
	}
	// Undoing B again: its user was changed by the undo since.
	code, out, _ = runDB(t, "", "undo", "--tenant", tenant, fmt.Sprint(b))
	if code != exitInvalid || !strings.Contains(out, fmt.Sprintf("changed by import %d", res.ImportID)) {
		t.Errorf("second undo: exit %d\n%s", code, out)
	}
	for _, bad := range [][]string{
		{"undo", "--tenant", tenant},
		{"undo", "--tenant", tenant, "x"},
		{"undo", fmt.Sprint(b)},
		{"history", "--tenant", tenant},
		{"undo", "--tenant", tenant, "999999999"},
		{"history", "--tenant", tenant, "nobody-here"},
	} {
		if code, _, errOut := runDB(t, "", bad...); code != exitUsage || errOut == "" {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 with a message", bad, code, errOut)
		}
	}
}
