package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
	"text/tabwriter"

	"github.com/userimport/userimport/internal/userfile"
	"github.com/userimport/userimport/internal/userrow"
)

func runValidate(ctx context.Context, e env, args []string) int {
	fs := newFlags(e, "validate", "validate [--delimiter auto|comma|semicolon] [--header auto|skip|none] [--roles agent,supervisor,...] [--format table|json] FILE|-",
		`  importctl validate users.csv
  importctl validate --roles agent,supervisor,admin,auditor --format json users.csv
  importctl gen --rows 1000 --invalid 0.05 | importctl validate -
Exit status: 0 every record is valid, 1 some record is invalid or the file is rejected, 2 usage or I/O error.
`)
	delimiter := fs.String("delimiter", "auto", "field delimiter: auto, comma or semicolon")
	header := fs.String("header", "auto", "first row: auto (a header when it names columns), skip (always a header) or none")
	roles := fs.String("roles", "", "the tenant's role catalog, comma-separated; when given, every Role API Name must be in it")
	format := fs.String("format", "table", "output: table (for people) or json (one object, for tools)")
	pos, code, ok := parseArgs(fs, e, args)
	if !ok {
		return code
	}
	fail := func(err error) int {
		fmt.Fprintln(e.stderr, "importctl validate:", err)
		return exitUsage
	}
	if len(pos) != 1 {
		return fail(errors.New("name one file, or - for standard input (see --help)"))
	}
	var opts userfile.Options
	var err error
	if opts.Delimiter, err = userfile.ParseDelimiter(*delimiter); err != nil {
		return fail(err)
	}
	if opts.Header, err = userrow.ParseHeaderMode(*header); err != nil {
		return fail(err)
	}
	if err := oneOf("format", *format, "table", "json"); err != nil {
		return fail(err)
	}
	if *roles != "" {
		opts.Roles = splitList(*roles)
	}
	in := e.stdin
	if pos[0] != "-" {
		f, err := os.Open(pos[0])
		if err != nil {
			return fail(fmt.Errorf("%w (check the path)", err))
		}
		defer f.Close()
		if st, err := f.Stat(); err == nil {
			opts.SizeHint = st.Size()
			tuneGC(st.Size(), e.getenv)
		}
		in = f
	}
	res, err := validateFile(ctx, in, opts)
	if err != nil {
		return fail(err)
	}
	if *format == "json" {
		enc := json.NewEncoder(e.stdout)
		if err := enc.Encode(res); err != nil {
			return fail(err)
		}
	} else if err := writeTable(e.stdout, pos[0], res); err != nil {
		return fail(err)
	}
	if res.FileError != nil || res.Invalid > 0 {
		return exitInvalid
	}
	return exitOK
}

func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// validateFile reads the whole file. A file-level rejection is part of the
// result; only I/O errors and cancellation are returned as errors.
func validateFile(ctx context.Context, in io.Reader, opts userfile.Options) (*userfile.Report, error) {
	res := userfile.NewReport()
	r := userfile.NewReader(in, opts)
	defer r.Close()
	for n := 0; ; n++ {
		if n%4096 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if !userfile.IsRejection(err) {
				return nil, err
			}
			res.End(r, err)
			return &res, nil
		}
		res.Count(rec, true)
	}
	res.End(r, nil)
	return &res, nil
}

func writeTable(w io.Writer, name string, res *userfile.Report) error {
	bw := bufio.NewWriter(w)
	if name == "-" {
		name = "standard input"
	}
	if res.FileError != nil {
		fmt.Fprintf(bw, "%s: rejected: %s\n", name, *res.FileError)
		return bw.Flush()
	}
	header := "no header row"
	if res.Header {
		header = "header row"
	}
	fmt.Fprintf(bw, "%s: %s, %d valid, %d invalid (%s-separated, %s)\n",
		name, plural(res.Records, "record"), res.Valid, res.Invalid, res.Delimiter, header)
	for _, list := range []struct {
		title string
		probs []userfile.Problem
	}{{"Errors", res.Errors}, {"Warnings (the records are still imported)", res.Warnings}} {
		if len(list.probs) == 0 {
			continue
		}
		fmt.Fprintf(bw, "\n%s:\n", list.title)
		tw := tabwriter.NewWriter(bw, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  LINE\tCOLUMN\tPROBLEM")
		for _, p := range list.probs {
			col := p.Column
			if col == "" {
				col = "(record)"
			}
			fmt.Fprintf(tw, "  %d\t%s\t%s\n", p.Line, col, p.Message)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// tuneGC keeps the heap near its live size when validating a large file. The
// whole-file checks then hold tens of MiB of pointer-free tables (about 40
// bytes a record) that the GC never scans, so collecting more often costs
// little, and the heap stays near its live size instead of twice that: a
// million-record file validates in about 59 MiB (with GOGC 25, 62; the binary
// alone takes 9). Small files keep Go's default, which is faster for them.
// GOGC in the environment wins.
func tuneGC(size int64, getenv func(string) string) {
	if getenv("GOGC") == "" && size >= largeFile {
		debug.SetGCPercent(15)
	}
}

const largeFile = 64 << 20
