package importer_test

import (
	"bytes"
	"os"
	"strings"
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

// A file over the size limit is rejected; when its size is known up front, no
// record of it is written.
func TestTooLargeFileWritesNothing(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	ctx := t.Context()
	tenant := pgtest.Tenant(t)
	var file bytes.Buffer
	if _, err := usergen.Write(&file, usergen.Options{Rows: 2000, Seed: 5}); err != nil {
		t.Fatal(err)
	}
	opts := importer.Options{Tenant: tenant, ChunkSize: 200}
	opts.File.MaxFileBytes = int64(file.Len() / 2)
	opts.File.SizeHint = int64(file.Len())
	sum, err := importer.Local(ctx, s, bytes.NewReader(file.Bytes()), opts)
	if err != nil {
		t.Fatal(err)
	}
	if sum.FileError == nil || !strings.Contains(*sum.FileError, "larger than the limit") {
		t.Fatalf("file error %v", sum.FileError)
	}
	im, err := s.Import(ctx, tenant, sum.ImportID)
	if err != nil || im.State != "rejected" {
		t.Fatalf("import %+v (%v)", im, err)
	}
	users := 0
	if err := s.ExportUsers(ctx, tenant, func(*userrow.User) error { users++; return nil }); err != nil {
		t.Fatal(err)
	}
	if users != 0 {
		t.Errorf("%d users written from a rejected file", users)
	}
}
