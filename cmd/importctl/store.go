package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/userimport/userimport/internal/gcpace"
	"github.com/userimport/userimport/internal/importer"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/userfile"
	"github.com/userimport/userimport/internal/userrow"
)

// openStore connects to DATABASE_URL (the local stack's database when unset).
func openStore(ctx context.Context, e env) (*postgres.Store, error) {
	return postgres.Open(ctx, e.getenv("DATABASE_URL"))
}

func runMigrate(ctx context.Context, e env, args []string) int {
	fs := newFlags(e, "migrate", "migrate",
		`  importctl migrate                                  # the local stack's database
  DATABASE_URL=postgres://u:p@db:5432/users importctl migrate
Brings the schema up to date. Safe to run again, and from several processes at once.
`)
	if _, code, ok := parseArgs(fs, e, args); !ok {
		return code
	} else if len(fs.Args()) > 0 {
		return usageError(e, "migrate", "migrate takes no arguments")
	}
	s, err := openStore(ctx, e)
	if err != nil {
		return failure(e, "migrate", err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		return failure(e, "migrate", err)
	}
	v, err := s.SchemaVersion(ctx)
	if err != nil {
		return failure(e, "migrate", err)
	}
	fmt.Fprintf(e.stdout, "schema at version %d\n", v)
	return exitOK
}

func runRoles(ctx context.Context, e env, args []string) int {
	const synopsis = "roles list|set|add|remove --tenant T [NAME...]"
	fs := newFlags(e, "roles", synopsis,
		`  importctl roles list --tenant acme
  importctl roles set --tenant acme agent supervisor admin auditor   # replaces the catalog
  importctl roles add --tenant acme auditor
  importctl roles remove --tenant acme auditor                       # users lose the role
An import assigns roles from the tenant's catalog only: a record naming another role is rejected.
`)
	tenant := fs.String("tenant", "", "the tenant (required)")
	pos, code, ok := parseArgs(fs, e, args)
	if !ok {
		return code
	}
	if len(pos) == 0 {
		return usageError(e, "roles", "name an action: list, set, add or remove (see --help)")
	}
	action, names := pos[0], pos[1:]
	if err := postgres.ValidTenant(*tenant); err != nil {
		return usageError(e, "roles", "--tenant: "+err.Error())
	}
	switch action {
	case "list":
		if len(names) > 0 {
			return usageError(e, "roles", "list takes no names")
		}
	case "set":
	case "add", "remove":
		if len(names) == 0 {
			return usageError(e, "roles", action+" needs at least one role name")
		}
	default:
		return usageError(e, "roles", fmt.Sprintf("unknown action %q: use list, set, add or remove", action))
	}
	s, err := openStore(ctx, e)
	if err != nil {
		return failure(e, "roles", err)
	}
	defer s.Close()
	switch action {
	case "set":
		err = s.SetRoles(ctx, *tenant, names)
	case "add":
		err = s.AddRoles(ctx, *tenant, names)
	case "remove":
		err = s.RemoveRoles(ctx, *tenant, names)
	}
	if err != nil {
		return failure(e, "roles", err)
	}
	roles, err := s.Roles(ctx, *tenant)
	if err != nil {
		return failure(e, "roles", err)
	}
	for _, r := range roles {
		fmt.Fprintln(e.stdout, r)
	}
	return exitOK
}

func runImport(ctx context.Context, e env, args []string) int {
	fs := newFlags(e, "import", "import --tenant T [--local] [--wait] [--notify ADDR,...] [--delimiter auto|comma|semicolon] [--header auto|skip|none] [--chunk N] [--format table|json] FILE|-|s3://bucket/key",
		`  importctl import --tenant acme --wait users.csv            # upload to S3, queue it, wait for the workers
  importctl import --tenant acme --notify admin@acme.example s3://userimport/incoming/acme/users.csv
  importctl import --tenant acme --local users.csv            # in this process, no queue
  importctl export --tenant acme | importctl import --tenant acme --local -     # every record unchanged
Without --local, a local file is uploaded to S3 (S3_BUCKET) and an import queued for the
workers (REDIS_URL); --wait follows it to the end. With --local, the file is validated with
the tenant's role catalog and applied here, chunk by chunk, through the same engine.
Exit status: 0 every record imported (or queued, without --wait), 1 some record rejected or
the file rejected, 2 usage, I/O, queue or database error.
API mode, for a tenant's admins (no database or queue access; see --api URL --help):
  USERIMPORT_API=https://import.example.com USERIMPORT_TOKEN=uit_... importctl import --wait users.csv
`)
	tenant := fs.String("tenant", "", "the tenant (required; created on first use)")
	local := fs.Bool("local", false, "import in this process, synchronously, instead of through the queue")
	wait := fs.Bool("wait", false, "wait until the workers have finished the import, showing progress")
	notify := fs.String("notify", "", "comma-separated e-mail addresses that get the result (queue imports)")
	dryRun := fs.Bool("dry-run", false, "validate and count what would happen (create, update, unchanged), write no user")
	delimiter := fs.String("delimiter", "auto", "field delimiter: auto, comma or semicolon")
	header := fs.String("header", "auto", "first row: auto, skip or none")
	chunk := fs.Int("chunk", importer.DefaultChunkSize, "records applied in one transaction")
	format := fs.String("format", "table", "output: table or json")
	pos, code, ok := parseArgs(fs, e, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return usageError(e, "import", "name one file, or - for standard input (see --help)")
	}
	if err := postgres.ValidTenant(*tenant); err != nil {
		return usageError(e, "import", "--tenant: "+err.Error())
	}
	if !*local {
		return queueImport(ctx, e, queueOptions{tenant: *tenant, source: pos[0], delimiter: *delimiter, header: *header,
			notify: splitList(*notify), wait: *wait, format: *format, dryRun: *dryRun})
	}
	opts := importer.Options{Tenant: *tenant, Source: pos[0], ChunkSize: *chunk, DryRun: *dryRun}
	var err error
	if opts.File.Delimiter, err = userfile.ParseDelimiter(*delimiter); err != nil {
		return usageError(e, "import", err.Error())
	}
	if opts.File.Header, err = userrow.ParseHeaderMode(*header); err != nil {
		return usageError(e, "import", err.Error())
	}
	if err := oneOf("format", *format, "table", "json"); err != nil {
		return usageError(e, "import", err.Error())
	}
	in := e.stdin
	if pos[0] != "-" {
		f, err := os.Open(pos[0])
		if err != nil {
			return failure(e, "import", fmt.Errorf("%w (check the path)", err))
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil {
			opts.File.SizeHint = st.Size()
		}
		in = f
	}
	s, err := openStore(ctx, e)
	if err != nil {
		return failure(e, "import", err)
	}
	defer s.Close()
	if isTerminal(e.stderr) {
		opts.Progress = func(n int) { fmt.Fprintf(e.stderr, "\rimported %d records…", n) }
	}
	gcpace.Relax(e.getenv, 192<<20) // a CLI's memory; the worker's budget is smaller
	sum, err := importer.Local(ctx, s, in, opts)
	if opts.Progress != nil {
		fmt.Fprint(e.stderr, "\r\033[K")
	}
	if err != nil {
		return failure(e, "import", err)
	}
	if *format == "json" {
		if err := json.NewEncoder(e.stdout).Encode(sum); err != nil {
			return failure(e, "import", err)
		}
	} else if err := writeImportTable(e.stdout, pos[0], &sum); err != nil {
		return failure(e, "import", err)
	}
	if sum.FileError != nil || sum.Rejected > 0 {
		return exitInvalid
	}
	return exitOK
}

func writeImportTable(w io.Writer, name string, sum *importer.Summary) error {
	if err := writeTable(w, name, &sum.Report); err != nil {
		return err
	}
	if sum.FileError != nil {
		return nil
	}
	_, err := fmt.Fprintf(w, "\nimport %d: %d created, %d updated, %d unchanged, %d rejected\n",
		sum.ImportID, sum.Created, sum.Updated, sum.Unchanged, sum.Rejected)
	return err
}

func runExport(ctx context.Context, e env, args []string) int {
	fs := newFlags(e, "export", "export --tenant T [--delimiter comma|semicolon] [-o FILE]",
		`  importctl export --tenant acme > users.csv
  importctl export --tenant acme --delimiter semicolon -o users.csv
Writes the tenant's users in the import format with a header row, streamed. Password hashes
are never exported (the column stays empty, which an import reads as "unchanged"), so the
file can be edited in a spreadsheet and imported again.
API mode, for a tenant's admins (no database access; see --api URL --help):
  USERIMPORT_API=https://import.example.com USERIMPORT_TOKEN=uit_... importctl export -o users.csv
`)
	tenant := fs.String("tenant", "", "the tenant (required)")
	delimiter := fs.String("delimiter", "comma", "field delimiter: comma or semicolon")
	output := fs.String("o", "-", "output file, - for standard output")
	pos, code, ok := parseArgs(fs, e, args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return usageError(e, "export", fmt.Sprintf("unexpected argument %q (the file goes to -o or standard output)", pos[0]))
	}
	if err := postgres.ValidTenant(*tenant); err != nil {
		return usageError(e, "export", "--tenant: "+err.Error())
	}
	if err := oneOf("delimiter", *delimiter, "comma", "semicolon"); err != nil {
		return usageError(e, "export", err.Error())
	}
	d, _ := userfile.ParseDelimiter(*delimiter)
	s, err := openStore(ctx, e)
	if err != nil {
		return failure(e, "export", err)
	}
	defer s.Close()
	out := e.stdout
	var file *os.File
	if *output != "-" {
		// Write next to the target and rename, so that a failed export never
		// leaves half a file under the name asked for.
		if file, err = os.CreateTemp(dirOf(*output), ".export-*"); err != nil {
			return failure(e, "export", err)
		}
		defer os.Remove(file.Name())
		out = file
	}
	bw := bufio.NewWriterSize(out, 64<<10)
	w := userfile.NewWriter(bw, d)
	n := 0
	err = w.WriteHeader()
	if err == nil {
		err = s.ExportUsers(ctx, *tenant, func(u *userrow.User) error {
			n++
			return w.WriteUser(u)
		})
	}
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = bw.Flush()
	}
	if err == nil && file != nil {
		if err = file.Close(); err == nil {
			err = os.Rename(file.Name(), *output)
		}
	}
	if err != nil {
		return failure(e, "export", err)
	}
	fmt.Fprintf(e.stderr, "exported %d users of tenant %s\n", n, *tenant)
	return exitOK
}

func dirOf(path string) string {
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		return path[:i+1]
	}
	return "."
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func usageError(e env, cmd, msg string) int {
	fmt.Fprintf(e.stderr, "importctl %s: %s\n", cmd, msg)
	return exitUsage
}

func failure(e env, cmd string, err error) int {
	if errors.Is(err, context.Canceled) {
		fmt.Fprintf(e.stderr, "importctl %s: interrupted\n", cmd)
		return exitUsage
	}
	fmt.Fprintf(e.stderr, "importctl %s: %v\n", cmd, err)
	return exitUsage
}
