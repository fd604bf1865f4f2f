package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/userimport/userimport/internal/postgres/pgtest"
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
