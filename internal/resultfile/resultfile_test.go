package resultfile_test

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/userimport/userimport/internal/importer"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/resultfile"
	"github.com/userimport/userimport/internal/s3store"
	"github.com/userimport/userimport/internal/stacktest"
	"github.com/userimport/userimport/internal/userrow"
)

func TestMain(m *testing.M) {
	stacktest.SetDefaults()
	os.Exit(pgtest.Main(m)) // drops the test database
}

// env is a tenant with the store and the bucket its imports read.
type env struct {
	t      *testing.T
	store  *postgres.Store
	files  *s3store.Store
	tenant string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return &env{t: t, store: pgtest.Store(t), files: stacktest.S3(t), tenant: pgtest.Tenant(t)}
}

// importFile stores body in the bucket and imports it from there, in chunks
// of two records (the results read the source again from the first chunk's
// offset), as the queue's workers would have.
func (e *env) importFile(name, body string, dryRun bool) int64 {
	e.t.Helper()
	key := fmt.Sprintf("uploads/%s/%s/%s", e.tenant, stacktest.RandomHex(4), name)
	if _, err := e.files.Put(e.t.Context(), key, []byte(body), "text/csv"); err != nil {
		e.t.Fatal(err)
	}
	sum, err := importer.Local(e.t.Context(), e.store, strings.NewReader(body), importer.Options{
		Tenant: e.tenant, Source: "s3://" + e.files.Bucket() + "/" + key, ChunkSize: 2, DryRun: dryRun,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	if sum.FileError != nil {
		e.t.Fatalf("%s rejected: %s", name, *sum.FileError)
	}
	return sum.ImportID
}

// results reads the import's results file: the header, then per record
// the columns asked for by title.
func (e *env) results(id int64, cols ...string) [][]string {
	e.t.Helper()
	f, err := resultfile.Open(e.t.Context(), e.store, e.files, e.tenant, id)
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	var buf bytes.Buffer
	if err := f.WriteTo(e.t.Context(), &buf); err != nil {
		e.t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		e.t.Fatalf("%v\n%s", err, buf.String())
	}
	want := append(userrow.Names(), "Line", "Outcome", "Changed", "Errors")
	if diff := cmp.Diff(want, recs[0]); diff != "" {
		e.t.Fatalf("header (-want +got):\n%s", diff)
	}
	at := map[string]int{}
	for i, h := range recs[0] {
		at[h] = i
	}
	out := make([][]string, 0, len(recs)-1)
	for _, r := range recs[1:] {
		row := make([]string, len(cols))
		for i, c := range cols {
			row[i] = r[at[c]]
		}
		out = append(out, row)
	}
	return out
}

const fileA = `User name,Login ID,E-mail,Groups,Password (MD5 Hash)
Anna,anna,anna@example.com,Sales,0123456789abcdef0123456789abcdef
Ben,ben,ben@example.com,Sales,
Cleo,cleo,cleo@example.com,Support,
`

// Import B creates, updates (the changed columns listed), leaves unchanged
// and rejects; its results say so per record, in file order, with the
// file's values (formula-guarded, the password left out), and its counts
// are the import's.
func TestResultsOfAnImport(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.importFile("a.csv", fileA, false)
	b := e.importFile("b.csv", `User name,Login ID,E-mail,Groups,Password (MD5 Hash)
Anna,anna,anna@example.org,Sales;Support,0123456789abcdef0123456789abcdef
Ben,ben,ben@example.com,Sales,
=1+2,dana,dana@example.com,Sales,
Eve,eve,not-an-address,Sales,
Cleo Lee,cleo,cleo@example.com,Support,
"broken,quote
`, false)
	// A later import changes Dana: for B, she was still created.
	e.importFile("c.csv", "User name,Login ID\nDana Doe,dana\n", false)

	got := e.results(b, "User name", "Login ID", "Password (MD5 Hash)", "Line", "Outcome", "Changed")
	want := [][]string{
		{"Anna", "anna", "", "2", "updated", "E-mail;Groups"},
		{"Ben", "ben", "", "3", "unchanged", ""},
		{"'=1+2", "dana", "", "4", "created", ""},
		{"Eve", "eve", "", "5", "rejected", ""},
		{"Cleo Lee", "cleo", "", "6", "updated", "User name"},
		{"\"broken,quote", "", "", "7", "rejected", ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	errs := e.results(b, "Errors")
	if !strings.HasPrefix(errs[3][0], "E-mail: ") || errs[6-1][0] == "" || errs[0][0] != "" {
		t.Errorf("errors column: %q", errs)
	}
	im, err := e.store.Import(t.Context(), e.tenant, b)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, r := range got {
		counts[r[4]]++
	}
	if want := map[string]int{"created": im.Created, "updated": im.Updated, "unchanged": im.Unchanged, "rejected": im.Rejected}; !cmp.Equal(want, counts) {
		t.Errorf("outcomes %v, the import's counts %v", counts, want)
	}
}

// A dry run's results say what the import would do.
func TestResultsOfADryRun(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.importFile("a.csv", fileA, false)
	d := e.importFile("d.csv", "User name,Login ID,E-mail\nAnna,anna,anna@example.net\nBen,ben,ben@example.com\nZoe,zoe,zoe@example.com\n", true)
	got := e.results(d, "Login ID", "Outcome", "Changed")
	want := [][]string{{"anna", "updated", "E-mail"}, {"ben", "unchanged", ""}, {"zoe", "created", ""}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("dry run results (-want +got):\n%s", diff)
	}
}

// An undo's results are the users it touched: restored, deactivated, or
// left alone as a conflict.
func TestResultsOfAnUndo(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.importFile("a.csv", fileA, false)
	b := e.importFile("b.csv", "User name,Login ID,E-mail\nAnna,anna,anna@example.org\nDana,dana,dana@example.com\nFay,fay,fay@example.com\n", false)
	e.importFile("c.csv", "User name,Login ID\nFay Fox,fay\n", false)
	res, err := e.store.Undo(t.Context(), e.tenant, b, postgres.UndoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := e.results(res.ImportID, "User name", "Login ID", "E-mail", "Line", "Outcome", "Changed")
	want := [][]string{
		{"Anna", "anna", "anna@example.com", "", "updated", "E-mail"},
		{"Dana", "dana", "dana@example.com", "", "updated", "Phone Mapping;Groups;Role API Names;Active"},
		{"Fay Fox", "fay", "fay@example.com", "", "rejected", ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("undo results (-want +got):\n%s", diff)
	}
	if errs := e.results(res.ImportID, "Errors"); errs[2][0] != postgres.UndoConflict {
		t.Errorf("conflict's errors: %q", errs[2][0])
	}
}

// The refusals: no such import, another tenant's, not finished, a pruned
// journal, a local file that was never stored, a source deleted since.
func TestResultsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a := e.importFile("a.csv", fileA, false)
	ctx := t.Context()
	other := pgtest.Tenant(t)
	local, err := importer.Local(ctx, e.store, strings.NewReader(fileA), importer.Options{Tenant: e.tenant, Source: "users.csv"})
	if err != nil {
		t.Fatal(err)
	}
	pruned := e.importFile("p.csv", fileA, false)
	if _, err := e.store.Pool().Exec(ctx, `UPDATE imports SET journal_pruned = true WHERE tenant_id = $1 AND id = $2`, e.tenant, pruned); err != nil {
		t.Fatal(err)
	}
	gone := e.importFile("g.csv", fileA, false)
	im, err := e.store.Import(ctx, e.tenant, gone)
	if err != nil {
		t.Fatal(err)
	}
	_, key, _ := s3store.ParseURL(im.Source)
	if err := e.files.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	// Last: the tenant's later imports would wait for it.
	running, _, err := e.store.CreateImport(ctx, postgres.NewImport{Tenant: e.tenant, Source: "s3://" + e.files.Bucket() + "/x.csv"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		tenant string
		id     int64
		want   error
	}{
		{"no such import", e.tenant, 1 << 50, postgres.ErrNotFound},
		{"another tenant's", other, a, postgres.ErrNotFound},
		{"not finished", e.tenant, running, postgres.ErrNotEnded},
		{"journal pruned", e.tenant, pruned, postgres.ErrJournalPruned},
		{"local file", e.tenant, local.ImportID, resultfile.ErrSourceNotStored},
		{"source deleted", e.tenant, gone, resultfile.ErrSourceNotStored},
	} {
		f, err := resultfile.Open(ctx, e.store, e.files, tc.tenant, tc.id)
		if err == nil {
			f.Close()
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if f, err := resultfile.Open(ctx, e.store, e.files, e.tenant, a); err != nil {
		t.Errorf("the import itself: %v", err)
	} else {
		f.Close()
	}
}
