package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"github.com/userimport/userimport/internal/config"
	"github.com/userimport/userimport/internal/intake"
	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/mail"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/s3store"
	"github.com/userimport/userimport/internal/userfile"
	"github.com/userimport/userimport/internal/userrow"
)

type queueOptions struct {
	tenant, source, delimiter, header, format string
	notify                                    []string
	wait, dryRun                              bool
}

// queueResult is the JSON form of a queued import's outcome.
type queueResult struct {
	ID        int64  `json:"id"`
	State     string `json:"state"`
	Records   int    `json:"records"`
	Created   int    `json:"created"`
	Updated   int    `json:"updated"`
	Unchanged int    `json:"unchanged"`
	Rejected  int    `json:"rejected"`
	Report    string `json:"report,omitempty"`
	Error     string `json:"error,omitempty"`
	DryRun    bool   `json:"dry_run,omitempty"`
	// Rejections group the rejected records by reason, the largest first,
	// with what to do about the largest (Advice).
	Rejections []userrow.Reason `json:"rejections,omitempty"`
	Advice     string           `json:"advice,omitempty"`
}

// queueImport uploads a local file (or takes an s3:// one), records the
// import and queues its plan for the workers.
func queueImport(ctx context.Context, e env, o queueOptions) int {
	if _, err := userfile.ParseDelimiter(o.delimiter); err != nil {
		return usageError(e, "import", err.Error())
	}
	if _, err := userrow.ParseHeaderMode(o.header); err != nil {
		return usageError(e, "import", err.Error())
	}
	if err := oneOf("format", o.format, "table", "json"); err != nil {
		return usageError(e, "import", err.Error())
	}
	if o.source == "-" {
		return usageError(e, "import", "a queued import needs a file or s3:// object (standard input works with --local)")
	}
	cfg, err := config.Load(config.Importctl, e.getenv)
	if err != nil {
		return failure(e, "import", err)
	}
	store, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return failure(e, "import", err)
	}
	defer store.Close()
	// Before the upload: a refused address leaves nothing behind.
	if o.notify, err = checkNotify(ctx, store, cfg.NotifyMaxRecipients, o.tenant, o.notify); err != nil {
		return notifyRefused(e, "import", err)
	}
	files, err := s3store.New(ctx, cfg.S3)
	if err != nil {
		return failure(e, "import", err)
	}
	source := o.source
	if strings.HasPrefix(source, "s3://") {
		bucket, key, err := s3store.ParseURL(source)
		if err != nil {
			return usageError(e, "import", err.Error())
		}
		if bucket != files.Bucket() {
			return usageError(e, "import", fmt.Sprintf("%s is not in the service's bucket %s (S3_BUCKET)", source, files.Bucket()))
		}
		if _, err := files.Head(ctx, key); err != nil {
			return failure(e, "import", err)
		}
	} else {
		f, err := os.Open(source) //nolint:gosec // G304: the file the operator names on the command line
		if err != nil {
			return failure(e, "import", fmt.Errorf("%w (check the path)", err))
		}
		defer f.Close()
		key := intake.UploadKey(o.tenant, filepath.Base(source))
		if _, err := files.Upload(ctx, key, f, "text/csv"); err != nil {
			return failure(e, "import", err)
		}
		source = "s3://" + files.Bucket() + "/" + key
	}
	redis, err := cfg.Redis()
	if err != nil {
		return failure(e, "import", err)
	}
	client := asynq.NewClient(redis)
	defer client.Close()
	in := intake.Intake{Store: store, Queue: client, Namespace: cfg.Namespace, NotifyMax: cfg.NotifyMaxRecipients}
	im, _, err := in.Start(ctx, postgres.NewImport{Tenant: o.tenant, Source: source, RequestedBy: "importctl",
		Options: lifecycle.Options{Delimiter: o.delimiter, Header: o.header, Notify: o.notify, DryRun: o.dryRun}})
	if err != nil {
		return failure(e, "import", err)
	}
	id := im.ID
	fmt.Fprintf(e.stderr, "import %d queued: %s\n", id, source)
	if !o.wait {
		if o.format == "json" {
			return writeJSON(e, queueResult{ID: id, State: "queued"})
		}
		fmt.Fprintf(e.stdout, "import %d queued; follow it with: importctl status --tenant %s %d\n", id, o.tenant, id)
		return exitOK
	}
	im, err = waitImport(ctx, e, store, o.tenant, id, false)
	if err != nil {
		return failure(e, "import", err)
	}
	return reportImport(ctx, e, store, im, o.format)
}

