package postgres_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/userfile"
	"github.com/userimport/userimport/internal/userrow"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var today = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)

// parse validates positional records the way the importer does.
func parse(t *testing.T, roles []string, rows ...map[userrow.Column]string) []postgres.Record {
	t.Helper()
	v := userrow.NewValidator(userrow.Options{Roles: roles})
	var recs []postgres.Record
	for i, set := range rows {
		f := make([]string, userrow.NumColumns)
		for c, val := range set {
			f[c] = val
		}
		u, probs := v.Validate(userrow.Positional(), f)
		recs = append(recs, postgres.Record{Line: i + 2, User: u, Errors: probs, Raw: []byte(strings.Join(f, ","))})
	}
	return recs
}

// apply makes an import of one chunk for recs and applies it.
func apply(t *testing.T, s *postgres.Store, tenant string, recs []postgres.Record) (int64, postgres.Outcome) {
	t.Helper()
	ctx := t.Context()
	id, _, err := s.CreateImport(ctx, postgres.NewImport{Tenant: tenant, Kind: "local", Source: t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddChunks(ctx, tenant, id, []userfile.Chunk{{Seq: 0, Records: len(recs)}}); err != nil {
		t.Fatal(err)
	}
	if err := s.SavePlan(ctx, tenant, id, userfile.Plan{Records: len(recs), Chunks: 1}); err != nil {
		t.Fatal(err)
	}
	out, err := s.ApplyChunk(ctx, postgres.Chunk{Tenant: tenant, ImportID: id, Seq: 0}, recs, postgres.ApplyOptions{Defaults: userrow.Defaults{Today: today}})
	if err != nil {
		t.Fatalf("ApplyChunk: %v", err)
	}
	if finished, err := s.FinishImport(ctx, tenant, id, 0); err != nil || !finished {
		t.Fatalf("FinishImport: %v, %v", finished, err)
	}
	return id, out
}

// export returns the tenant's users as the export writes them, by Login ID.
func export(t *testing.T, s *postgres.Store, tenant string) map[string][userrow.NumColumns]string {
	t.Helper()
	got := map[string][userrow.NumColumns]string{}
	if err := s.ExportUsers(t.Context(), tenant, func(u *userrow.User) error {
		got[u.LoginID] = u.Values()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestCreateUpdateUnchanged(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	tenant := pgtest.Tenant(t)
	if err := s.SetRoles(t.Context(), tenant, []string{"agent", "supervisor"}); err != nil {
		t.Fatal(err)
	}
	roles := []string{"agent", "supervisor"}
	full := map[userrow.Column]string{
		userrow.UserName: "Kovács Péter", userrow.LoginID: "kp", userrow.Language: "hu", userrow.Email: "kp@example.com",
		userrow.ValidFrom: "2025.03.01", userrow.PhoneMapping: "+36 1 234 5678;sip:kp@pbx", userrow.Groups: "Sales;Budapest",
		userrow.Roles: "agent\nsupervisor", userrow.RecordingMode: "on-demand", userrow.TimeZone: "Europe/Budapest",
		userrow.Voice: "1", userrow.Custom0: "note",
	}
	minimal := map[userrow.Column]string{userrow.UserName: "Anna", userrow.LoginID: "anna"}

	_, out := apply(t, s, tenant, parse(t, roles, full, minimal))
	if diff := cmp.Diff(postgres.Outcome{Created: 2}, out); diff != "" {
		t.Fatalf("first import (-want +got):\n%s", diff)
	}
	users := export(t, s, tenant)
	anna := users["anna"]
	// Defaults on create: language, date, recording mode, time zone, and a
	// password that is the Login ID's MD5, to be changed at the next login.
	if anna[userrow.Language] != "en" || anna[userrow.ValidFrom] != "2026.11.25" || anna[userrow.RecordingMode] != "full" ||
		anna[userrow.TimeZone] != "UTC" || anna[userrow.ChangePassword] != "1" || anna[userrow.Password] != md5hex("anna") {
		t.Errorf("defaults on create: %q", anna)
	}
	kp := users["kp"]
	if kp[userrow.Groups] != "Budapest;Sales" || kp[userrow.PhoneMapping] != "+3612345678;sip:kp@pbx" || kp[userrow.Roles] != "agent\nsupervisor" {
		t.Errorf("lists on create: groups %q phones %q roles %q", kp[userrow.Groups], kp[userrow.PhoneMapping], kp[userrow.Roles])
	}

	// An update: empty fields keep their values, given groups replace the
	// memberships, an unchanged record stays as it is.
	update := map[userrow.Column]string{userrow.UserName: "Kovács Péter Pál", userrow.LoginID: "KP", userrow.Groups: "Support"}
	_, out = apply(t, s, tenant, parse(t, roles, update, minimal))
	if diff := cmp.Diff(postgres.Outcome{Updated: 1, Unchanged: 1}, out); diff != "" {
		t.Fatalf("second import (-want +got):\n%s", diff)
	}
	after := export(t, s, tenant)["KP"]
	want := kp
	want[userrow.UserName], want[userrow.LoginID], want[userrow.Groups] = "Kovács Péter Pál", "KP", "Support"
	if diff := cmp.Diff(want, after); diff != "" {
		t.Errorf("after update (-want +got):\n%s", diff)
	}

	// The same records again: nothing changes, updated_at included.
	before := updatedAt(t, s, tenant)
	_, out = apply(t, s, tenant, parse(t, roles, update, minimal))
	if diff := cmp.Diff(postgres.Outcome{Unchanged: 2}, out); diff != "" {
		t.Fatalf("third import (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(before, updatedAt(t, s, tenant)); diff != "" {
		t.Errorf("updated_at moved for unchanged records:\n%s", diff)
	}
}

func updatedAt(t *testing.T, s *postgres.Store, tenant string) map[string]time.Time {
	t.Helper()
	conn, err := s.Pool().Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	rows, err := conn.Query(t.Context(), `SELECT login_key, updated_at FROM users WHERE tenant_id = $1`, tenant)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]time.Time{}
	for rows.Next() {
		var k string
		var at time.Time
		if err := rows.Scan(&k, &at); err != nil {
			t.Fatal(err)
		}
		got[k] = at
	}
	return got
}

func TestTenantsAreIsolated(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	a, b := pgtest.Tenant(t), pgtest.Tenant(t)
	row := func(name string) map[userrow.Column]string {
		return map[userrow.Column]string{userrow.UserName: name, userrow.LoginID: "same", userrow.Groups: "Shared", userrow.PhoneMapping: "+3611111"}
	}
	if _, out := apply(t, s, a, parse(t, nil, row("In A"))); out.Created != 1 {
		t.Fatalf("tenant A: %+v", out)
	}
	// The same Login ID, group and extension in B are B's own: created, not updated.
	if _, out := apply(t, s, b, parse(t, nil, row("In B"))); out.Created != 1 {
		t.Fatalf("tenant B: %+v", out)
	}
	if got := export(t, s, a)["same"][userrow.UserName]; got != "In A" {
		t.Errorf("tenant A's user is %q after B's import", got)
	}
	if got := export(t, s, b)["same"][userrow.UserName]; got != "In B" {
		t.Errorf("tenant B's user is %q", got)
	}
	// A's import cannot be read through B.
	idA, _ := apply(t, s, a, parse(t, nil, row("In A")))
	if _, err := s.Import(t.Context(), b, idA); err == nil {
		t.Error("tenant B reads tenant A's import")
	}
}

func TestChunkAppliedTwiceChangesNothing(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	tenant := pgtest.Tenant(t)
	recs := parse(t, nil, map[userrow.Column]string{userrow.UserName: "A", userrow.LoginID: "a"},
		map[userrow.Column]string{userrow.UserName: "B", userrow.LoginID: "b_bad"})
	id, first := apply(t, s, tenant, recs)
	// The task is delivered again (asynq delivers at least once).
	again, err := s.ApplyChunk(t.Context(), postgres.Chunk{Tenant: tenant, ImportID: id, Seq: 0}, recs, postgres.ApplyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := first
	want.AlreadyApplied = true
	if diff := cmp.Diff(want, again); diff != "" {
		t.Errorf("second apply (-want +got):\n%s", diff)
	}
	im, err := s.Import(t.Context(), tenant, id)
	if err != nil {
		t.Fatal(err)
	}
	if im.Created != 1 || im.Rejected != 1 || im.ChunksDone != 1 || im.Records != 2 {
		t.Errorf("import counts after a redelivered chunk: %+v", im)
	}
	var rejects []int
	if err := s.Rejects(t.Context(), tenant, id, func(r postgres.Reject) error { rejects = append(rejects, r.Line); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rejects, []int{3}) {
		t.Errorf("rejects %v, want line 3 once", rejects)
	}
}

// A record the validator let through but the database refuses is found and
// rejected alone; its 999 neighbours are written.
func TestPoisonedRecordIsRejectedAlone(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	tenant := pgtest.Tenant(t)
	var rows []map[userrow.Column]string
	for i := range 1000 {
		rows = append(rows, map[userrow.Column]string{
			userrow.UserName: fmt.Sprintf("User %d", i), userrow.LoginID: fmt.Sprintf("u%d", i),
			userrow.PhoneMapping: fmt.Sprintf("+36%07d", i), userrow.Groups: fmt.Sprintf("G%d", i%7),
		})
	}
	recs := parse(t, nil, rows...)
	// The tables' CHECKs refuse it.
	recs[617].User.RecordingMode = "sometimes"
	recs[617].User.Given = recs[617].User.Given.With(userrow.RecordingMode)
	id, out := apply(t, s, tenant, recs)
	if diff := cmp.Diff(postgres.Outcome{Created: 999, Rejected: 1}, out); diff != "" {
		t.Fatalf("outcome (-want +got):\n%s", diff)
	}
	var got []postgres.Reject
	if err := s.Rejects(t.Context(), tenant, id, func(r postgres.Reject) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Line != recs[617].Line || !strings.Contains(got[0].Errors[0].Message, "database refused") {
		t.Errorf("rejects: %+v", got)
	}
	users := export(t, s, tenant)
	if len(users) != 999 || users["u616"][userrow.Groups] != "G0" {
		t.Errorf("%d users written, u616: %q", len(users), users["u616"])
	}
}

// Chunks applied at once by several appliers create each group and extension
// once, without deadlocks.
func TestConcurrentChunksCreateGroupsOnce(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	tenant := pgtest.Tenant(t)
	ctx := t.Context()
	id, _, err := s.CreateImport(ctx, postgres.NewImport{Tenant: tenant, Source: t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	const chunks, per = 8, 200
	specs := make([]userfile.Chunk, chunks)
	for i := range specs {
		specs[i] = userfile.Chunk{Seq: i, Records: per}
	}
	if err := s.AddChunks(ctx, tenant, id, specs); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, chunks)
	for c := range chunks {
		var rows []map[userrow.Column]string
		for i := range per {
			n := c*per + i
			rows = append(rows, map[userrow.Column]string{
				userrow.UserName: fmt.Sprintf("User %d", n), userrow.LoginID: fmt.Sprintf("u%d", n),
				userrow.Groups:       fmt.Sprintf("Team %d;Team %d;All", n%13, (n+5)%13),
				userrow.PhoneMapping: fmt.Sprintf("+3620%04d;sip:hunt%d@pbx", n, n%5),
			})
		}
		recs := parse(t, nil, rows...)
		for i := range recs {
			recs[i].Line = c*per + i + 2
		}
		wg.Go(func() {
			_, err := s.ApplyChunk(context.WithoutCancel(ctx), postgres.Chunk{Tenant: tenant, ImportID: id, Seq: c}, recs, postgres.ApplyOptions{})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	conn, err := s.Pool().Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	var groups, exts, members, phones int
	// The phones' extension ids must be those of the tenant's extensions,
	// whichever applier inserted them (COPY, or ON CONFLICT after a race).
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM groups WHERE tenant_id = $1),
		(SELECT count(*) FROM extensions WHERE tenant_id = $1), (SELECT count(*) FROM user_groups WHERE tenant_id = $1),
		(SELECT count(*) FROM user_extensions ue JOIN extensions e ON e.id = ue.extension_id AND e.tenant_id = $1
			WHERE ue.tenant_id = $1)`,
		tenant).Scan(&groups, &exts, &members, &phones); err != nil {
		t.Fatal(err)
	}
	if groups != 14 || exts != chunks*per+5 || members != chunks*per*3 || phones != chunks*per*2 {
		t.Errorf("groups %d (want 14), extensions %d (want %d), memberships %d (want %d), phones %d (want %d)",
			groups, exts, chunks*per+5, members, chunks*per*3, phones, chunks*per*2)
	}
}

// Removing a role from the catalog takes it from the users who have it.
func TestRemovedRoleLeavesUsers(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	tenant := pgtest.Tenant(t)
	roles := []string{"agent", "supervisor"}
	if err := s.SetRoles(t.Context(), tenant, roles); err != nil {
		t.Fatal(err)
	}
	apply(t, s, tenant, parse(t, roles, map[userrow.Column]string{userrow.UserName: "A", userrow.LoginID: "a", userrow.Roles: "agent\nsupervisor"}))
	if err := s.RemoveRoles(t.Context(), tenant, []string{"Supervisor"}); err != nil {
		t.Fatal(err)
	}
	if got := export(t, s, tenant)["a"][userrow.Roles]; got != "agent" {
		t.Errorf("roles after removing supervisor: %q", got)
	}
	if err := s.SetRoles(t.Context(), tenant, []string{"admin"}); err != nil {
		t.Fatal(err)
	}
	if got := export(t, s, tenant)["a"][userrow.Roles]; got != "" {
		t.Errorf("roles after replacing the catalog: %q", got)
	}
}

// Within one import the record with the higher line sets an extension,
// whichever chunk is applied first.
func TestLaterLineSetsExtension(t *testing.T) {
	t.Parallel()
	for _, order := range [][]int{{0, 1}, {1, 0}} {
		s := pgtest.Store(t)
		tenant := pgtest.Tenant(t)
		ctx := t.Context()
		id, _, err := s.CreateImport(ctx, postgres.NewImport{Tenant: tenant, Source: t.Name()})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.AddChunks(ctx, tenant, id, []userfile.Chunk{{Seq: 0, Records: 1}, {Seq: 1, Records: 1}}); err != nil {
			t.Fatal(err)
		}
		later := parse(t, nil, map[userrow.Column]string{userrow.UserName: "Later", userrow.LoginID: "later", userrow.PhoneMapping: "+3630000", userrow.RecordingMode: "no"})
		later[0].Line = 900
		earlier := parse(t, nil, map[userrow.Column]string{userrow.UserName: "Earlier", userrow.LoginID: "earlier", userrow.PhoneMapping: "+36 30 000", userrow.RecordingMode: "manual", userrow.Voice: "1"})
		earlier[0].Line = 5
		chunks := [][]postgres.Record{later, earlier}
		for _, seq := range order {
			if _, err := s.ApplyChunk(ctx, postgres.Chunk{Tenant: tenant, ImportID: id, Seq: seq}, chunks[seq], postgres.ApplyOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		var mode string
		var voice bool
		if err := s.Pool().QueryRow(ctx, `SELECT recording_mode, voice FROM extensions WHERE tenant_id = $1 AND number = '+3630000'`, tenant).Scan(&mode, &voice); err != nil {
			t.Fatal(err)
		}
		if mode != "no" || voice {
			t.Errorf("chunks applied in order %v: extension has mode %q voice %v, want line 900's \"no\" and no voice", order, mode, voice)
		}
	}
}

// A role removed from the catalog after the file was validated rejects the
// records naming it, and only them.
func TestRoleRemovedSinceValidation(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	tenant := pgtest.Tenant(t)
	roles := []string{"agent", "auditor"}
	if err := s.SetRoles(t.Context(), tenant, roles); err != nil {
		t.Fatal(err)
	}
	recs := parse(t, roles,
		map[userrow.Column]string{userrow.UserName: "A", userrow.LoginID: "a", userrow.Roles: "agent"},
		map[userrow.Column]string{userrow.UserName: "B", userrow.LoginID: "b", userrow.Roles: "auditor"},
		map[userrow.Column]string{userrow.UserName: "C", userrow.LoginID: "c"})
	if err := s.RemoveRoles(t.Context(), tenant, []string{"auditor"}); err != nil {
		t.Fatal(err)
	}
	id, out := apply(t, s, tenant, recs)
	if diff := cmp.Diff(postgres.Outcome{Created: 2, Rejected: 1}, out); diff != "" {
		t.Fatalf("outcome (-want +got):\n%s", diff)
	}
	var msgs []string
	if err := s.Rejects(t.Context(), tenant, id, func(r postgres.Reject) error {
		msgs = append(msgs, fmt.Sprintf("%d %s", r.Line, r.Errors[0].Message))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{`3 role "auditor" is not in the tenant's role catalog`}
	if diff := cmp.Diff(want, msgs); diff != "" {
		t.Errorf("rejects (-want +got):\n%s", diff)
	}
}

// A dry run says what would happen and writes no user, group or extension.
func TestDryRun(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	tenant := pgtest.Tenant(t)
	ctx := t.Context()
	apply(t, s, tenant, parse(t, nil, map[userrow.Column]string{userrow.UserName: "A", userrow.LoginID: "a", userrow.Groups: "Old", userrow.PhoneMapping: "+361"},
		map[userrow.Column]string{userrow.UserName: "E", userrow.LoginID: "e"}))
	before := export(t, s, tenant)
	recs := parse(t, nil,
		map[userrow.Column]string{userrow.UserName: "A", userrow.LoginID: "a", userrow.Groups: "Old", userrow.PhoneMapping: "+361"}, // unchanged
		map[userrow.Column]string{userrow.UserName: "A2", userrow.LoginID: "a"},                                                     // duplicate in the chunk
		map[userrow.Column]string{userrow.UserName: "B", userrow.LoginID: "b", userrow.Groups: "New;Old", userrow.PhoneMapping: "+362;+361"},
		map[userrow.Column]string{userrow.UserName: "C", userrow.LoginID: "c", userrow.Groups: "new"},
		map[userrow.Column]string{userrow.UserName: "D", userrow.LoginID: "d_bad"},
		map[userrow.Column]string{userrow.UserName: "E2", userrow.LoginID: "e"},
	)
	recs[1].Line = 99
	id, _, err := s.CreateImport(ctx, postgres.NewImport{Tenant: tenant, Source: t.Name(), Options: lifecycle.Options{DryRun: true}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddChunks(ctx, tenant, id, []userfile.Chunk{{Seq: 0, Records: len(recs)}}); err != nil {
		t.Fatal(err)
	}
	out, err := s.ApplyChunk(ctx, postgres.Chunk{Tenant: tenant, ImportID: id}, recs, postgres.ApplyOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(postgres.Outcome{Created: 2, Updated: 1, Unchanged: 1, Rejected: 2}, out); diff != "" {
		t.Errorf("dry run (-want +got):\n%s", diff)
	}
	// Each valid record's outcome is stored: the preview's "only changes"
	// is a query. Lines 4 and 5 create, 7 updates the name, 2 is unchanged.
	lines, total, err := s.ChangedLines(ctx, tenant, id, nil, nil, 0, 10)
	if err != nil || total != 3 || !slices.Equal(lines, []int{4, 5, 7}) {
		t.Errorf("changed lines %v of %d (%v), want [4 5 7] of 3", lines, total, err)
	}
	var changed int32
	if err := s.Pool().QueryRow(ctx, `SELECT changed FROM import_records WHERE import_id = $1 AND line = 7`, id).Scan(&changed); err != nil ||
		userrow.ColumnSet(changed) != userrow.ColumnSet(0).With(userrow.UserName) {
		t.Errorf("line 7 changes columns %b (%v), want the user name only", changed, err)
	}
	// Line 4 corrected so that it changes nothing any more, line 2 so that it
	// does: the corrections replace the stored outcomes; a page of one.
	lines, total, err = s.ChangedLines(ctx, tenant, id, []int{2, 4}, []int{2}, 1, 1)
	if err != nil || total != 3 || !slices.Equal(lines, []int{5}) {
		t.Errorf("changed lines with corrections %v of %d (%v), want [5] of 3 (page 2 of [2 5 7])", lines, total, err)
	}
	groups, exts, err := s.WouldCreate(ctx, tenant, id)
	if err != nil || groups != 1 || exts != 1 {
		t.Errorf("would create %d groups and %d extensions (%v), want 1 and 1", groups, exts, err)
	}
	if diff := cmp.Diff(before, export(t, s, tenant)); diff != "" {
		t.Errorf("a dry run changed the users (-before +after):\n%s", diff)
	}
}
