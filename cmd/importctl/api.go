package main

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/userimport/userimport/client"
)

// The API mode: for a tenant's admins, who have an API token but no access
// to the database, the queue or the bucket. --api URL (or USERIMPORT_API)
// turns it on for import, status, retry, results, export and feeds; the token comes
// from --token or USERIMPORT_TOKEN and is never printed. Without either,
// the commands work directly on the services, as operators use them.

// apiCommands are the commands with an API mode.
var apiCommands = map[string]func(ctx context.Context, e env, a apiTarget, args []string) int{
	"import":  apiImport,
	"status":  apiStatus,
	"retry":   apiRetry,
	"results": apiResults,
	"export":  apiExport,
	"feeds":   apiFeeds,
}

// apiTarget is where the API mode goes: the API's base URL and the token.
type apiTarget struct {
	url, token string
}

// apiHelp is the line every API-mode command's --help ends with.
const apiHelp = `API mode: --api URL (or USERIMPORT_API) sends the command to the producer's HTTP API with a
tenant's token (USERIMPORT_TOKEN, or --token, which other users of the machine may see in
the process list); no database, queue or bucket access is needed. --api "" forces the
direct mode when USERIMPORT_API is set.
`

// splitAPI takes --api and --token (and their -x, =value forms) out of
// args, before the "--" that ends the flags. on says whether the API mode
// is on: --api given non-empty, or USERIMPORT_API set and no --api "".
func splitAPI(e env, args []string) (t apiTarget, rest []string, on bool, err error) {
	apiSet := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i:]...)
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || (name != "api" && name != "token") {
			rest = append(rest, a)
			continue
		}
		if !hasValue {
			next := args[i+1:]
			if len(next) == 0 {
				return t, nil, false, fmt.Errorf("--%s needs a value", name)
			}
			value = next[0]
			i++
		}
		if name == "api" {
			t.url, apiSet = value, true
		} else {
			t.token = value
		}
	}
	if !apiSet {
		t.url = e.getenv("USERIMPORT_API")
	}
	if t.token == "" {
		t.token = e.getenv("USERIMPORT_TOKEN")
	}
	return t, rest, t.url != "", nil
}

// connect returns the client of the API mode, or a usage error's status.
func (t apiTarget) connect(e env, cmd string) (*client.Client, int) {
	if t.token == "" {
		return nil, usageError(e, cmd, "the API mode needs a tenant's token: set USERIMPORT_TOKEN (or --token); "+
			"an operator creates one with: importctl tokens create --tenant T --name NAME")
	}
	c, err := client.New(t.url, client.WithToken(t.token), client.WithUserAgent("importctl"))
	if err != nil {
		return nil, usageError(e, cmd, "--api / USERIMPORT_API: "+err.Error())
	}
	return c, 0
}

// apiFlags is newFlags with the API mode's shared flags: --api and --token
// (already taken out of the arguments, listed for --help) and --tenant,
// refused with a reason.
func apiFlags(e env, name, synopsis, examples string) (*flag.FlagSet, *string) {
	fs := newFlags(e, name, synopsis+"  (API mode)", examples+apiHelp)
	fs.String("api", "", "the producer's base URL, e.g. https://import.example.com (USERIMPORT_API)")
	fs.String("token", "", "the tenant's API token (USERIMPORT_TOKEN; prefer the variable)")
	tenant := fs.String("tenant", "", "not used: in API mode the token names the tenant")
	return fs, tenant
}

// apiParse parses the API mode's arguments; ok false: return code.
func apiParse(fs *flag.FlagSet, tenant *string, e env, args []string) ([]string, int, bool) {
	pos, code, ok := parseArgs(fs, e, args)
	if !ok {
		return nil, code, false
	}
	if *tenant != "" {
		return nil, usageError(e, fs.Name(), "--tenant is not used in API mode: the token names the tenant (drop --tenant, or unset USERIMPORT_API for the direct mode)"), false
	}
	return pos, 0, true
}

