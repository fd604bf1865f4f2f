package importer_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/userimport/userimport/internal/importer"
	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/userfile"
	"github.com/userimport/userimport/internal/usergen"
	"github.com/userimport/userimport/internal/userrow"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var demoRoles = []string{"agent", "supervisor", "admin", "auditor"}

// A generated file with every kind of defect: the valid records are created,
// exactly the defective ones are rejected, at their lines and columns; an
// export of the result imports again as unchanged, record for record.
func TestImportExportRoundTrip(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	ctx := t.Context()
	tenant := pgtest.Tenant(t)
	if err := s.SetRoles(ctx, tenant, demoRoles); err != nil {
		t.Fatal(err)
	}
	var file bytes.Buffer
	gen, err := usergen.Write(&file, usergen.Options{Rows: 3000, Seed: 9, Invalid: 0.02})
	if err != nil {
		t.Fatal(err)
	}
	sum, err := importer.Local(ctx, s, bytes.NewReader(file.Bytes()), importer.Options{Tenant: tenant, Source: "gen.csv", ChunkSize: 700})
	if err != nil {
		t.Fatal(err)
	}
	valid := gen.Records - gen.Invalid
	if sum.Records != gen.Records || sum.Created != valid || sum.Rejected != gen.Invalid || sum.FileError != nil {
		t.Fatalf("first import: %d records, %d created, %d rejected; want %d, %d, %d", sum.Records, sum.Created, sum.Rejected, gen.Records, valid, gen.Invalid)
	}
	want := map[int]string{}
	for _, d := range gen.Defects {
		want[d.Line] = d.Column
	}
	got := map[int]string{}
	for _, p := range sum.Errors {
		got[p.Line] = p.Column
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rejected lines and columns (-generated +reported):\n%s", diff)
	}
	im, err := s.Import(ctx, tenant, sum.ImportID)
	if err != nil {
		t.Fatal(err)
	}
	if im.State != "finished" || im.Created != valid || im.Rejected != gen.Invalid || im.Chunks != 5 || im.ChunksDone != 5 {
		t.Errorf("stored import: %+v", im)
	}

	var export bytes.Buffer
	w := userfile.NewWriter(&export, ';')
	if err := w.WriteHeader(); err != nil {
		t.Fatal(err)
	}
	if err := s.ExportUsers(ctx, tenant, func(u *userrow.User) error { return w.WriteUser(u) }); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	again, err := importer.Local(ctx, s, &export, importer.Options{Tenant: tenant, Source: "export.csv"})
	if err != nil {
		t.Fatal(err)
	}
	if again.Records != valid || again.Unchanged != valid || again.Created+again.Updated+again.Rejected != 0 || again.Delimiter != "semicolon" {
		t.Errorf("re-import of the export: %+v", again)
	}
}

// A file rejected as a whole is reported, and the import is marked so.
func TestFileRejected(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	tenant := pgtest.Tenant(t)
	sum, err := importer.Local(t.Context(), s, bytes.NewReader([]byte("User name,Login ID,Emial\nA,a,x\n")), importer.Options{Tenant: tenant})
	if err != nil {
		t.Fatal(err)
	}
	if sum.FileError == nil {
		t.Fatal("no file error for an unknown header column")
	}
	im, err := s.Import(t.Context(), tenant, sum.ImportID)
	if err != nil {
		t.Fatal(err)
	}
	if im.State != "rejected" || im.Error != *sum.FileError {
		t.Errorf("import state %q error %q", im.State, im.Error)
	}
}
