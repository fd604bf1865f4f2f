package main

import (
	"bufio"
	"context"
	"fmt"

	"github.com/userimport/userimport/internal/usergen"
)

func runGen(_ context.Context, e env, args []string) int {
	fs := newFlags(e, "gen", "gen --rows N [--seed S] [--invalid SHARE] [--delimiter comma|semicolon] [--no-header] [--prefix P] > FILE",
		`  importctl gen --rows 10000 > users.csv              # 10,000 valid users
  importctl gen --rows 50000 --invalid 0.01 --seed 7 > users.csv   # 1% invalid, of every kind
  importctl gen --rows 100 --delimiter semicolon --no-header > positional.csv
`)
	rows := fs.Int("rows", 1000, "number of data records (the header row is extra)")
	seed := fs.Int64("seed", 1, "random seed: the same seed and flags give the same file")
	invalid := fs.Float64("invalid", 0, "share of records with exactly one defect, 0 to 1 (0: every record is valid)")
	delimiter := fs.String("delimiter", "comma", "field delimiter: comma or semicolon")
	noHeader := fs.Bool("no-header", false, "omit the header row (a positional file)")
	prefix := fs.String("prefix", "", "prefix of every Login ID, so that files share users or not (default \"user\")")
	defects := fs.Bool("defects", false, "list the invalid records (line, column, kind) on stderr")
	pos, code, ok := parseArgs(fs, e, args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		fmt.Fprintf(e.stderr, "importctl gen: unexpected argument %q: the file goes to standard output\n", pos[0])
		return exitUsage
	}
	if err := oneOf("delimiter", *delimiter, "comma", "semicolon"); err != nil {
		fmt.Fprintln(e.stderr, "importctl gen:", err)
		return exitUsage
	}
	opts := usergen.Options{Rows: *rows, Seed: *seed, Invalid: *invalid, NoHeader: *noHeader, LoginPrefix: *prefix, Delimiter: ','}
	if *delimiter == "semicolon" {
		opts.Delimiter = ';'
	}
	sum, err := usergen.Write(e.stdout, opts)
	if err != nil {
		fmt.Fprintln(e.stderr, "importctl gen:", err)
		return exitUsage
	}
	if *defects {
		w := bufio.NewWriter(e.stderr)
		for _, d := range sum.Defects {
			fmt.Fprintf(w, "%d\t%s\t%s\n", d.Line, d.Column, d.Kind)
		}
		if err := w.Flush(); err != nil {
			return exitUsage
		}
	}
	return exitOK
}
