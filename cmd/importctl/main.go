// Command importctl is the operator's and developer's tool for userimport:
// validate a user file offline, generate test data, migrate the database,
// import (through the queue or in process), follow, retry, undo and export,
// and show a user's history.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"sort"
	"strings"
	"syscall"
)

// Exit statuses, the same for every command.
const (
	exitOK      = 0
	exitInvalid = 1 // the input has problems (invalid records, file rejected)
	exitUsage   = 2 // wrong usage, or an I/O or service error
)

// env is what a command gets from its surroundings; tests pass their own.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e env, args []string) int
}

var commands = []command{
	{"validate", "check a user file offline, as an import would, and list its problems", runValidate},
	{"gen", "write a realistic user file with a chosen share of invalid records", runGen},
	{"migrate", "bring the database schema up to date (DATABASE_URL)", runMigrate},
	{"import", "import a user file for a tenant (--local: in this process)", runImport},
	{"status", "show an import's state and counts (--wait: until it ends)", runStatus},
	{"retry", "import the rejected records of an import again", runRetry},
	{"undo", "put back what an import changed (--dry-run: show it)", runUndo},
	{"results", "write an import's results file: every record with its outcome", runResults},
	{"history", "show what each import changed in a user, newest first", runHistory},
	{"export", "write a tenant's users in the import format", runExport},
	{"roles", "list or change a tenant's role catalog", runRoles},
	{"tokens", "create, list or revoke a tenant's API tokens", runTokens},
	{"feeds", "manage a tenant's scheduled HR feeds, their runs and approvals", runFeeds},
	{"tenants", "show or set a tenant's settings (the domains it may notify)", runTenants},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stopProfile := startProfile(os.Getenv("IMPORTCTL_CPUPROFILE"))
	code := run(ctx, env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}, os.Args[1:])
	stopProfile()
	stop()
	os.Exit(code)
}

// startProfile writes a CPU profile of the whole command to path, when one
// is named (IMPORTCTL_CPUPROFILE): how bench/RESULTS.md's profiles of
// whole commands are taken. The returned function ends it.
func startProfile(path string) func() {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path) //nolint:gosec // the operator names the profile file
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "importctl: IMPORTCTL_CPUPROFILE: %v (going on without a profile)\n", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "importctl: IMPORTCTL_CPUPROFILE: %v\n", err)
		}
	}
}

func run(ctx context.Context, e env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(e.stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		if api, ok := apiCommands[c.name]; ok {
			t, rest, on, err := splitAPI(e, args[1:])
			if err != nil {
				return usageError(e, c.name, err.Error())
			}
			if on {
				return api(ctx, e, t, rest)
			}
			args = append([]string{args[0]}, rest...) // an --api "" or a --token without --api: the direct mode
		}
		return c.run(ctx, e, args[1:])
	}
	fmt.Fprintf(e.stderr, "importctl: unknown command %q; run 'importctl --help' for the list\n", args[0])
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "importctl — imports users from CSV files (see docs/cli.md)")
	fmt.Fprintln(w, "\nUsage: importctl COMMAND [flags] [args]\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'importctl COMMAND --help' for a command's flags and examples.")
	fmt.Fprintln(w, "API mode, for a tenant's admins without database or queue access: with --api URL (or")
	fmt.Fprintln(w, "USERIMPORT_API) and the tenant's token in USERIMPORT_TOKEN, import, status, retry, results, export")
	fmt.Fprintln(w, "and feeds go through the producer's HTTP API.")
	fmt.Fprintln(w, "Exit status: 0 success, 1 the input has problems, 2 usage or I/O error.")
}

// newFlags returns a FlagSet whose --help prints the command's synopsis, its
// flags and examples.
func newFlags(e env, name, synopsis, examples string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: importctl %s\n\nFlags:\n", synopsis)
		fs.PrintDefaults()
		fmt.Fprintf(w, "\nExamples:\n%s", examples)
	}
	return fs
}

// parseArgs parses flags wherever they stand among the positional arguments
// (importctl validate FILE --format json works as well as the reverse).
func parseArgs(fs *flag.FlagSet, e env, args []string) ([]string, int, bool) {
	// Help goes to standard output, once; the flag package would print it to
	// standard error first.
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "-help" || a == "--help" {
			fs.SetOutput(e.stdout)
			fs.Usage()
			return nil, exitOK, false
		}
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, exitUsage, false
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, 0, true
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// oneOf checks an enumerated flag value.
func oneOf(name, value string, allowed ...string) error {
	for _, a := range allowed {
		if value == a {
			return nil
		}
	}
	sorted := append([]string(nil), allowed...)
	sort.Strings(sorted)
	return fmt.Errorf("--%s %q: use %s", name, value, strings.Join(sorted, ", "))
}
