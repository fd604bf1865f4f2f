package postgres_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/userfile"
	"github.com/userimport/userimport/internal/userrow"
)

// storeState is what an undo must put back: the export, each user's active
// flag, the membership tables and the groups and extensions, by id.
type storeState struct {
	Export     map[string][userrow.NumColumns]string
	Active     map[string]bool
	Members    map[string][]string // table → "login_id:ref_id", sorted
	Groups     []string            // "id:name"
	Extensions []string            // "id:number:settings:setter"
}

// snapshot reads the tenant's state, leaving out the users named in skip.
func snapshot(t *testing.T, s *postgres.Store, tenant string, skip ...string) storeState {
	t.Helper()
	ctx := t.Context()
	st := storeState{Export: export(t, s, tenant), Active: map[string]bool{}, Members: map[string][]string{}}
	if skip == nil {
		skip = []string{}
	}
	for _, login := range skip {
		delete(st.Export, login)
	}
	strs := func(q string) []string {
		rows, err := s.Pool().Query(ctx, q, tenant, skip)
		if err != nil {
			t.Fatal(err)
		}
		out, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, a := range strs(`SELECT login_id || ':' || active FROM users WHERE tenant_id = $1 AND login_id <> ALL($2) ORDER BY 1`) {
		var login string
		var active bool
		for i := len(a) - 1; i >= 0; i-- {
			if a[i] == ':' {
				login, active = a[:i], a[i+1:] == "true"
				break
			}
		}
		st.Active[login] = active
	}
	for _, m := range []struct{ table, ref string }{{"user_groups", "group_id"}, {"user_roles", "role_id"}, {"user_extensions", "extension_id"}} {
		st.Members[m.table] = strs(`SELECT u.login_id || ':' || m.` + m.ref + ` FROM ` + m.table + ` m JOIN users u ON u.id = m.user_id
			WHERE m.tenant_id = $1 AND u.login_id <> ALL($2) ORDER BY 1`)
	}
	st.Groups = strs(`SELECT id || ':' || name FROM groups WHERE tenant_id = $1 AND $2::text[] IS NOT NULL ORDER BY id`)
	st.Extensions = strs(`SELECT concat_ws(':', id, number, recording_mode, voice, instant_messaging, video, desktop_screen, set_by_import, set_by_line)
		FROM extensions WHERE tenant_id = $1 AND $2::text[] IS NOT NULL ORDER BY id`)
	return st
}

// applyAs is apply for an import of the given kind and parent.
func applyAs(t *testing.T, s *postgres.Store, tenant string, kind lifecycle.Kind, parent int64, recs []postgres.Record) int64 {
	t.Helper()
	ctx := t.Context()
	id, _, err := s.CreateImport(ctx, postgres.NewImport{Tenant: tenant, Kind: kind, ParentID: parent, Source: t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddChunks(ctx, tenant, id, []userfile.Chunk{{Seq: 0, Records: len(recs)}}); err != nil {
		t.Fatal(err)
	}
	if err := s.SavePlan(ctx, tenant, id, userfile.Plan{Records: len(recs), Chunks: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ApplyChunk(ctx, postgres.Chunk{Tenant: tenant, ImportID: id, Seq: 0}, recs, postgres.ApplyOptions{Defaults: userrow.Defaults{Today: today}}); err != nil {
		t.Fatalf("ApplyChunk: %v", err)
	}
	if finished, err := s.FinishImport(ctx, tenant, id, 0); err != nil || !finished {
		t.Fatalf("FinishImport: %v, %v", finished, err)
	}
	return id
}

type row = map[userrow.Column]string

var undoRoles = []string{"agent", "supervisor"}

// importA and importB are the acceptance's imports: B creates a user,
// updates columns and memberships, creates groups and extensions and changes
// an extension's settings, and leaves a user unchanged.
func importA(t *testing.T, s *postgres.Store, tenant string) int64 {
	t.Helper()
	if err := s.SetRoles(t.Context(), tenant, undoRoles); err != nil {
		t.Fatal(err)
	}
	return applyAs(t, s, tenant, lifecycle.KindUpload, 0, parse(t, undoRoles,
		row{userrow.UserName: "Ann", userrow.LoginID: "ann", userrow.Groups: "Sales", userrow.PhoneMapping: "+3611000", userrow.Roles: "agent"},
		row{userrow.UserName: "Bob", userrow.LoginID: "bob", userrow.Email: "bob@example.com", userrow.Groups: "Sales;Support"},
		row{userrow.UserName: "Cy", userrow.LoginID: "cy", userrow.Custom0: "keep"},
	))
}

func importB(t *testing.T, s *postgres.Store, tenant string) int64 {
	t.Helper()
	return applyAs(t, s, tenant, lifecycle.KindUpload, 0, parse(t, undoRoles,
		row{userrow.UserName: "Ann Other", userrow.LoginID: "ANN", userrow.Groups: "Sales;Night shift", userrow.PhoneMapping: "+3622000", userrow.Roles: "agent\nsupervisor"},
		row{userrow.UserName: "Bob", userrow.LoginID: "bob", userrow.Email: "", userrow.PhoneMapping: "+3611000", userrow.RecordingMode: "no", userrow.Password: md5hex("secret1")},
		row{userrow.UserName: "Cy", userrow.LoginID: "cy", userrow.Custom0: "keep"},
		row{userrow.UserName: "Dee", userrow.LoginID: "dee", userrow.Groups: "Night shift;New team", userrow.PhoneMapping: "+3633000", userrow.Roles: "agent"},
	))
}

func undo(t *testing.T, s *postgres.Store, tenant string, id int64, opts postgres.UndoOptions) postgres.UndoResult {
	t.Helper()
	res, err := s.Undo(t.Context(), tenant, id, opts)
	if err != nil {
		t.Fatalf("undo %d: %v", id, err)
	}
	return res
}

// Import A, import B, undo B: the store is A's again (B's new user kept,
// inactive); undo the undo: it is B's again.
func TestUndoRestoresTheStore(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	tenant := pgtest.Tenant(t)
	importA(t, s, tenant)
	afterA := snapshot(t, s, tenant)
	b := importB(t, s, tenant)
	afterB := snapshot(t, s, tenant)
	if cmp.Equal(afterA, afterB) {
		t.Fatal("import B changed nothing: the test is hollow")
	}

	dry := undo(t, s, tenant, b, postgres.UndoOptions{DryRun: true})
	if dry.ImportID != 0 || dry.Restored != 2 || dry.Deactivated != 1 {
		t.Errorf("dry run: %+v, want no import, 2 restored, 1 deactivated", dry)
	}
	if diff := cmp.Diff(afterB, snapshot(t, s, tenant)); diff != "" {
		t.Fatalf("a dry run changed the store (-before +after):\n%s", diff)
	}

	u := undo(t, s, tenant, b, postgres.UndoOptions{RequestedBy: "test"})
	want := postgres.UndoResult{ImportID: u.ImportID, Undone: b, Restored: 2, Deactivated: 1, GroupsRemoved: 2, ExtensionsRemoved: 2}
	if diff := cmp.Diff(want, u); diff != "" || u.ImportID <= b {
		t.Errorf("undo result (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(afterA, snapshot(t, s, tenant, "dee")); diff != "" {
		t.Errorf("after undo of B, not the store after A (-A +undo):\n%s", diff)
	}
	if active := snapshot(t, s, tenant).Active; active["dee"] {
		t.Error("the user B created is still active")
	}
	im, err := s.Import(t.Context(), tenant, u.ImportID)
	if err != nil {
		t.Fatal(err)
	}
	if im.Kind != lifecycle.KindUndo || im.State != lifecycle.ImportFinished || im.Updated != 3 {
		t.Errorf("the undo import: %+v", im)
	}

	uu := undo(t, s, tenant, u.ImportID, postgres.UndoOptions{})
	if uu.GroupsRestored != 2 || uu.ExtensionsRestored != 2 || uu.Restored != 3 || uu.Reactivated != 1 || len(uu.Conflicts) != 0 {
		t.Errorf("undo of the undo: %+v", uu)
	}
	if diff := cmp.Diff(afterB, snapshot(t, s, tenant)); diff != "" {
		t.Errorf("after undo of the undo, not the store after B (-B +now):\n%s", diff)
	}

	// B again: everything it changed, the undo of its undo changed since.
	again := undo(t, s, tenant, b, postgres.UndoOptions{DryRun: true})
	if len(again.Conflicts) != 3 || again.Conflicts[0].ChangedBy != uu.ImportID {
		t.Errorf("undo of B after its undo was undone: conflicts %+v, want 3 by import %d", again.Conflicts, uu.ImportID)
	}
}

// A user a later import changed is a conflict, named with that import, and
// kept; the others are restored. Force restores it too.
func TestUndoSkipsUsersChangedLater(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	tenant := pgtest.Tenant(t)
	importA(t, s, tenant)
	b := importB(t, s, tenant)
	c := applyAs(t, s, tenant, lifecycle.KindUpload, 0, parse(t, undoRoles,
		row{userrow.UserName: "Ann Changed", userrow.LoginID: "ann"}))
	before := snapshot(t, s, tenant)

	u := undo(t, s, tenant, b, postgres.UndoOptions{})
	if len(u.Conflicts) != 1 || u.Conflicts[0].LoginID != "ann" || u.Conflicts[0].ChangedBy != c {
		t.Fatalf("conflicts %+v, want ann changed by import %d", u.Conflicts, c)
	}
	now := snapshot(t, s, tenant)
	if got := now.Export["ANN"]; got != before.Export["ANN"] {
		t.Errorf("the conflicting user was changed:\n%v\nwant\n%v", got, before.Export["ANN"])
	}
	if got := now.Export["bob"][userrow.Email]; got != "bob@example.com" {
		t.Errorf("bob's e-mail after the undo: %q, want A's", got)
	}
	if len(now.Groups) != len(before.Groups)-1 {
		t.Errorf("groups %v: want only New team removed (Night shift is still ann's)", now.Groups)
	}

	forced := undo(t, s, tenant, u.ImportID, postgres.UndoOptions{}) // back to before
	if diff := cmp.Diff(before, snapshot(t, s, tenant)); diff != "" || len(forced.Conflicts) != 0 {
		t.Fatalf("undo of the undo (-want +got):\n%s\nconflicts %v", diff, forced.Conflicts)
	}
	f := undo(t, s, tenant, b, postgres.UndoOptions{Force: true})
	if len(f.Conflicts) != 3 { // ann, bob and dee, by the undo of the undo
		t.Errorf("forced: conflicts %+v", f.Conflicts)
	}
	if got := snapshot(t, s, tenant).Export["ann"][userrow.UserName]; got != "Ann" {
		t.Errorf("forced undo left ann's name %q, want A's", got)
	}
}

// A retry's import is undone like any other.
func TestUndoOfARetry(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	tenant := pgtest.Tenant(t)
	a := importA(t, s, tenant)
	afterA := snapshot(t, s, tenant)
	r := applyAs(t, s, tenant, lifecycle.KindRetry, a, parse(t, undoRoles,
		row{userrow.UserName: "Bob Retried", userrow.LoginID: "bob", userrow.Roles: "supervisor"}))
	u := undo(t, s, tenant, r, postgres.UndoOptions{})
	if u.Restored != 1 {
		t.Errorf("undo of the retry: %+v", u)
	}
	if diff := cmp.Diff(afterA, snapshot(t, s, tenant)); diff != "" {
		t.Errorf("after undo of the retry (-want +got):\n%s", diff)
	}
	h, err := s.History(t.Context(), tenant, "BOB")
	if err != nil {
		t.Fatal(err)
	}
	got := make([][]string, len(h))
	for i, e := range h {
		got[i] = []string{fmt.Sprint(e.ImportID, " ", e.Kind, " ", e.Created)}
		for _, c := range e.Changes {
			got[i] = append(got[i], c.Column+": "+c.Old+" → "+c.New)
		}
	}
	wantLines := [][]string{
		{fmt.Sprint(u.ImportID, " undo false"), "name: Bob Retried → Bob", "roles: supervisor → "},
		{fmt.Sprint(r, " retry false"), "name: Bob → Bob Retried", "roles:  → supervisor"},
		{fmt.Sprint(a, " upload true")},
	}
	if diff := cmp.Diff(wantLines, got); diff != "" {
		t.Errorf("bob's history, newest first (-want +got):\n%s", diff)
	}
}

func TestUndoRefusals(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	tenant := pgtest.Tenant(t)
	ctx := t.Context()
	a := importA(t, s, tenant)

	dry, _, err := s.CreateImport(ctx, postgres.NewImport{Tenant: tenant, Source: "dry", Options: lifecycle.Options{DryRun: true}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Undo(ctx, tenant, dry, postgres.UndoOptions{}); !errors.Is(err, postgres.ErrUndoDryRun) {
		t.Errorf("undo of a dry run: %v, want ErrUndoDryRun", err)
	}
	if _, err := s.FailImport(ctx, tenant, dry, "ended"); err != nil {
		t.Fatal(err)
	}

	running, _, err := s.CreateImport(ctx, postgres.NewImport{Tenant: tenant, Source: "running"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Undo(ctx, tenant, running, postgres.UndoOptions{}); !errors.Is(err, postgres.ErrUndoRunning) {
		t.Errorf("undo of a running import: %v, want ErrUndoRunning", err)
	}
	before := snapshot(t, s, tenant)
	_, err = s.Undo(ctx, tenant, a, postgres.UndoOptions{})
	if !errors.Is(err, postgres.ErrUndoBusy) || err.Error() != fmt.Sprintf("undo import %d: import %d: %v", a, running, postgres.ErrUndoBusy) {
		t.Errorf("undo while import %d runs: %v, want ErrUndoBusy naming it", running, err)
	}
	if diff := cmp.Diff(before, snapshot(t, s, tenant)); diff != "" {
		t.Errorf("a refused undo changed the store:\n%s", diff)
	}
	if _, err := s.Undo(ctx, tenant, 1<<40, postgres.UndoOptions{}); !errors.Is(err, postgres.ErrNotFound) {
		t.Errorf("undo of no import: %v, want ErrNotFound", err)
	}
	if _, err := s.Undo(ctx, pgtest.Tenant(t), a, postgres.UndoOptions{}); !errors.Is(err, postgres.ErrNotFound) {
		t.Errorf("undo of another tenant's import: %v, want ErrNotFound", err)
	}
}

// Not parallel: pruning is over all tenants, so the parallel tests wait.
func TestUndoAfterPruning(t *testing.T) {
	s := pgtest.Store(t)
	tenant := pgtest.Tenant(t)
	ctx := t.Context()
	importA(t, s, tenant)
	b := importB(t, s, tenant)
	var n int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM journal_users WHERE tenant_id = $1 AND import_id = $2`, tenant, b).Scan(&n); err != nil || n != 2 {
		t.Fatalf("journal of B: %d rows, %v; want 2 (the users it updated)", n, err)
	}
	if kept, err := s.PruneJournal(ctx, 24*time.Hour); err != nil || kept != 0 {
		t.Fatalf("prune with a long retention: %d, %v", kept, err)
	}
	for {
		pruned, err := s.PruneJournal(ctx, 1)
		if err != nil {
			t.Fatal(err)
		}
		if pruned == 0 {
			break
		}
	}
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM journal_users WHERE tenant_id = $1`, tenant).Scan(&n); err != nil || n != 0 {
		t.Errorf("journal after pruning: %d rows, %v", n, err)
	}
	if _, err := s.Undo(ctx, tenant, b, postgres.UndoOptions{}); !errors.Is(err, postgres.ErrJournalPruned) {
		t.Errorf("undo after pruning: %v, want ErrJournalPruned", err)
	}
}
