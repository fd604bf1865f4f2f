package postgres_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/userfile"
	"github.com/userimport/userimport/internal/userrow"
)

// orderRoles is the role catalog of the schedules' tenants.
var orderRoles = []string{"r0", "r1", "r2"}

// orderImport is one generated import: its chunks of records.
type orderImport struct {
	chunks [][]postgres.Record
}

// genImports makes n imports of one tenant over a small set of users, so
// that they overlap heavily: each record gives a random subset of the
// columns (an empty field keeps the stored value), lists included, and
// extensions shared between users with conflicting settings.
func genImports(t *testing.T, rng *rand.Rand, n int) []orderImport {
	t.Helper()
	v := userrow.NewValidator(userrow.Options{Roles: orderRoles})
	modes := []string{"full", "on-demand", "manual", "no"}
	pick := func(prefix string, n int) string {
		var out []string
		for i := range n {
			if rng.IntN(2) == 0 {
				out = append(out, prefix+strconv.Itoa(i))
			}
		}
		return strings.Join(out, ";")
	}
	out := make([]orderImport, n)
	for i := range out {
		logins := rng.Perm(8)[:2+rng.IntN(6)]
		var recs []postgres.Record
		for j, l := range logins {
			f := make([]string, userrow.NumColumns)
			f[userrow.LoginID] = fmt.Sprintf("U%d", l) // Login IDs match case-insensitively
			if rng.IntN(2) == 0 {
				f[userrow.LoginID] = strings.ToLower(f[userrow.LoginID])
			}
			f[userrow.UserName] = fmt.Sprintf("name %d.%d", i, j)
			maybe := func(c userrow.Column, val string) {
				if rng.IntN(3) > 0 {
					f[c] = val
				}
			}
			maybe(userrow.Email, fmt.Sprintf("u%d.%d@example.com", i, j))
			maybe(userrow.Custom0, fmt.Sprintf("c%d", rng.IntN(3)))
			maybe(userrow.Groups, pick("g", 4))
			maybe(userrow.Roles, strings.ReplaceAll(pick("r", 3), ";", "\n"))
			maybe(userrow.PhoneMapping, pick("+3610000", 5))
			maybe(userrow.RecordingMode, modes[rng.IntN(len(modes))])
			maybe(userrow.Voice, strconv.Itoa(rng.IntN(2)))
			u, probs := v.Validate(userrow.Positional(), f)
			if len(probs) > 0 {
				t.Fatalf("generated record %v: %v", f, probs)
			}
			recs = append(recs, postgres.Record{Line: j + 2, User: u, Raw: []byte(strings.Join(f, ","))})
		}
		for len(recs) > 0 {
			k := 1 + rng.IntN(len(recs))
			out[i].chunks = append(out[i].chunks, recs[:k])
			recs = recs[k:]
		}
	}
	return out
}

