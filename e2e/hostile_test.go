package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/jackc/pgx/v5"

	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/s3store"
	"github.com/userimport/userimport/internal/stacktest"
	"github.com/userimport/userimport/internal/usergen"
	"github.com/userimport/userimport/internal/userrow"
)

// Hostile input through the real binaries (importctl and one worker): files
// that are not CSV, or are CSV built to hurt, each end as an import rejected
// with its reason or finished with the bad records reported, and the
// tenant's users stay exactly what a good file made them. Values that look
// like SQL or spreadsheet formulas are stored as they are and exported
// guarded; tenant names that look like paths are refused.
func TestHostileInput(t *testing.T) {
	bin := build(t)
	environ := env(t)
	ctl(t, bin, environ, 0, "migrate")
	start(t, bin, "worker", environ)
	t.Run("files", func(t *testing.T) { hostileFiles(t, bin, environ) })
	t.Run("values", func(t *testing.T) { hostileValues(t, bin, environ) })
	t.Run("tenant names", func(t *testing.T) { hostileTenantNames(t, bin, environ) })
}

// hostileTenant makes a tenant with the generated files' roles, whose
// uploads are deleted from S3 at the end of the test.
func hostileTenant(t *testing.T, bin string, environ []string) string {
	t.Helper()
	tenant := pgtest.Tenant(t)
	ctl(t, bin, environ, 0, "roles", "set", "--tenant", tenant, "agent", "supervisor", "admin", "auditor")
	files := stacktest.S3(t)
	t.Cleanup(func() {
		ctx := context.WithoutCancel(t.Context())
		_ = files.List(ctx, "uploads/"+tenant+"/", func(o s3store.Object) error { return files.Delete(ctx, o.Key) })
	})
	return tenant
}

// hostileImport queues path and waits until the import ends, whatever its
// end; it returns importctl's status of it.
func hostileImport(t *testing.T, bin string, environ []string, watch func(int64) importRow, tenant, path string) importResult {
	t.Helper()
	id := queueImport(t, bin, environ, tenant, path)
	deadline := time.Now().Add(90 * time.Second)
	for r := watch(id); r.State != "finished" && r.State != "rejected" && r.State != "failed"; r = watch(id) {
		if time.Now().After(deadline) {
			t.Fatalf("import %d of %s still %s after 90 s", id, filepath.Base(path), r.State)
		}
		time.Sleep(100 * time.Millisecond)
	}
	_, out := ctl(t, bin, environ, 1, "status", "--tenant", tenant, "--format", "json", strconv.FormatInt(id, 10))
	var res importResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("status %q: %v", out, err)
	}
	return res
}

