package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/userimport/userimport/internal/importer"
	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/s3store"
	"github.com/userimport/userimport/internal/stacktest"
	"github.com/userimport/userimport/internal/usergen"
	"github.com/userimport/userimport/internal/userrow"
)

func TestFeedsCommands(t *testing.T) {
	t.Parallel()
	tenant := pgtest.Tenant(t)
	code, out, errOut := runDB(t, "", "feeds", "add", "--tenant", tenant, "--schedule", "30 1 * * *", "--tz", "Europe/Budapest",
		"--mode", "full", "--notify", "hr@example.com", "--max-deactivate-count", "50", "hr")
	if code != exitOK || !strings.Contains(out, "feeds/"+tenant+"/hr/") || !strings.Contains(out, "10 %, 50 users") {
		t.Fatalf("add: exit %d, %q %q", code, out, errOut)
	}
	code, out, errOut = runDB(t, "", "feeds", "update", "--tenant", tenant, "--enabled=false", "--max-deactivate-count", "-1", "--format", "json", "hr")
	var v struct {
		Feeds []struct {
			Name    string `json:"name"`
			Enabled bool   `json:"enabled"`
			Count   *int   `json:"max_deactivate_count"`
			Mode    string `json:"mode"`
		} `json:"feeds"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || code != exitOK || len(v.Feeds) != 1 || v.Feeds[0].Enabled ||
		v.Feeds[0].Count != nil || v.Feeds[0].Mode != "full" {
		t.Fatalf("update: exit %d, %q %q (%v)", code, out, errOut, err)
	}
	// The feed is disabled now: run refuses it (no task queued).
	if code, _, errOut := runDB(t, "", "feeds", "run", "--tenant", tenant, "hr"); code != exitInvalid || !strings.Contains(errOut, "disabled") {
		t.Errorf("run a disabled feed: exit %d, %q", code, errOut)
	}
	if code, _, _ := runDB(t, "", "feeds", "run", "--tenant", tenant, "nosuch"); code != exitUsage {
		t.Errorf("run a missing feed: exit %d, want %d", code, exitUsage)
	}
	if code, out, _ := runDB(t, "", "feeds", "runs", "--tenant", tenant, "hr"); code != exitOK || !strings.HasPrefix(out, "RUN ") {
		t.Errorf("runs: exit %d, %q", code, out)
	}
	for _, bad := range [][]string{
		{"feeds", "add", "--tenant", tenant, "--schedule", "0 2 * * *", "hr"},                        // exists
		{"feeds", "add", "--tenant", tenant, "nosched"},                                              // no schedule
		{"feeds", "add", "--tenant", tenant, "--schedule", "0 2 * * *", "--prefix", "feeds/x/", "x"}, // another tenant's area
		{"feeds", "approve", "--tenant", tenant, "12345678"},
		{"feeds", "list", "--tenant", tenant, "--mode", "full"},
		{"feeds", "frobnicate", "--tenant", tenant},
		{"feeds", "remove", "--tenant", pgtest.Tenant(t), "hr"}, // another tenant's
	} {
		if code, _, _ := runDB(t, "", bad...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", bad, code, exitUsage)
		}
	}
	if code, out, _ := runDB(t, "", "feeds", "remove", "--tenant", tenant, "hr"); code != exitOK || out != "feed hr removed\n" {
		t.Errorf("remove: exit %d, %q", code, out)
	}
	if code, out, _ := runDB(t, "", "feeds", "list", "--tenant", tenant); code != exitOK || strings.Count(out, "\n") != 1 {
		t.Errorf("list after remove: %q", out)
	}
	if code, out, _ := runDB(t, "", "feeds", "--help"); code != exitOK || !strings.Contains(out, "dry-run NAME") {
		t.Errorf("help: %d %q", code, out)
	}
}

// feeds dry-run says what a run of a full feed would do with its newest
// file, or with the one given, and writes no user.
func TestFeedsDryRun(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	tenant := pgtest.Tenant(t)
	store := pgtest.Store(t)
	files := stacktest.S3(t)
	t.Cleanup(func() {
		ctx := context.WithoutCancel(ctx)
		_ = files.List(ctx, "feeds/"+tenant+"/", func(o s3store.Object) error { return files.Delete(ctx, o.Key) })
	})
	if err := store.SetRoles(ctx, tenant, []string{"agent", "supervisor", "admin", "auditor"}); err != nil {
		t.Fatal(err)
	}
	var gen bytes.Buffer
	if _, err := usergen.Write(&gen, usergen.Options{Rows: 20, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	all, err := csv.NewReader(&gen).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	header, rows := all[0], all[1:]
	file := func(rows [][]string) []byte {
		var b bytes.Buffer
		w := csv.NewWriter(&b)
		_ = w.Write(header)
		_ = w.WriteAll(rows)
		return b.Bytes()
	}
	sum, err := importer.Local(ctx, store, bytes.NewReader(file(rows)), importer.Options{Tenant: tenant, Source: "seed.csv"})
	if err != nil || sum.Created != 20 {
		t.Fatalf("seed: %+v (%v)", sum, err)
	}
	if code, out, errOut := runDB(t, "", "feeds", "add", "--tenant", tenant, "--schedule", "@daily", "--mode", "full",
		"--notify", "hr@example.com", "--max-deactivate-percent", "10", "hr"); code != exitOK {
		t.Fatalf("add: exit %d, %q %q", code, out, errOut)
	}
	prefix := "feeds/" + tenant + "/hr/"
	url := pgtest.URL(t)
	put := func(name string, rows [][]string) string {
		t.Helper()
		if _, err := files.Put(ctx, prefix+name, file(rows), "text/csv"); err != nil {
			t.Fatal(err)
		}
		return "s3://" + files.Bucket() + "/" + prefix + name
	}
	dryRun := func(args ...string) (int, string) {
		t.Helper()
		var stdout, stderr strings.Builder
		e := env{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, getenv: func(k string) string {
			if k == "DATABASE_URL" {
				return url
			}
			return stacktest.Getenv(k)
		}}
		code := run(ctx, e, append([]string{"feeds", "dry-run", "--tenant", tenant}, args...))
		if stderr.Len() > 0 {
			t.Logf("stderr: %s", stderr.String())
		}
		return code, stdout.String()
	}

	// Three of 20 (15 %) absent: over the 10 % limit.
	first := put("1.csv", rows[3:])
	code, out := dryRun("--format", "json", "hr")
	var res struct {
		Source     string `json:"source"`
		Records    int    `json:"records"`
		Create     int    `json:"to_create"`
		Unchanged  int    `json:"unchanged"`
		Active     int    `json:"active"`
		Deactivate []struct {
			LoginID string `json:"login_id"`
		} `json:"to_deactivate"`
		Reactivate []any  `json:"to_reactivate"`
		OverLimit  string `json:"over_limit"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != exitInvalid || res.Source != first || res.Records != 17 ||
		res.Create != 0 || res.Unchanged != 17 || res.Active != 20 || len(res.Deactivate) != 3 || len(res.Reactivate) != 0 ||
		!strings.Contains(res.OverLimit, "3 of 20 active users (15.0 %)") {
		t.Fatalf("newest, over the limit: exit %d, %s (%v)", code, out, err)
	}
	var got, want []string
	for i, u := range res.Deactivate {
		got = append(got, strings.ToLower(u.LoginID))
		want = append(want, strings.ToLower(strings.TrimSpace(rows[i][userrow.LoginID])))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("to deactivate %v, want %v", got, want)
	}

	// One of 20 absent, in a newer file: within the limits.
	put("2.csv", rows[1:])
	if code, out := dryRun("hr"); code != exitOK ||
		!strings.Contains(out, "19 records, 0 to create, 0 to update, 19 unchanged, 0 rejected") ||
		!strings.Contains(out, "1 of 20 active users would be deactivated (within the feed's limits)") {
		t.Errorf("newest, within the limits: exit %d, %q", code, out)
	}
	// The object given, not the newest.
	if code, out := dryRun("hr", first); code != exitInvalid || !strings.Contains(out, "the run would wait for approval") {
		t.Errorf("the first file: exit %d, %q", code, out)
	}
	if code, _ := dryRun("hr", "s3://"+files.Bucket()+"/uploads/x.csv"); code != exitUsage {
		t.Errorf("an object outside the tenant's feeds: exit %d, want %d", code, exitUsage)
	}
	var active int
	if err := store.Pool().QueryRow(ctx, `SELECT count(*) FROM users WHERE tenant_id = $1 AND active`, tenant).Scan(&active); err != nil || active != 20 {
		t.Errorf("%d active after the dry runs (%v), want 20", active, err)
	}
}
