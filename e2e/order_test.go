package e2e

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/usergen"
	"github.com/userimport/userimport/internal/userrow"
)

// Two imports of one tenant queued back to back, through two worker
// processes: a large file A, then a small file B with new values for some of
// A's users and users of its own. B's plan is done long before A's last
// chunk, yet every user ends as applying A and then B would leave it: B's
// users with B's values, the others with A's.
func TestLaterImportWinsWithTwoWorkers(t *testing.T) {
	bin := build(t)
	environ := env(t)
	ctl(t, bin, environ, 0, "migrate")
	tenant := pgtest.Tenant(t)
	ctl(t, bin, environ, 0, "roles", "set", "--tenant", tenant, "agent", "supervisor", "admin", "auditor")
	for range 2 {
		start(t, bin, "worker", environ, "WORKER_CONCURRENCY=2")
	}

	var a bytes.Buffer
	if _, err := usergen.Write(&a, usergen.Options{Rows: 40000, Seed: 71}); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(bytes.NewReader(a.Bytes())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	header := rows[0]
	name, login := slices.Index(header, userrow.UserName.String()), slices.Index(header, userrow.LoginID.String())
	if name < 0 || login < 0 {
		t.Fatalf("header %v has no %s or %s", header, userrow.UserName, userrow.LoginID)
	}
	// B: every 20th user of A (spread over all of A's chunks) renamed, and
	// 100 users of its own. A's users keep their names from A, which the
	// validator normalises: only B's are compared, and no other may carry
	// one of B's.
	want := map[string]string{}
	b := [][]string{header}
	for i := 1; i < len(rows); i += 20 {
		r := slices.Clone(rows[i])
		r[name] = fmt.Sprintf("B renamed %d", i)
		b = append(b, r)
		want[strings.ToLower(strings.TrimSpace(r[login]))] = r[name]
	}
	for i := range 100 {
		r := slices.Clone(rows[1])
		r[login], r[name] = fmt.Sprintf("bonly%d", i), fmt.Sprintf("B only %d", i)
		b = append(b, r)
		want[r[login]] = r[name]
	}
	users := len(rows) - 1 + 100
	dir := t.TempDir()
	pathA, pathB := filepath.Join(dir, "a.csv"), filepath.Join(dir, "b.csv")
	if err := os.WriteFile(pathA, a.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	var bb bytes.Buffer
	w := csv.NewWriter(&bb)
	if err := w.WriteAll(b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pathB, bb.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}

	idA := queueImport(t, bin, environ, tenant, pathA)
	idB := queueImport(t, bin, environ, tenant, pathB)
	if idB <= idA {
		t.Fatalf("import B has id %d, A %d: B was accepted later", idB, idA)
	}

	// Evidence that the order was at stake: B was planned, ready to apply,
	// while A still had chunks to apply.
	conn, err := pgx.Connect(t.Context(), pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	watch := watchImports(t)
	raced := false
	for deadline := time.Now().Add(3 * time.Minute); ; {
		var bPlanned bool
		if err := conn.QueryRow(t.Context(), `SELECT plan IS NOT NULL FROM imports WHERE id = $1`, idB).Scan(&bPlanned); err != nil {
			t.Fatal(err)
		}
		ra, rb := watch(idA), watch(idB)
		if bPlanned && ra.ChunksDone < ra.Chunks {
			raced = true
		}
		if ra.State == "finished" && rb.State == "finished" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("imports not finished: A %+v, B %+v", ra, rb)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !raced {
		t.Fatal("B was never planned while A still had chunks pending: the test did not exercise the order")
	}

	_, export := ctl(t, bin, environ, 0, "export", "--tenant", tenant)
	got, err := csv.NewReader(bytes.NewReader(export)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(got)-1 != users {
		t.Fatalf("%d users exported, want %d", len(got)-1, users)
	}
	wrong := 0
	for _, r := range got[1:] {
		w, inB := want[strings.ToLower(strings.TrimSpace(r[login]))]
		if inB && r[name] != w || !inB && strings.HasPrefix(r[name], "B ") {
			if wrong++; wrong <= 5 {
				t.Errorf("user %s is named %q, want %q", r[login], r[name], w)
			}
		}
	}
	if wrong > 0 {
		t.Fatalf("%d of %d users do not hold the values of the import accepted last", wrong, len(got)-1)
	}
}