// apiFailure explains an error of the API mode and returns its exit status:
// 1 for what the input causes (nothing to retry, a run not pending), 2 for
// the rest. The messages say what to do; the token is never in them.
func apiFailure(e env, cmd string, t apiTarget, err error) int {
	var apiErr *client.Error
	var urlErr *url.Error
	switch {
	case errors.Is(err, context.Canceled):
		return failure(e, cmd, err)
	case errors.As(err, &apiErr):
		msg := apiErr.Message
		switch {
		case apiErr.StatusCode == http.StatusUnauthorized:
			msg = "the API refused the token (" + apiErr.Message + "); check USERIMPORT_TOKEN or --token, " +
				"or ask an operator for a new one (importctl tokens create)"
		case apiErr.Code == client.CodeNothingToRetry || apiErr.Code == client.CodeNotPending:
			fmt.Fprintf(e.stderr, "importctl %s: %s\n", cmd, apiErr.Message)
			return exitInvalid
		case apiErr.StatusCode == http.StatusTooManyRequests:
			msg += fmt.Sprintf("; try again in %s", max(apiErr.RetryAfter, time.Second))
		case apiErr.StatusCode >= 500:
			msg += " (" + strconv.Itoa(apiErr.StatusCode) + " " + apiErr.Code + "); try again later, or give the time to your operator"
		default:
			msg += " (" + strconv.Itoa(apiErr.StatusCode) + " " + apiErr.Code + ")"
		}
		fmt.Fprintf(e.stderr, "importctl %s: %s\n", cmd, msg)
		return exitUsage
	case errors.As(err, &urlErr):
		fmt.Fprintf(e.stderr, "importctl %s: cannot reach the API at %s: %v; check --api or USERIMPORT_API\n", cmd, t.url, urlErr.Err)
		return exitUsage
	}
	return failure(e, cmd, err)
}

func apiImport(ctx context.Context, e env, t apiTarget, args []string) int {
	fs, tenant := apiFlags(e, "import", "import [--wait] [--notify ADDR,...] [--dry-run] [--delimiter auto|comma|semicolon] [--header auto|skip|none] [--format table|json] FILE|-|s3://bucket/key",
		`  export USERIMPORT_API=https://import.example.com USERIMPORT_TOKEN=uit_...
  importctl import --wait users.csv                     # upload, wait, showing progress
  importctl import --notify hr@acme.example s3://userimport/incoming/acme/users.csv
  importctl gen --rows 100 | importctl import --wait -  # standard input too (named stdin.csv)
An s3:// object must be under the tenant's prefixes (uploads/<tenant>/, incoming/<tenant>/).
Exit status: 0 every record imported (or queued, without --wait), 1 some record rejected or
the file rejected, 2 usage, network or API error.
`)
	wait := fs.Bool("wait", false, "wait until the import has ended, showing progress")
	notify := fs.String("notify", "", "comma-separated e-mail addresses that get the result")
	dryRun := fs.Bool("dry-run", false, "validate and count what would happen, write no user")
	delimiter := fs.String("delimiter", "auto", "field delimiter: auto, comma or semicolon")
	header := fs.String("header", "auto", "first row: auto, skip or none")
	format := fs.String("format", "table", "output: table or json")
	pos, code, ok := apiParse(fs, tenant, e, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return usageError(e, "import", "name one file, - or s3:// object (see --help)")
	}
	if err := oneOf("format", *format, "table", "json"); err != nil {
		return usageError(e, "import", err.Error())
	}
	c, code := t.connect(e, "import")
	if c == nil {
		return code
	}
	o := client.ImportOptions{Delimiter: *delimiter, Header: *header, Notify: splitList(*notify), DryRun: *dryRun}
	var (
		im  *client.Import
		err error
	)
	switch source := pos[0]; {
	case strings.HasPrefix(source, "s3://"):
		im, err = c.ImportObject(ctx, source, o)
	case source == "-":
		im, err = c.Upload(ctx, "stdin.csv", e.stdin, o)
	default:
		f, ferr := os.Open(source) //nolint:gosec // G304: the file the user names on the command line
		if ferr != nil {
			return failure(e, "import", fmt.Errorf("%w (check the path)", ferr))
		}
		defer f.Close()
		im, err = c.Upload(ctx, filepath.Base(source), f, o)
	}
	if err != nil {
		return apiFailure(e, "import", t, err)
	}
	fmt.Fprintf(e.stderr, "import %d queued: %s\n", im.ID, im.Source)
	return apiFollow(ctx, e, t, c, "import", im, *wait, *format)
}

// apiFollow prints a queued import, or waits for it and prints the end.
func apiFollow(ctx context.Context, e env, t apiTarget, c *client.Client, cmd string, im *client.Import, wait bool, format string) int {
	if !wait {
		if format == "json" {
			return writeJSON(e, queueResult{ID: im.ID, State: "queued"})
		}
		fmt.Fprintf(e.stdout, "import %d queued; follow it with: importctl status --wait %d\n", im.ID, im.ID)
		return exitOK
	}
	im, err := apiWait(ctx, e, c, im.ID)
	if err != nil {
		return apiFailure(e, cmd, t, err)
	}
	return apiReport(e, t, im, format)
}