// waitImport polls the import until it ends, showing progress on a
// terminal; with notified, until its finalize has also sent the result
// e-mail (or found no one to send it to).
func waitImport(ctx context.Context, e env, store *postgres.Store, tenant string, id int64, notified bool) (postgres.Import, error) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	progress := isTerminal(e.stderr)
	for {
		im, err := store.Import(ctx, tenant, id)
		if err != nil {
			return im, err
		}
		if progress {
			pct := 0
			if im.Chunks > 0 {
				pct = 100 * im.ChunksDone / im.Chunks
			}
			fmt.Fprintf(e.stderr, "\r[%-40s] %3d%%  %s, %d records", strings.Repeat("#", pct*40/100), pct, im.State, im.Records)
		}
		done := im.State.Ended()
		if done && notified {
			if done, err = store.Notified(ctx, tenant, id); err != nil {
				return im, err
			}
		}
		if done {
			if progress {
				fmt.Fprint(e.stderr, "\n")
			}
			return im, nil
		}
		select {
		case <-ctx.Done():
			return im, ctx.Err()
		case <-tick.C:
		}
	}
}

// shownReasons is how many groups of rejections the table lists.
const shownReasons = 8

// reportImport prints an ended import and returns the exit status it means.
func reportImport(ctx context.Context, e env, store *postgres.Store, im postgres.Import, format string) int {
	res := queueResult{ID: im.ID, State: string(im.State), Records: im.Records, Created: im.Created, Updated: im.Updated,
		Unchanged: im.Unchanged, Rejected: im.Rejected, Report: im.Report, Error: im.Error, DryRun: im.DryRun,
		Rejections: im.Reasons}
	if len(im.Reasons) > 0 {
		roles, err := store.Roles(ctx, im.Tenant)
		if err != nil {
			return failure(e, "status", err)
		}
		res.Advice = userrow.Advise(im.Reasons[0], len(roles), im.Tenant)
	}
	if format == "json" {
		if code := writeJSON(e, res); code != exitOK {
			return code
		}
	} else {
		what := "import"
		if im.DryRun {
			what = "dry run" // counts of what would happen: nothing was written
		}
		switch im.State {
		case lifecycle.ImportRejected, lifecycle.ImportFailed:
			fmt.Fprintf(e.stdout, "%s %d %s: %s\n", what, im.ID, im.State, im.Error)
		default:
			fmt.Fprintf(e.stdout, "%s %d %s: %d records, %d created, %d updated, %d unchanged, %d rejected\n",
				what, im.ID, im.State, im.Records, im.Created, im.Updated, im.Unchanged, im.Rejected)
			if len(im.Reasons) > 0 {
				fmt.Fprintln(e.stdout, "rejected, by reason:")
				lines, more := mail.ReasonLines(im.Reasons, im.OtherReasons, shownReasons)
				for _, l := range lines {
					fmt.Fprintf(e.stdout, "  %s\n", l)
				}
				if more != "" {
					fmt.Fprintf(e.stdout, "  %s (--format json lists them; the error report has every record)\n", more)
				}
				if res.Advice != "" {
					fmt.Fprintln(e.stdout, res.Advice)
				}
			}
			if im.Report != "" {
				fmt.Fprintf(e.stdout, "error report: %s\n", im.Report)
			}
		}
	}
	if im.State != lifecycle.ImportFinished || im.Rejected > 0 {
		return exitInvalid
	}
	return exitOK
}

func writeJSON(e env, v any) int {
	if err := json.NewEncoder(e.stdout).Encode(v); err != nil {
		return failure(e, "import", err)
	}
	return exitOK
}

