package main

import (
	"context"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/userimport/userimport/internal/postgres"
)

func runTokens(ctx context.Context, e env, args []string) int {
	fs := newFlags(e, "tokens", "tokens create --tenant T --name NAME | list --tenant T | revoke --tenant T ID",
		`  importctl tokens create --tenant acme --name "HR upload script"   # prints the token, once
  importctl tokens list --tenant acme
  importctl tokens revoke --tenant acme 3
A token gives the API access to its tenant only. Only its hash is stored: keep the token
when it is printed, it cannot be shown again.
`)
	tenant := fs.String("tenant", "", "the tenant (required)")
	name := fs.String("name", "", "who or what uses the token (create)")
	pos, code, ok := parseArgs(fs, e, args)
	if !ok {
		return code
	}
	if len(pos) == 0 {
		return usageError(e, "tokens", "name an action: create, list or revoke (see --help)")
	}
	if err := postgres.ValidTenant(*tenant); err != nil {
		return usageError(e, "tokens", "--tenant: "+err.Error())
	}
	var id int64
	switch pos[0] {
	case "create":
		if *name == "" || len(pos) > 1 {
			return usageError(e, "tokens", `create takes --name "who uses it" and no arguments`)
		}
	case "list":
		if len(pos) > 1 {
			return usageError(e, "tokens", "list takes no arguments")
		}
	case "revoke":
		var err error
		if len(pos) != 2 {
			return usageError(e, "tokens", "revoke takes one token ID (see tokens list)")
		}
		if id, err = strconv.ParseInt(pos[1], 10, 64); err != nil {
			return usageError(e, "tokens", fmt.Sprintf("token ID %q: want a number", pos[1]))
		}
	default:
		return usageError(e, "tokens", fmt.Sprintf("unknown action %q: use create, list or revoke", pos[0]))
	}
	s, err := openStore(ctx, e)
	if err != nil {
		return failure(e, "tokens", err)
	}
	defer s.Close()
	switch pos[0] {
	case "create":
		secret, t, err := s.CreateToken(ctx, *tenant, *name)
		if err != nil {
			return failure(e, "tokens", err)
		}
		fmt.Fprintf(e.stderr, "token %d for tenant %s (%s); it is shown only now:\n", t.ID, *tenant, t.Name)
		fmt.Fprintln(e.stdout, secret)
	case "list":
		tokens, err := s.Tokens(ctx, *tenant)
		if err != nil {
			return failure(e, "tokens", err)
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tCREATED\tLAST USED\tREVOKED")
		for _, t := range tokens {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.CreatedAt.Format(time.DateTime), when(t.LastUsedAt), when(t.RevokedAt))
		}
		if err := tw.Flush(); err != nil {
			return failure(e, "tokens", err)
		}
	case "revoke":
		if err := s.RevokeToken(ctx, *tenant, id); err != nil {
			return failure(e, "tokens", err)
		}
		fmt.Fprintf(e.stdout, "token %d revoked\n", id)
	}
	return exitOK
}

func when(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format(time.DateTime)
}
