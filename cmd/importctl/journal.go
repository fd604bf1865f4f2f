package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/hibiken/asynq"

	"github.com/userimport/userimport/internal/config"
	"github.com/userimport/userimport/internal/intake"
	"github.com/userimport/userimport/internal/postgres"
)

func runUndo(ctx context.Context, e env, args []string) int {
	fs := newFlags(e, "undo", "undo --tenant T [--wait] [--dry-run] [--force] [--format table|json] IMPORT_ID",
		`  importctl undo --tenant acme --dry-run 42     # what undoing import 42 would do
  importctl undo --tenant acme 42               # do it: a new import of kind undo
  importctl undo --tenant acme --wait 42        # and follow it until its result e-mail is sent
  importctl undo --tenant acme 57               # undo the undo
Puts every user import 42 changed back to its state before it, from the change journal:
changed columns and memberships restored, users it created deactivated (their Login IDs stay
reserved), users its feed run deactivated reactivated, groups and extensions it created removed
when no user is a member any more. A user a later import changed is a conflict: it is left
alone and listed, unless --force. Refused for a dry run, an import not ended, an import older
than JOURNAL_RETENTION, and while another import of the tenant runs. The undo is applied
before the command returns; its result e-mail goes out from the workers (without --wait, the
workers' sweep sends it a few minutes later). --wait queues its finalize (REDIS_URL) and waits
until the workers have sent it, as import --wait follows an import.
Exit status: 0 undone, 1 some user left alone as a conflict, 2 refused or error.
`)
	tenant := fs.String("tenant", "", "the tenant (required)")
	dryRun := fs.Bool("dry-run", false, "show what the undo would do, change nothing")
	force := fs.Bool("force", false, "roll back the users later imports changed too")
	format := fs.String("format", "table", "output: table or json")
	wait := fs.Bool("wait", false, "follow the undo until the workers have sent its result e-mail")
	pos, code, ok := parseArgs(fs, e, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return usageError(e, "undo", "name one import ID (see --help)")
	}
	if *wait && *dryRun {
		return usageError(e, "undo", "--wait and --dry-run: a dry run records no undo to follow")
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || id <= 0 {
		return usageError(e, "undo", fmt.Sprintf("import ID %q: want a number", pos[0]))
	}
	if err := postgres.ValidTenant(*tenant); err != nil {
		return usageError(e, "undo", "--tenant: "+err.Error())
	}
	if err := oneOf("format", *format, "table", "json"); err != nil {
		return usageError(e, "undo", err.Error())
	}
	store, err := openStore(ctx, e)
	if err != nil {
		return failure(e, "undo", err)
	}
	defer store.Close()
	in := intake.Intake{Store: store}
	if *wait {
		cfg, err := config.Load(config.Importctl, e.getenv)
		if err != nil {
			return failure(e, "undo", err)
		}
		redis, err := cfg.Redis()
		if err != nil {
			return failure(e, "undo", err)
		}
		q := asynq.NewClient(redis)
		defer q.Close()
		in.Queue, in.Namespace = q, cfg.Namespace
	}
	res, err := in.Undo(ctx, *tenant, id, postgres.UndoOptions{DryRun: *dryRun, Force: *force, RequestedBy: "importctl"})
	if errors.Is(err, postgres.ErrNotFound) {
		return failure(e, "undo", fmt.Errorf("no import %d for tenant %s", id, *tenant))
	}
	if err != nil {
		return failure(e, "undo", err)
	}
	if *wait && res.ImportID != 0 {
		fmt.Fprintf(e.stderr, "undo of import %d: import %d; waiting for its result e-mail\n", id, res.ImportID)
		if _, err := waitImport(ctx, e, store, *tenant, res.ImportID, true); err != nil {
			return failure(e, "undo", err)
		}
	}
	if *format == "json" {
		if res.Conflicts == nil {
			res.Conflicts = []postgres.Conflict{}
		}
		if err := json.NewEncoder(e.stdout).Encode(res); err != nil {
			return failure(e, "undo", err)
		}
	} else {
		if res.ImportID == 0 {
			fmt.Fprintf(e.stdout, "undo of import %d (dry run: nothing changed)\n", id)
		} else {
			fmt.Fprintf(e.stdout, "undo of import %d: import %d\n", id, res.ImportID)
		}
		fmt.Fprintf(e.stdout, "users: %d restored, %d deactivated, %d reactivated\n", res.Restored, res.Deactivated, res.Reactivated)
		fmt.Fprintf(e.stdout, "groups: %d removed, %d put back; extensions: %d removed, %d put back\n",
			res.GroupsRemoved, res.GroupsRestored, res.ExtensionsRemoved, res.ExtensionsRestored)
		if len(res.Conflicts) > 0 {
			what := "left alone"
			if *force {
				what = "rolled back all the same (--force)"
			}
			fmt.Fprintf(e.stdout, "conflicts: %d changed by a later import, %s:\n", len(res.Conflicts), what)
			for _, c := range res.Conflicts {
				fmt.Fprintf(e.stdout, "  %s\tchanged by import %d\n", c.LoginID, c.ChangedBy)
			}
		}
	}
	if len(res.Conflicts) > 0 && !*force {
		return exitInvalid
	}
	return exitOK
}

func runHistory(ctx context.Context, e env, args []string) int {
	fs := newFlags(e, "history", "history --tenant T [--format table|json] LOGIN_ID",
		`  importctl history --tenant acme jdoe
  importctl history --tenant acme --format json jdoe
Every import in the change journal that changed the user, newest first: its ID, kind and
time, and each column or list it changed, old → new. A password change is shown, its hash never.
`)
	tenant := fs.String("tenant", "", "the tenant (required)")
	format := fs.String("format", "table", "output: table or json")
	pos, code, ok := parseArgs(fs, e, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return usageError(e, "history", "name one Login ID (see --help)")
	}
	if err := postgres.ValidTenant(*tenant); err != nil {
		return usageError(e, "history", "--tenant: "+err.Error())
	}
	if err := oneOf("format", *format, "table", "json"); err != nil {
		return usageError(e, "history", err.Error())
	}
	s, err := openStore(ctx, e)
	if err != nil {
		return failure(e, "history", err)
	}
	defer s.Close()
	h, err := s.History(ctx, *tenant, pos[0])
	if errors.Is(err, postgres.ErrNotFound) {
		return failure(e, "history", fmt.Errorf("no user %q for tenant %s", pos[0], *tenant))
	}
	if err != nil {
		return failure(e, "history", err)
	}
	if *format == "json" {
		if h == nil {
			h = []postgres.HistoryEntry{}
		}
		if err := json.NewEncoder(e.stdout).Encode(h); err != nil {
			return failure(e, "history", err)
		}
		return exitOK
	}
	for _, entry := range h {
		created := ""
		if entry.Created {
			created = "  created"
		}
		fmt.Fprintf(e.stdout, "import %d  %s  %s%s\n", entry.ImportID, entry.Kind, entry.At.UTC().Format("2006-01-02 15:04:05Z"), created)
		for _, c := range entry.Changes {
			fmt.Fprintf(e.stdout, "  %s: %q → %q\n", c.Column, c.Old, c.New)
		}
	}
	return exitOK
}
