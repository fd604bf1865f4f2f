package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/userimport/userimport/internal/postgres"
)

// searchTerms are the users page's searches measured: rare, medium and
// frequent parts of Login IDs, names and e-mails of a generated file
// (importctl gen), and the one- and two-character starts of Login IDs.
var searchTerms = []string{
	// rare: a few users, or none
	"user123456", "zoltan.biro2@", "user99999", "haakansson", "nobody-at-all", "user5000",
	// medium: a thousand to a hundred thousand users, many of them late in Login ID order
	"user9", "ser9", "user5", "user99", "er12", "chevalier", "user.example", "zoltan", "mercier", "r77",
	// frequent: most users
	"user", "example", "ser", "an ", "e.or", "@ex",
	// single characters and two: the start of the Login ID
	"u", "z", "9", "a", "q", "us", "zo", "jo",
}

// searchSuite times the first page of each search term (the users page's
// /ui/users?q=, postgres.Store.SearchUsers) on an existing tenant of
// DATABASE_URL, runs times each, the terms interleaved.
func searchSuite(ctx context.Context, tenant string, runs int) error {
	if tenant == "" {
		return fmt.Errorf("-suite search needs -search-tenant: a tenant with the users to search (see bench/RESULTS.md)")
	}
	url := os.Getenv("DATABASE_URL")
	if url == "" {
		url = postgres.DefaultURL
	}
	store, err := postgres.Open(ctx, url)
	if err != nil {
		return err
	}
	defer store.Close()
	var users int
	if err := store.Pool().QueryRow(ctx, `SELECT count(*) FROM users WHERE tenant_id = $1`, tenant).Scan(&users); err != nil {
		return err
	}
	took := make([][]time.Duration, len(searchTerms))
	found := make([]int, len(searchTerms))
	for range runs {
		for i, q := range searchTerms {
			start := time.Now()
			page, _, err := store.SearchUsers(ctx, tenant, postgres.UserSearch{Query: q, Limit: 50})
			if err != nil {
				return fmt.Errorf("search %q: %w", q, err)
			}
			took[i] = append(took[i], time.Since(start))
			found[i] = len(page)
		}
	}
	fmt.Printf("## search: the first page (50) of %d terms on %d users, %d runs each\n\n", len(searchTerms), users, runs)
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "| term\t| matches\t| page\t| p50 ms\t| max ms\t|")
	var all []time.Duration
	for i, q := range searchTerms {
		var matches int
		if err := store.Pool().QueryRow(ctx, searchCount(q), tenant, q).Scan(&matches); err != nil {
			return err
		}
		slices.Sort(took[i])
		all = append(all, took[i]...)
		fmt.Fprintf(tw, "| `%s`\t| %d\t| %d\t| %.1f\t| %.1f\t|\n", q, matches, found[i], ms(took[i][len(took[i])/2]), ms(took[i][len(took[i])-1]))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	slices.Sort(all)
	fmt.Printf("\nall %d searches: p50 %.1f ms, p90 %.1f ms, max %.1f ms\n\n", len(all), ms(all[len(all)/2]), ms(all[len(all)*9/10]), ms(all[len(all)-1]))
	return nil
}

// searchCount counts a term's matches as SearchUsers finds them: the start
// of the Login ID and, from three characters, a part of the name or e-mail.
func searchCount(q string) string {
	if len([]rune(strings.TrimSpace(q))) < 3 {
		return `SELECT count(*) FROM users WHERE tenant_id = $1 AND starts_with(login_key, lower(trim($2)))`
	}
	return `SELECT count(*) FROM users WHERE tenant_id = $1 AND (starts_with(login_key, lower(trim($2)))
		OR strpos(lower(name || ' ' || coalesce(email, '')), lower(trim($2))) > 0)`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
