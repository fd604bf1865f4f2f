// Command searchbench times the users page's search (/ui/users?q=,
// postgres.Store.SearchUsers): the first page of 30 terms of different
// frequencies, on the users of an existing tenant of DATABASE_URL.
//
//	go run ./bench/cmd/searchbench -tenant big -runs 5
//
// bench/RESULTS.md says how to make a tenant of a million users to search.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/userimport/userimport/internal/postgres"
)

// searchTerms are the users page's searches measured: rare, medium and
// frequent starts of Login IDs and words of names and e-mails (and parts
// inside them, which match nothing since migration 00025) of a generated file
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

func main() {
	tenant := flag.String("tenant", "", "the tenant of DATABASE_URL whose users are searched (required)")
	runs := flag.Int("runs", 5, "runs of each term, interleaved")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := search(ctx, *tenant, *runs)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "searchbench:", err)
		os.Exit(1)
	}
}

// search times the first page of each search term, runs times each, the
// terms interleaved, and prints a table of the medians and maxima.
func search(ctx context.Context, tenant string, runs int) error {
	if tenant == "" {
		return errors.New("-tenant: name a tenant with the users to search (see bench/RESULTS.md)")
	}
	if runs < 1 {
		return errors.New("-runs must be at least 1")
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
	fmt.Printf("# searchbench %s\n\n## search: the first page (50) of %d terms on %d users, %d runs each\n\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), len(searchTerms), users, runs)
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "| term\t| page\t| p50 ms\t| max ms\t|")
	fmt.Fprintln(tw, "|---\t|---\t|---\t|---\t|")
	var all []time.Duration
	for i, q := range searchTerms {
		slices.Sort(took[i])
		all = append(all, took[i]...)
		fmt.Fprintf(tw, "| `%s`\t| %d\t| %.1f\t| %.1f\t|\n", q, found[i], ms(took[i][len(took[i])/2]), ms(took[i][len(took[i])-1]))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	slices.Sort(all)
	fmt.Printf("\nall %d searches: p50 %.1f ms, p90 %.1f ms, max %.1f ms\n\n", len(all), ms(all[len(all)/2]), ms(all[len(all)*9/10]), ms(all[len(all)-1]))
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