// planned creates the tenant's imports in order, each planned with its
// chunks (and their Login fingerprints), as the worker's plan records them.
func planned(t *testing.T, s *postgres.Store, tenant string, ims []orderImport) []int64 {
	t.Helper()
	ctx := t.Context()
	ids := make([]int64, len(ims))
	for i, im := range ims {
		id, _, err := s.CreateImport(ctx, postgres.NewImport{Tenant: tenant, Source: fmt.Sprintf("%s-%d", t.Name(), i)})
		if err != nil {
			t.Fatal(err)
		}
		specs := make([]userfile.Chunk, len(im.chunks))
		for seq, recs := range im.chunks {
			fps := make([]uint64, len(recs))
			for k, r := range recs {
				fps[k] = userrow.LoginFingerprint(r.User.LoginID)
			}
			specs[seq] = userfile.Chunk{Seq: seq, FirstLine: recs[0].Line, Records: len(recs), Logins: userrow.NewLoginSet(fps)}
		}
		if err := s.AddChunks(ctx, tenant, id, specs); err != nil {
			t.Fatal(err)
		}
		if err := s.SavePlan(ctx, tenant, id, userfile.Plan{Chunks: len(specs)}); err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	return ids
}

// state is what a tenant's store holds, for comparing two tenants: every
// user's columns (lists included), and every extension's settings.
func state(t *testing.T, s *postgres.Store, tenant string) (map[string][userrow.NumColumns]string, map[string]string) {
	t.Helper()
	users := export(t, s, tenant)
	rows, err := s.Pool().Query(t.Context(), `SELECT number, recording_mode, voice, instant_messaging, video, desktop_screen
		FROM extensions WHERE tenant_id = $1`, tenant)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	exts := map[string]string{}
	for rows.Next() {
		var (
			number, mode string
			v, im, vi, d bool
		)
		if err := rows.Scan(&number, &mode, &v, &im, &vi, &d); err != nil {
			t.Fatal(err)
		}
		exts[number] = fmt.Sprint(mode, v, im, vi, d)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return users, exts
}

// For every user, what a tenant's store holds equals applying its imports one
// after another in the order they were accepted, whatever order their
// chunks are applied in: random sets of overlapping imports, their chunks
// applied by two appliers in random interleavings, some chunks twice,
// compared with the same imports applied one after another to another
// tenant (the sequential model), and with a model of the users' names (the
// last import that gave a user sets it).
//
// ORDER_SCHEDULES sets the number of schedules (default 200; make
// test-order runs more).
func TestImportsTakeEffectInAcceptedOrder(t *testing.T) {
	t.Parallel()
	n := 200
	if v, err := strconv.Atoi(os.Getenv("ORDER_SCHEDULES")); err == nil && v > 0 {
		n = v
	}
	s := pgtest.Store(t)
	opts := postgres.ApplyOptions{Defaults: userrow.Defaults{Today: today}}
	var waited, reapplied int
	for schedule := range n {
		seed := uint64(schedule)
		rng := rand.New(rand.NewPCG(seed, 0x5eed))
		ims := genImports(t, rng, 2+rng.IntN(3))
		shuffled, sequential := pgtest.Tenant(t), pgtest.Tenant(t)
		for _, tenant := range []string{shuffled, sequential} {
			if err := s.SetRoles(t.Context(), tenant, orderRoles); err != nil {
				t.Fatal(err)
			}
		}

		// The model: one import after another, chunk after chunk.
		for i, id := range planned(t, s, sequential, ims) {
			for seq, recs := range ims[i].chunks {
				if _, err := s.ApplyChunk(t.Context(), postgres.Chunk{Tenant: sequential, ImportID: id, Seq: seq}, recs, opts); err != nil {
					t.Fatalf("schedule %d: sequential: %v", schedule, err)
				}
			}
		}

		// The schedule: two appliers take chunks in a random order.
		type job struct {
			chunk postgres.Chunk
			recs  []postgres.Record
		}
		var todo, done []job
		for i, id := range planned(t, s, shuffled, ims) {
			for seq, recs := range ims[i].chunks {
				todo = append(todo, job{postgres.Chunk{Tenant: shuffled, ImportID: id, Seq: seq}, recs})
			}
		}
		var (
			mu       sync.Mutex
			wg       sync.WaitGroup
			failures = make(chan error, 2)
		)
		for a := range 2 {
			arng := rand.New(rand.NewPCG(seed, uint64(a)))
			wg.Go(func() {
				deadline := time.Now().Add(30 * time.Second)
				for time.Now().Before(deadline) {
					mu.Lock()
					if len(todo) == 0 {
						mu.Unlock()
						return
					}
					again := len(done) > 0 && arng.IntN(5) == 0
					var j job
					k := arng.IntN(len(todo))
					if again {
						j = done[arng.IntN(len(done))]
					} else {
						j = todo[k]
						todo = append(todo[:k], todo[k+1:]...)
					}
					mu.Unlock()
					out, err := s.ApplyChunk(t.Context(), j.chunk, j.recs, opts)
					wait := errors.Is(err, postgres.ErrWait)
					mu.Lock()
					switch {
					case again && err == nil && !out.AlreadyApplied:
						err = fmt.Errorf("chunk %d of import %d applied a second time", j.chunk.Seq, j.chunk.ImportID)
					case again:
						reapplied++
					case wait:
						waited++
						todo = append(todo, j)
						err = nil
					case err == nil:
						done = append(done, j)
					}
					mu.Unlock()
					if err != nil {
						failures <- fmt.Errorf("schedule %d: %w", schedule, err)
						return
					}
					if wait {
						time.Sleep(time.Millisecond) // let the other applier move on
					}
				}
				failures <- fmt.Errorf("schedule %d: chunks still waiting after 30 s", schedule)
			})
		}
		wg.Wait()
		close(failures)
		for err := range failures {
			t.Fatal(err)
		}

		gotUsers, gotExts := state(t, s, shuffled)
		wantUsers, wantExts := state(t, s, sequential)
		if diff := cmp.Diff(wantUsers, gotUsers); diff != "" {
			t.Fatalf("schedule %d: users (-one after another +interleaved):\n%s", schedule, diff)
		}
		if diff := cmp.Diff(wantExts, gotExts); diff != "" {
			t.Fatalf("schedule %d: extensions (-one after another +interleaved):\n%s", schedule, diff)
		}
		names := map[string]string{}
		for _, im := range ims {
			for _, recs := range im.chunks {
				for _, r := range recs {
					names[strings.ToLower(r.User.LoginID)] = r.User.Name
				}
			}
		}
		for login, u := range gotUsers {
			if want := names[strings.ToLower(login)]; u[userrow.UserName] != want {
				t.Fatalf("schedule %d: user %s is named %q; the last import that gave it says %q", schedule, login, u[userrow.UserName], want)
			}
		}
	}
	if waited == 0 || reapplied == 0 {
		t.Fatalf("over %d schedules no chunk waited (%d) or was applied twice (%d): the test does not exercise the rule", n, waited, reapplied)
	}
	t.Logf("%d schedules: %d waits, %d chunks applied twice", n, waited, reapplied)
}