// apiWait waits for the import, showing its progress on standard error: a
// bar on a terminal, else a line at each change of state or progress.
func apiWait(ctx context.Context, e env, c *client.Client, id int64) (*client.Import, error) {
	tty := isTerminal(e.stderr)
	var last client.Import
	im, err := c.Wait(ctx, id, client.WaitOptions{Progress: func(im client.Import) {
		switch {
		case tty:
			fmt.Fprintf(e.stderr, "\r[%-40s] %3d%%  %s, %d records", strings.Repeat("#", im.Progress*40/100), im.Progress, im.State, im.Records)
		case im.State != last.State || im.Progress != last.Progress:
			fmt.Fprintf(e.stderr, "import %d %s: %d%%, %d records\n", im.ID, im.State, im.Progress, im.Records)
		}
		last = im
	}})
	if tty {
		fmt.Fprint(e.stderr, "\n")
	}
	return im, err
}

// apiReport prints an import as reportImport does and returns the exit
// status it means. The report is named by its API address, where the
// tenant can fetch it (status --report FILE).
func apiReport(e env, t apiTarget, im *client.Import, format string) int {
	report := ""
	if im.HasReport() {
		report = strings.TrimSuffix(t.url, "/") + im.Links.Errors
	}
	if format == "json" {
		if code := writeJSON(e, queueResult{ID: im.ID, State: string(im.State), Records: im.Records, Created: im.Created,
			Updated: im.Updated, Unchanged: im.Unchanged, Rejected: im.Rejected, Report: report, Error: im.Error, DryRun: im.DryRun}); code != exitOK {
			return code
		}
	} else {
		what := "import"
		if im.DryRun {
			what = "dry run"
		}
		switch im.State {
		case client.ImportRejected, client.ImportFailed:
			fmt.Fprintf(e.stdout, "%s %d %s: %s\n", what, im.ID, im.State, im.Error)
		default:
			fmt.Fprintf(e.stdout, "%s %d %s: %d records, %d created, %d updated, %d unchanged, %d rejected\n",
				what, im.ID, im.State, im.Records, im.Created, im.Updated, im.Unchanged, im.Rejected)
			if report != "" {
				fmt.Fprintf(e.stdout, "error report: %s (save it with: importctl status --report FILE %d)\n", report, im.ID)
			}
		}
	}
	if im.State != client.ImportFinished || im.Rejected > 0 {
		return exitInvalid
	}
	return exitOK
}