// hostileReport reads an import's error report: the rejected records' lines
// and their errors.
func hostileReport(t *testing.T, where string) [][]string {
	t.Helper()
	_, key, err := s3store.ParseURL(where)
	if err != nil {
		t.Fatalf("report %q: %v", where, err)
	}
	body, err := stacktest.S3(t).OpenRange(t.Context(), key, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	rows, err := csv.NewReader(body).ReadAll()
	if err != nil {
		t.Fatalf("report %s: %v", where, err)
	}
	return rows
}

// hostileWrite writes a file into dir with a buffered writer.
func hostileWrite(t *testing.T, dir, name string, write func(w *bufio.Writer)) string {
	t.Helper()
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	write(w)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// hostileRecords splits a generated file into its header line and the raw
// text of each record (line breaks inside quotes included, the final one
// not).
func hostileRecords(t *testing.T, file []byte) (string, []string) {
	t.Helper()
	r := csv.NewReader(bytes.NewReader(file))
	r.FieldsPerRecord = -1
	var raws []string
	var last int64
	for {
		_, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		raws = append(raws, strings.TrimRight(string(file[last:r.InputOffset()]), "\r\n"))
		last = r.InputOffset()
	}
	return raws[0], raws[1:]
}

func utf16File(s string, mark bool) []byte {
	var b []byte
	if mark {
		b = append(b, 0xFF, 0xFE)
	}
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return b
}

func hostileFiles(t *testing.T, bin string, environ []string) {
	t.Helper()
	tenant := hostileTenant(t, bin, environ)
	watch := watchImports(t)
	dir := t.TempDir()

	var file bytes.Buffer
	gen, err := usergen.Write(&file, usergen.Options{Rows: 2000, Seed: 61})
	if err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "users.csv")
	if err := os.WriteFile(good, file.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := hostileImport(t, bin, environ, watch, tenant, good); r.State != "finished" || r.Created != gen.Records {
		t.Fatalf("the good file: %+v; want %d users created", r, gen.Records)
	}
	header, records := hostileRecords(t, file.Bytes())
	// A record of the good file on one line: imported again, it changes nothing.
	again := ""
	for _, r := range records {
		if !strings.Contains(r, "\n") {
			again = r
			break
		}
	}
	// Enough of the good file to get past the first 64 KiB, where the
	// delimiter is detected from.
	var head strings.Builder
	head.WriteString(header + "\n")
	n := 0
	for ; head.Len() < 80<<10; n++ {
		head.WriteString(records[n] + "\n")
	}
	headLines := strings.Count(head.String(), "\n")
	rnd := rand.New(rand.NewPCG(61, 62))
	randomBytes := func(w *bufio.Writer, size int, keep func(byte) bool) {
		for i := 0; i < size; {
			if c := byte(rnd.Uint32()); keep(c) {
				_ = w.WriteByte(c)
				i++
			}
		}
	}
	anyByte := func(byte) bool { return true }
	sample := header + "\n" + strings.Join(records[:20], "\n") + "\n"
	notText := `the file is not UTF-8 text (it is UTF-16, or binary): save it as "CSV UTF-8"`
	tooLong := "the record is longer than 64 KiB"

	type reject struct {
		line   int
		reason string
	}
	tests := []struct {
		name  string
		write func(w *bufio.Writer)
		// Either the file is rejected with this reason...
		reason string
		// ...or the import finishes with these counts and these records
		// reported.
		records, unchanged int
		rejects            []reject
	}{
		{name: "binary.png", write: func(w *bufio.Writer) {
			_, _ = w.WriteString("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
			randomBytes(w, 64<<10, anyByte)
		}, reason: notText},
		{name: "empty.csv", write: func(*bufio.Writer) {}, reason: "the file is empty: it has no records"},
		{name: "header-only.csv", write: func(w *bufio.Writer) { _, _ = w.WriteString(header + "\r\n") },
			reason: "the file has a header row but no records"},
		{name: "utf16-bom.csv", write: func(w *bufio.Writer) { _, _ = w.Write(utf16File(sample, true)) }, reason: notText},
		{name: "utf16.csv", write: func(w *bufio.Writer) { _, _ = w.Write(utf16File(sample, false)) }, reason: notText},
		{name: "header-then-binary.csv", write: func(w *bufio.Writer) {
			_, _ = w.WriteString(header + "\n")
			randomBytes(w, 256<<10, anyByte)
		}, reason: notText},
		{name: "one-100-MiB-line.csv", write: func(w *bufio.Writer) {
			// It starts as a record of the good file would.
			_, _ = w.WriteString(again)
			for range (100 << 20) / 64 {
				_, _ = w.WriteString("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")
			}
		}, records: 1, rejects: []reject{{1, tooLong}}},
		{name: "a-million-delimiters.csv", write: func(w *bufio.Writer) {
			_, _ = w.WriteString(header + "\n" + strings.Repeat(",", 1_000_000) + "\n")
		}, records: 1, rejects: []reject{{2, tooLong}}},
		{name: "nested-quotes.csv", write: func(w *bufio.Writer) {
			_, _ = w.WriteString(header + "\n")
			_, _ = w.WriteString(strings.Repeat(`"`, 100_000) + "\n")                                  // line 2
			_, _ = w.WriteString(strings.Repeat(`"`, 1001) + "a" + strings.Repeat(`"`, 1001) + ",x\n") // line 3: two fields
			_, _ = w.WriteString(strings.Repeat(`"`, 1000) + "a" + strings.Repeat(`"`, 1000) + ",x\n") // line 4
			_, _ = w.WriteString(strings.Repeat(`"`, 60_001) + "\n")                                   // line 5: never closed
			_, _ = w.WriteString(again + "\n")                                                         // line 6
		}, records: 5, unchanged: 1, rejects: []reject{
			{2, tooLong},
			{3, "the record has 2 fields, want 27"},
			{4, "text after a closing quote"},
			{5, "a quoted field is never closed"},
		}},
		{name: "quote-never-closed.csv", write: func(w *bufio.Writer) {
			_, _ = w.WriteString(header + "\n\"Anna, the first,anna.first\n")
			for range (1 << 20) / 8 {
				_, _ = w.WriteString("x\"y,z,w\n") // none of these reads as a record
			}
			_, _ = w.WriteString(again + "\n")
		}, records: 2, unchanged: 1, rejects: []reject{{2, "a quoted field is never closed"}}},
		{name: "header-then-garbage-text.csv", write: func(w *bufio.Writer) {
			// Past the first 64 KiB: records of bytes that are not UTF-8, and
			// a NUL byte in an otherwise good record of a new user.
			_, _ = w.WriteString(head.String())
			for i := range 10 {
				randomBytes(w, 200, func(c byte) bool { return c >= 0x80 })
				_, _ = w.WriteString("," + strconv.Itoa(i) + strings.Repeat(",", userrow.NumColumns-2) + "\n")
			}
			_, _ = w.WriteString("Nul\x00Byte,nul.byte" + strings.Repeat(",", userrow.NumColumns-2) + "\n")
		}, records: n + 11, unchanged: n, rejects: func() []reject {
			var out []reject
			for i := range 10 {
				out = append(out, reject{headLines + 1 + i, `not valid UTF-8 (save the file as "CSV UTF-8")`})
			}
			// The record is refused, whatever says so.
			return append(out, reject{headLines + 11, ""})
		}()},
	}
	for _, tt := range tests {
		path := hostileWrite(t, dir, tt.name, tt.write)
		r := hostileImport(t, bin, environ, watch, tenant, path)
		_ = os.Remove(path)
		if tt.reason != "" {
			if r.State != "rejected" || r.Error != tt.reason || r.Records != 0 || r.Created+r.Updated+r.Unchanged+r.Rejected != 0 {
				t.Errorf("%s: %+v; want it rejected: %s", tt.name, r, tt.reason)
			}
			continue
		}
		if r.State != "finished" || r.Error != "" || r.Records != tt.records || r.Unchanged != tt.unchanged ||
			r.Rejected != len(tt.rejects) || r.Created != 0 || r.Updated != 0 || r.Report == "" {
			t.Errorf("%s: %+v; want it finished with %d records, %d unchanged, %d rejected", tt.name, r, tt.records, tt.unchanged, len(tt.rejects))
			continue
		}
		report := hostileReport(t, r.Report)
		var got []reject
		for _, row := range report[1:] {
			line, _ := strconv.Atoi(row[userrow.NumColumns])
			got = append(got, reject{line, row[userrow.NumColumns+1]})
		}
		if len(got) != len(tt.rejects) {
			t.Errorf("%s: the report lists %v, want %v", tt.name, got, tt.rejects)
			continue
		}
		for i, want := range tt.rejects {
			if got[i].line != want.line || got[i].reason == "" || !strings.Contains(got[i].reason, want.reason) {
				t.Errorf("%s: reported %d: %q; want line %d: %q", tt.name, got[i].line, got[i].reason, want.line, want.reason)
			}
		}
	}

	// After all of it, the tenant's users are exactly the good file's: the
	// same as a clean import of it into a fresh tenant.
	clean := hostileTenant(t, bin, environ)
	ctl(t, bin, environ, 0, "import", "--local", "--tenant", clean, good)
	_, got := ctl(t, bin, environ, 0, "export", "--tenant", tenant)
	_, want := ctl(t, bin, environ, 0, "export", "--tenant", clean)
	users, err := csv.NewReader(bytes.NewReader(got)).ReadAll()
	if err != nil || len(users)-1 != gen.Records {
		t.Errorf("%d users exported (%v), want %d", len(users)-1, err, gen.Records)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("after the hostile files, the export (%d bytes) differs from a clean import's (%d bytes)", len(got), len(want))
	}
}

// SQL-looking and formula-looking values are data: stored as they are,
// written with the formula guard (a leading ') in exports and error reports.
func hostileValues(t *testing.T, bin string, environ []string) {
	t.Helper()
	tenant := hostileTenant(t, bin, environ)
	watch := watchImports(t)
	const (
		bobby     = `Robert'); DROP TABLE users;--`
		orTrue    = `1 OR 1=1`
		hyperlink = `=HYPERLINK("http://x")`
		plus      = `+1+1`
		minus     = `-2+3`
		at        = `@SUM(A1)`
		quoted    = `' OR ''='`
	)
	// Columns: User name, Login ID, Language, CRM User ID, custom0-4, Conference Message.
	file := "User name,Login ID,Language,CRM User ID,custom0,custom1,custom2,custom3,custom4,Conference Message\n" +
		`"Robert'); DROP TABLE users;--",bobby,en,1 OR 1=1,"=HYPERLINK(""http://x"")",+1+1,-2+3,@SUM(A1),' OR ''=','=cmd` + "\n" +
		`"=HYPERLINK(""http://x"")",formula,xx,+1+1,-2+3,@SUM(A1),"Robert'); DROP TABLE users;--",1 OR 1=1,,` + "\n"
	path := filepath.Join(t.TempDir(), "values.csv")
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	r := hostileImport(t, bin, environ, watch, tenant, path)
	if r.State != "finished" || r.Created != 1 || r.Rejected != 1 {
		t.Fatalf("import: %+v; want bobby created, the record with a bad language rejected", r)
	}

	// Stored verbatim (the guard of '=cmd dropped, as on every import).
	conn, err := pgx.Connect(t.Context(), pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(t.Context()))
	var stored [7]string
	err = conn.QueryRow(t.Context(), `SELECT name, crm_user_id, custom0, custom1, custom2, custom3, conference_message
		FROM users WHERE tenant_id = $1 AND login_id = 'bobby'`, tenant).Scan(
		&stored[0], &stored[1], &stored[2], &stored[3], &stored[4], &stored[5], &stored[6])
	if err != nil {
		t.Fatal(err)
	}
	if want := [7]string{bobby, orTrue, hyperlink, plus, minus, at, "=cmd"}; stored != want {
		t.Errorf("stored %q, want %q", stored, want)
	}
	var custom4 string
	if err := conn.QueryRow(t.Context(), `SELECT custom4 FROM users WHERE tenant_id = $1`, tenant).Scan(&custom4); err != nil || custom4 != quoted {
		t.Errorf("custom4 %q (%v), want %q", custom4, err, quoted)
	}

	// Exported guarded.
	_, export := ctl(t, bin, environ, 0, "export", "--tenant", tenant)
	rows, err := csv.NewReader(bytes.NewReader(export)).ReadAll()
	if err != nil || len(rows) != 2 {
		t.Fatalf("export: %d rows, %v\n%s", len(rows), err, export)
	}
	u := rows[1]
	got := []string{u[userrow.UserName], u[userrow.CRMUserID], u[userrow.Custom0], u[userrow.Custom1], u[userrow.Custom2],
		u[userrow.Custom3], u[userrow.Custom4], u[userrow.ConferenceMessage]}
	want := []string{bobby, orTrue, "'" + hyperlink, "'" + plus, "'" + minus, "'" + at, quoted, "'=cmd"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("exported %q, want %q", got, want)
	}
	// And the guarded export imports as it was: nothing changes.
	exported := filepath.Join(t.TempDir(), "export.csv")
	if err := os.WriteFile(exported, export, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := hostileImport(t, bin, environ, watch, tenant, exported); r.State != "finished" || r.Unchanged != 1 || r.Records != 1 {
		t.Errorf("the export imported again: %+v; want one record unchanged", r)
	}

	// The error report guards the rejected record's values.
	report := hostileReport(t, r.Report)
	if len(report) != 2 {
		t.Fatalf("report: %q", report)
	}
	rej := report[1]
	got = []string{rej[userrow.UserName], rej[userrow.CRMUserID], rej[userrow.Custom0], rej[userrow.Custom1], rej[userrow.Custom2], rej[userrow.Custom3]}
	want = []string{"'" + hyperlink, "'" + plus, "'" + minus, "'" + at, bobby, orTrue}
	if strings.Join(got, "|") != strings.Join(want, "|") || rej[userrow.NumColumns] != "3" {
		t.Errorf("reported %q at line %s, want %q at line 3", got, rej[userrow.NumColumns], want)
	}
}

// Tenant IDs become S3 key prefixes and database keys: one that looks like a
// path is refused before anything is written.
func hostileTenantNames(t *testing.T, bin string, environ []string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "users.csv")
	if err := os.WriteFile(path, []byte("User name,Login ID\nAnna,anna\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (int, string) {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), filepath.Join(bin, "importctl"), args...)
		cmd.Env = environ
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), stderr.String()
	}
	for _, tenant := range []string{"../../etc", "../x", "acme/../other", "acme/x", "..", ".", "acme%2f..", "Acme", ""} {
		for _, args := range [][]string{
			{"tokens", "create", "--tenant", tenant, "--name", "x"},
			{"import", "--tenant", tenant, path},
			{"import", "--tenant", tenant, "--local", path},
			{"export", "--tenant", tenant},
		} {
			code, stderr := run(args...)
			if code != 2 || !strings.Contains(stderr, "--tenant: tenant ") || !strings.Contains(stderr, "tenant IDs are 1 to 63 lower-case letters") {
				t.Errorf("importctl %q: exit %d, %s; want 2 and why the tenant ID is refused", args, code, stderr)
			}
		}
	}
	// Nothing reached the database or the bucket.
	conn, err := pgx.Connect(t.Context(), pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(t.Context()))
	var n int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM tenants WHERE id !~ '^[a-z0-9][a-z0-9_-]{0,62}$'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d tenants with IDs out of form (%v)", n, err)
	}
	files := stacktest.S3(t)
	found := 0
	for _, prefix := range []string{"uploads/../", "uploads/acme/../", "uploads/./", "uploads//"} {
		_ = files.List(t.Context(), prefix, func(s3store.Object) error { found++; return nil })
	}
	if found != 0 {
		t.Errorf("%d uploads under a path-like tenant prefix", found)
	}
}
