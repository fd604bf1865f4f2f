package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/userimport/userimport/internal/config"
	"github.com/userimport/userimport/internal/intake"
	"github.com/userimport/userimport/internal/mail"
	"github.com/userimport/userimport/internal/postgres"
)

func runTenants(ctx context.Context, e env, args []string) int {
	fs := newFlags(e, "tenants", "tenants show --tenant T [--format table|json] | set --tenant T [--notify-domains DOMAIN,...] "+
		"[--default-notify ADDRESS,...] [--default-delimiter D] [--default-header H]",
		`  importctl tenants show --tenant acme
  importctl tenants set --tenant acme --notify-domains acme.example,corp.acme.example
  importctl tenants set --tenant acme --notify-domains ""      # any domain again
  importctl tenants set --tenant acme --default-notify hr@acme.example --default-delimiter semicolon
--notify-domains restricts the addresses the tenant's imports, web uploads and feeds may
notify to these domains, matched exactly (list subdomains one by one). Addresses already
stored (a feed's, an import's) outside them get no e-mail from then on. Every import may
notify at most NOTIFY_MAX_RECIPIENTS addresses (default 20), whatever the domains.
--default-notify names who gets the result e-mail of an import that names nobody (S3-event
and CLI imports; the upload page offers them). --default-delimiter (auto, comma, semicolon)
and --default-header (auto, skip, none) are what imports that do not say use. "" resets any.
`)
	tenant := fs.String("tenant", "", "the tenant (required; created on first use by set)")
	format := fs.String("format", "table", "output: table or json")
	fs.String("notify-domains", "", `set: comma-separated domains notify addresses must be in; "" for any`)
	fs.String("default-notify", "", `set: comma-separated addresses an import that names none notifies; "" for nobody`)
	fs.String("default-delimiter", "", `set: the delimiter of imports that name none: auto, comma or semicolon`)
	fs.String("default-header", "", `set: the header mode of imports that name none: auto, skip or none`)
	pos, code, ok := parseArgs(fs, e, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return usageError(e, "tenants", "name one action: show or set (see --help)")
	}
	if err := postgres.ValidTenant(*tenant); err != nil {
		return usageError(e, "tenants", "--tenant: "+err.Error())
	}
	if err := oneOf("format", *format, "table", "json"); err != nil {
		return usageError(e, "tenants", err.Error())
	}
	var (
		change postgres.TenantSettingsChange
		given  bool
	)
	fs.Visit(func(f *flag.Flag) {
		v := f.Value.String()
		switch f.Name {
		case "notify-domains":
			l := splitList(v)
			change.NotifyDomains, given = &l, true
		case "default-notify":
			l := splitList(v)
			change.DefaultNotify, given = &l, true
		case "default-delimiter":
			change.DefaultDelimiter, given = &v, true
		case "default-header":
			change.DefaultHeader, given = &v, true
		}
	})
	switch pos[0] {
	case "show":
		if given {
			return usageError(e, "tenants", "the settings go with set")
		}
	case "set":
		if !given {
			return usageError(e, "tenants", "set needs a setting to change: --notify-domains, --default-notify, "+
				"--default-delimiter or --default-header (see --help)")
		}
	default:
		return usageError(e, "tenants", fmt.Sprintf("unknown action %q: use show or set", pos[0]))
	}
	cfg, err := config.Load(config.Importctl, e.getenv)
	if err != nil {
		return usageError(e, "tenants", err.Error())
	}
	s, err := openStore(ctx, e)
	if err != nil {
		return failure(e, "tenants", err)
	}
	defer s.Close()
	var ts postgres.TenantSettings
	if pos[0] == "set" {
		in := intake.Intake{Store: s, NotifyMax: cfg.NotifyMaxRecipients}
		if change, err = in.CheckSettings(ctx, *tenant, change); err != nil {
			var bad *intake.InvalidError
			if errors.As(err, &bad) {
				return usageError(e, "tenants", bad.Reason)
			}
			return failure(e, "tenants", err)
		}
		ts, err = s.SetTenantSettings(ctx, *tenant, change)
		if err == nil {
			err = warnOutsideDomains(ctx, e, s, ts)
		}
	} else {
		ts, err = s.TenantSettings(ctx, *tenant)
	}
	if err != nil {
		return failure(e, "tenants", err)
	}
	if *format == "json" {
		return writeJSON(e, tenantView{Tenant: ts.Tenant, NotifyDomains: ts.NotifyDomains, DefaultNotify: ts.DefaultNotify,
			DefaultDelimiter: ts.DefaultDelimiter, DefaultHeader: ts.DefaultHeader, UpdatedAt: ts.UpdatedAt})
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "TENANT\t%s\nNOTIFY DOMAINS\t%s\nDEFAULT NOTIFY\t%s\nDEFAULT DELIMITER\t%s\nDEFAULT HEADER\t%s\nUPDATED\t%s\n",
		ts.Tenant, cmp.Or(strings.Join(ts.NotifyDomains, ","), "(any)"), cmp.Or(strings.Join(ts.DefaultNotify, ","), "(nobody)"),
		cmp.Or(ts.DefaultDelimiter, "auto"), cmp.Or(ts.DefaultHeader, "auto"), when(ts.UpdatedAt))
	if err := tw.Flush(); err != nil {
		return failure(e, "tenants", err)
	}
	return exitOK
}

// tenantView is a tenant's settings as --format json shows them.
type tenantView struct {
	Tenant           string     `json:"tenant"`
	NotifyDomains    []string   `json:"notify_domains"` // []: any domain
	DefaultNotify    []string   `json:"default_notify"` // []: nobody
	DefaultDelimiter string     `json:"default_delimiter"`
	DefaultHeader    string     `json:"default_header"`
	UpdatedAt        *time.Time `json:"updated_at"` // null: never set
}

// warnOutsideDomains says which feeds notify an address the new domains
// leave out: their e-mails stop reaching it (the worker checks again before
// it sends). The addresses are not printed: only the feed's name.
func warnOutsideDomains(ctx context.Context, e env, s *postgres.Store, ts postgres.TenantSettings) error {
	if len(ts.NotifyDomains) == 0 {
		return nil
	}
	feeds, err := s.Feeds(ctx, ts.Tenant)
	if err != nil {
		return err
	}
	for _, f := range feeds {
		if _, err := mail.Recipients(f.Notify, math.MaxInt32, ts.NotifyDomains); err != nil {
			fmt.Fprintf(e.stderr, "importctl tenants: warning: feed %s notifies addresses these domains leave out; "+
				"they get no e-mail until its --notify changes (importctl feeds update)\n", f.Name)
		}
	}
	return nil
}

// checkNotify checks the addresses an import or a feed is to notify, as
// the API does (mail.Recipients): NOTIFY_MAX_RECIPIENTS and the tenant's
// domains.
func checkNotify(ctx context.Context, s *postgres.Store, limit int, tenant string, addrs []string) ([]string, error) {
	ts, err := s.TenantSettings(ctx, tenant)
	if err != nil {
		return nil, err
	}
	return mail.Recipients(addrs, limit, ts.NotifyDomains)
}

// notifyRefused reports a checkNotify error: a refused address is a usage
// error (exit 2) that names it and the rule.
func notifyRefused(e env, cmd string, err error) int {
	var bad *mail.RecipientError
	if errors.As(err, &bad) {
		return usageError(e, cmd, "--"+bad.Error())
	}
	return failure(e, cmd, err)
}