// importID reads the one positional argument, an import ID.
func importID(e env, cmd string, pos []string) (int64, int) {
	if len(pos) != 1 {
		return 0, usageError(e, cmd, "name one import ID (see --help)")
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || id <= 0 {
		return 0, usageError(e, cmd, fmt.Sprintf("import ID %q: want a number", pos[0]))
	}
	return id, 0
}

func apiStatus(ctx context.Context, e env, t apiTarget, args []string) int {
	fs, tenant := apiFlags(e, "status", "status [--wait] [--report FILE] [--format table|json] IMPORT_ID",
		`  export USERIMPORT_API=https://import.example.com USERIMPORT_TOKEN=uit_...
  importctl status 42
  importctl status --wait --format json 42
  importctl status --report users.errors.csv 42         # save the error report
Exit status: 0 finished with every record imported, 1 some record or the file rejected
(or, without --wait, still running), 2 usage, network or API error.
`)
	wait := fs.Bool("wait", false, "wait until the import has ended, showing progress")
	reportFile := fs.String("report", "", "save the import's error report (CSV) to this file, - for standard output")
	format := fs.String("format", "table", "output: table or json")
	pos, code, ok := apiParse(fs, tenant, e, args)
	if !ok {
		return code
	}
	id, code := importID(e, "status", pos)
	if code != 0 {
		return code
	}
	if err := oneOf("format", *format, "table", "json"); err != nil {
		return usageError(e, "status", err.Error())
	}
	c, code := t.connect(e, "status")
	if c == nil {
		return code
	}
	var (
		im  *client.Import
		err error
	)
	if *wait {
		im, err = apiWait(ctx, e, c, id)
	} else {
		im, err = c.Import(ctx, id)
	}
	if errors.Is(err, client.ErrNotFound) {
		fmt.Fprintf(e.stderr, "importctl status: the token's tenant has no import %d\n", id)
		return exitUsage
	}
	if err != nil {
		return apiFailure(e, "status", t, err)
	}
	if *reportFile != "" {
		if !im.HasReport() {
			fmt.Fprintf(e.stderr, "importctl status: import %d has no error report (it is not finished, or rejected no record)\n", id)
		} else if err := saveStream(*reportFile, e.stdout, func() (io.ReadCloser, error) { return c.Errors(ctx, id) }, nil); err != nil {
			return apiFailure(e, "status", t, err)
		}
		if *reportFile == "-" {
			return exitOK
		}
	}
	return apiReport(e, t, im, *format)
}

func apiRetry(ctx context.Context, e env, t apiTarget, args []string) int {
	fs, tenant := apiFlags(e, "retry", "retry [--wait] [--format table|json] IMPORT_ID",
		`  export USERIMPORT_API=https://import.example.com USERIMPORT_TOKEN=uit_...
  importctl retry --wait 42      # once the cause is fixed (e.g. a role added to the catalog)
Re-imports only the rejected records of a finished import, as a new import. Nothing to retry
gives exit status 1.
`)
	wait := fs.Bool("wait", false, "wait until the retry has ended, showing progress")
	format := fs.String("format", "table", "output: table or json")
	pos, code, ok := apiParse(fs, tenant, e, args)
	if !ok {
		return code
	}
	id, code := importID(e, "retry", pos)
	if code != 0 {
		return code
	}
	if err := oneOf("format", *format, "table", "json"); err != nil {
		return usageError(e, "retry", err.Error())
	}
	c, code := t.connect(e, "retry")
	if c == nil {
		return code
	}
	child, err := c.Retry(ctx, id)
	if errors.Is(err, client.ErrNotFound) {
		fmt.Fprintf(e.stderr, "importctl retry: the token's tenant has no import %d\n", id)
		return exitUsage
	}
	if err != nil {
		return apiFailure(e, "retry", t, err)
	}
	fmt.Fprintf(e.stderr, "import %d queued: the rejected records of import %d\n", child.ID, id)
	return apiFollow(ctx, e, t, c, "retry", child, *wait, *format)
}

func apiExport(ctx context.Context, e env, t apiTarget, args []string) int {
	fs, tenant := apiFlags(e, "export", "export [--delimiter comma|semicolon] [-o FILE]",
		`  export USERIMPORT_API=https://import.example.com USERIMPORT_TOKEN=uit_...
  importctl export -o users.csv
  importctl export --delimiter semicolon > users.csv
The tenant's users in the import format, password hashes left out. With -o, a failed export
leaves no file.
`)
	delimiter := fs.String("delimiter", "comma", "field delimiter: comma or semicolon")
	output := fs.String("o", "-", "output file, - for standard output")
	pos, code, ok := apiParse(fs, tenant, e, args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return usageError(e, "export", fmt.Sprintf("unexpected argument %q (the file goes to -o or standard output)", pos[0]))
	}
	if err := oneOf("delimiter", *delimiter, "comma", "semicolon"); err != nil {
		return usageError(e, "export", err.Error())
	}
	c, code := t.connect(e, "export")
	if c == nil {
		return code
	}
	n := 0
	err := saveStream(*output, e.stdout, func() (io.ReadCloser, error) {
		return c.Export(ctx, client.ExportOptions{Delimiter: *delimiter})
	}, &n)
	if err != nil {
		return apiFailure(e, "export", t, err)
	}
	fmt.Fprintf(e.stderr, "exported %d users\n", n)
	return exitOK
}

// saveStream copies what open returns to the file path (under a temporary
// name renamed at the end: a failure leaves no half file) or to stdout for
// "-". With records non-nil, it counts the CSV's records after the header.
func saveStream(path string, stdout io.Writer, open func() (io.ReadCloser, error), records *int) error {
	body, err := open()
	if err != nil {
		return err
	}
	defer body.Close()
	out := stdout
	var file *os.File
	if path != "-" {
		if file, err = os.CreateTemp(dirOf(path), ".importctl-*"); err != nil {
			return err
		}
		defer os.Remove(file.Name())
		out = file
	}
	if records == nil {
		_, err = io.Copy(out, body)
	} else {
		r := csv.NewReader(io.TeeReader(body, out))
		r.FieldsPerRecord, r.ReuseRecord = -1, true
		// The delimiter does not change the count of records: a semicolon
		// file read as comma-separated has as many.
		for *records = -1; err == nil; *records++ {
			_, err = r.Read()
		}
		*records = max(*records-1, 0)
		if errors.Is(err, io.EOF) {
			err = nil
		}
	}
	if err != nil {
		return err
	}
	if file != nil {
		if err := file.Close(); err != nil {
			return err
		}
		return os.Rename(file.Name(), path)
	}
	return nil
}

func apiFeeds(ctx context.Context, e env, t apiTarget, args []string) int {
	fs, tenant := apiFlags(e, "feeds", "feeds list|runs NAME|approve RUN_ID|reject RUN_ID [--limit N] [--format table|json]",
		`  export USERIMPORT_API=https://import.example.com USERIMPORT_TOKEN=uit_...
  importctl feeds list
  importctl feeds runs hr
  importctl feeds approve 42       # a run above the feed's limits waits for this
Feeds are added and changed by an operator (importctl feeds add), or with the API's
POST and PATCH /v1/feeds (docs/feeds.md).
`)
	limit := fs.Int("limit", 20, "runs: how many to show")
	format := fs.String("format", "table", "output: table or json")
	pos, code, ok := apiParse(fs, tenant, e, args)
	if !ok {
		return code
	}
	if len(pos) == 0 {
		return usageError(e, "feeds", "name an action: list, runs, approve or reject (see --help)")
	}
	action, rest := pos[0], pos[1:]
	want := map[string]int{"list": 0, "runs": 1, "approve": 1, "reject": 1}
	n, known := want[action]
	switch {
	case !known:
		return usageError(e, "feeds", fmt.Sprintf("%q in API mode: use list, runs, approve or reject (add, update, remove and dry-run are the operator's, without --api)", action))
	case len(rest) != n:
		return usageError(e, "feeds", fmt.Sprintf("%s takes %d argument(s) (see --help)", action, n))
	}
	if err := oneOf("format", *format, "table", "json"); err != nil {
		return usageError(e, "feeds", err.Error())
	}
	c, code := t.connect(e, "feeds")
	if c == nil {
		return code
	}
	asJSON := *format == "json"
	switch action {
	case "list":
		feeds, err := c.Feeds(ctx)
		if err != nil {
			return apiFailure(e, "feeds", t, err)
		}
		if asJSON {
			return writeJSON(e, map[string]any{"feeds": feeds})
		}
		rows := make([]feedRow, len(feeds))
		for i, f := range feeds {
			rows[i] = feedRow{f.Name, f.Mode, f.Schedule, f.TimeZone, f.Prefix, f.MaxDeactivatePercent, f.MaxDeactivateCount, f.Notify, f.Enabled}
		}
		return printFeeds(e, rows)
	case "runs":
		runs, err := c.FeedRuns(ctx, rest[0], *limit)
		if errors.Is(err, client.ErrNotFound) {
			fmt.Fprintf(e.stderr, "importctl feeds: the token's tenant has no feed %q (importctl feeds list)\n", rest[0])
			return exitUsage
		}
		if err != nil {
			return apiFailure(e, "feeds", t, err)
		}
		if asJSON {
			return writeJSON(e, map[string]any{"runs": runs})
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "RUN\tSCHEDULED FOR\tSTATE\tIMPORT\tDEACTIVATED\tREACTIVATED\tPENDING\tOBJECT\tNOTE")
		for _, r := range runs {
			imp := "-"
			if r.ImportID != 0 {
				imp = strconv.FormatInt(r.ImportID, 10)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\n", r.ID, r.ScheduledFor.UTC().Format(time.DateTime+"Z"), r.State, imp,
				r.Deactivated, r.Reactivated, r.Pending, orDash(r.Object), orDash(r.Error))
		}
		if err := tw.Flush(); err != nil {
			return failure(e, "feeds", err)
		}
		return exitOK
	default: // approve, reject
		id, err := strconv.ParseInt(rest[0], 10, 64)
		if err != nil || id <= 0 {
			return usageError(e, "feeds", fmt.Sprintf("run ID %q: want a number (see feeds runs)", rest[0]))
		}
		var run *client.FeedRun
		if action == "approve" {
			run, err = c.ApproveFeedRun(ctx, id)
		} else {
			run, err = c.RejectFeedRun(ctx, id)
		}
		if errors.Is(err, client.ErrNotFound) {
			fmt.Fprintf(e.stderr, "importctl feeds: the token's tenant has no feed run %d (importctl feeds runs NAME)\n", id)
			return exitUsage
		}
		if err != nil {
			return apiFailure(e, "feeds", t, err)
		}
		if asJSON {
			return writeJSON(e, run)
		}
		if run.State == client.RunApplied {
			fmt.Fprintf(e.stdout, "run %d applied: %d users deactivated\n", run.ID, run.Deactivated)
		} else {
			fmt.Fprintf(e.stdout, "run %d rejected: nobody deactivated\n", run.ID)
		}
		return exitOK
	}
}