func runStatus(ctx context.Context, e env, args []string) int {
	fs := newFlags(e, "status", "status --tenant T [--wait] [--format table|json] IMPORT_ID",
		`  importctl status --tenant acme 42
  importctl status --tenant acme --wait --format json 42
Exit status: 0 finished with every record imported, 1 some record or the file rejected
(or, without --wait, still running), 2 usage or service error.
API mode, for a tenant's admins (no database access; see --api URL --help):
  USERIMPORT_API=https://import.example.com USERIMPORT_TOKEN=uit_... importctl status --wait 42
`)
	tenant := fs.String("tenant", "", "the tenant (required)")
	wait := fs.Bool("wait", false, "wait until the import has ended, showing progress")
	format := fs.String("format", "table", "output: table or json")
	pos, code, ok := parseArgs(fs, e, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return usageError(e, "status", "name one import ID (see --help)")
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || id <= 0 {
		return usageError(e, "status", fmt.Sprintf("import ID %q: want a number", pos[0]))
	}
	if err := postgres.ValidTenant(*tenant); err != nil {
		return usageError(e, "status", "--tenant: "+err.Error())
	}
	if err := oneOf("format", *format, "table", "json"); err != nil {
		return usageError(e, "status", err.Error())
	}
	store, err := openStore(ctx, e)
	if err != nil {
		return failure(e, "status", err)
	}
	defer store.Close()
	var im postgres.Import
	if *wait {
		im, err = waitImport(ctx, e, store, *tenant, id, false)
	} else {
		im, err = store.Import(ctx, *tenant, id)
	}
	if errors.Is(err, postgres.ErrNotFound) {
		return failure(e, "status", fmt.Errorf("tenant %s has no import %d", *tenant, id))
	}
	if err != nil {
		return failure(e, "status", err)
	}
	return reportImport(ctx, e, store, im, *format)
}

func runRetry(ctx context.Context, e env, args []string) int {
	fs := newFlags(e, "retry", "retry --tenant T [--wait] [--format table|json] IMPORT_ID",
		`  importctl roles add --tenant acme auditor      # fix what made the records fail...
  importctl retry --tenant acme --wait 42         # ...and import the rejected records again
Re-imports only the rejected records of a finished import (its error report), through the
queue, as a new import linked to the first. To fix the records themselves, correct the
error report and import it like any file.
API mode, for a tenant's admins (no database or queue access; see --api URL --help):
  USERIMPORT_API=https://import.example.com USERIMPORT_TOKEN=uit_... importctl retry --wait 42
`)
	tenant := fs.String("tenant", "", "the tenant (required)")
	wait := fs.Bool("wait", false, "wait until the retry has ended, showing progress")
	format := fs.String("format", "table", "output: table or json")
	pos, code, ok := parseArgs(fs, e, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return usageError(e, "retry", "name one import ID (see --help)")
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || id <= 0 {
		return usageError(e, "retry", fmt.Sprintf("import ID %q: want a number", pos[0]))
	}
	if err := postgres.ValidTenant(*tenant); err != nil {
		return usageError(e, "retry", "--tenant: "+err.Error())
	}
	if err := oneOf("format", *format, "table", "json"); err != nil {
		return usageError(e, "retry", err.Error())
	}
	cfg, err := config.Load(config.Importctl, e.getenv)
	if err != nil {
		return failure(e, "retry", err)
	}
	store, err := postgres.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return failure(e, "retry", err)
	}
	defer store.Close()
	redis, err := cfg.Redis()
	if err != nil {
		return failure(e, "retry", err)
	}
	client := asynq.NewClient(redis)
	defer client.Close()
	in := intake.Intake{Store: store, Queue: client, Namespace: cfg.Namespace, NotifyMax: cfg.NotifyMaxRecipients}
	child, err := in.Retry(ctx, *tenant, id)
	if errors.Is(err, postgres.ErrNotFound) {
		return failure(e, "retry", fmt.Errorf("tenant %s has no import %d", *tenant, id))
	}
	if errors.Is(err, intake.ErrNothingToRetry) {
		fmt.Fprintf(e.stderr, "importctl retry: import %d: %v\n", id, err)
		return exitInvalid
	}
	if err != nil {
		return failure(e, "retry", err)
	}
	fmt.Fprintf(e.stderr, "import %d queued: the rejected records of import %d\n", child.ID, id)
	if !*wait {
		if *format == "json" {
			return writeJSON(e, queueResult{ID: child.ID, State: "queued"})
		}
		fmt.Fprintf(e.stdout, "import %d queued; follow it with: importctl status --tenant %s %d\n", child.ID, *tenant, child.ID)
		return exitOK
	}
	im, err := waitImport(ctx, e, store, *tenant, child.ID, false)
	if err != nil {
		return failure(e, "retry", err)
	}
	return reportImport(ctx, e, store, im, *format)
}
