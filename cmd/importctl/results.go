package main

import (
	"context"
	"fmt"
	"io"

	"github.com/userimport/userimport/internal/config"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/resultfile"
	"github.com/userimport/userimport/internal/s3store"
)

const resultsHelp = `Every record of the import's file in the import format (the password left out), with the
columns Line, Outcome (created, updated, unchanged or rejected; for a dry run, what it would
do), Changed (the columns an update changed) and Errors added; streamed, formula-guarded. An
undo's results are the users it touched, as they are now. Refused before the import has
finished, once its journal is older than JOURNAL_RETENTION, and for an import of a local file
(import --local), whose file is not stored.
`

func runResults(ctx context.Context, e env, args []string) int {
	fs := newFlags(e, "results", "results --tenant T [-o FILE] IMPORT_ID",
		`  importctl results --tenant acme 42 > results.csv
  importctl results --tenant acme -o results.csv 42
`+resultsHelp)
	tenant := fs.String("tenant", "", "the tenant (required)")
	output := fs.String("o", "-", "output file, - for standard output")
	pos, code, ok := parseArgs(fs, e, args)
	if !ok {
		return code
	}
	id, code := importID(e, "results", pos)
	if id == 0 {
		return code
	}
	if err := postgres.ValidTenant(*tenant); err != nil {
		return usageError(e, "results", "--tenant: "+err.Error())
	}
	cfg, err := config.Load(config.Importctl, e.getenv)
	if err != nil {
		return failure(e, "results", err)
	}
	store, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return failure(e, "results", err)
	}
	defer store.Close()
	files, err := s3store.New(ctx, cfg.S3)
	if err != nil {
		return failure(e, "results", err)
	}
	f, err := resultfile.Open(ctx, store, files, *tenant, id)
	if err != nil {
		return failure(e, "results", err)
	}
	defer f.Close()
	n := 0
	err = saveStream(*output, e.stdout, func() (io.ReadCloser, error) {
		pr, pw := io.Pipe()
		go func() { pw.CloseWithError(f.WriteTo(ctx, pw)) }()
		return pr, nil
	}, &n)
	if err != nil {
		return failure(e, "results", err)
	}
	fmt.Fprintf(e.stderr, "results of import %d: %d records\n", id, n)
	return exitOK
}

func apiResults(ctx context.Context, e env, t apiTarget, args []string) int {
	fs, tenant := apiFlags(e, "results", "results [-o FILE] IMPORT_ID",
		`  export USERIMPORT_API=https://import.example.com USERIMPORT_TOKEN=uit_...
  importctl results -o results.csv 42
`+resultsHelp)
	output := fs.String("o", "-", "output file, - for standard output")
	pos, code, ok := apiParse(fs, tenant, e, args)
	if !ok {
		return code
	}
	id, code := importID(e, "results", pos)
	if id == 0 {
		return code
	}
	c, code := t.connect(e, "results")
	if c == nil {
		return code
	}
	n := 0
	if err := saveStream(*output, e.stdout, func() (io.ReadCloser, error) { return c.Results(ctx, id) }, &n); err != nil {
		return apiFailure(e, "results", t, err)
	}
	fmt.Fprintf(e.stderr, "results of import %d: %d records\n", id, n)
	return exitOK
}
