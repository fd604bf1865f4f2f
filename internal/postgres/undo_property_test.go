package postgres_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/userrow"
)

// mUser is a user as the model knows it: the columns the sequences change,
// and the active flag.
type mUser struct {
	Name, Email, Groups string // Groups as the export writes them
	Active              bool
}

// mChange is what an import did to a user, as its journal keeps it: created
// it, or changed it from Before.
type mChange struct {
	created bool
	before  mUser
}

// undoModel is the store as the property test expects it: the users, and
// each import's journal, in import order.
type undoModel struct {
	users    map[string]mUser
	ids      []int64
	journals map[int64]map[string]mChange
}

// importRecs applies an import's records to the model.
func (m *undoModel) importRecs(id int64, recs []mRecord) {
	j := map[string]mChange{}
	for _, r := range recs {
		cur, ok := m.users[r.login]
		if !ok {
			m.users[r.login] = mUser{Name: r.name, Email: r.email, Groups: r.groups, Active: true}
			j[r.login] = mChange{created: true}
			continue
		}
		next := cur
		next.Name = r.name
		if r.hasEmail {
			next.Email = r.email
		}
		if r.hasGroups {
			next.Groups = r.groups
		}
		if next != cur {
			j[r.login] = mChange{before: cur}
			m.users[r.login] = next
		}
	}
	m.ids, m.journals[id] = append(m.ids, id), j
}

// undo applies the undo (import id) of import x: every user x changed is put
// back, unless a later import changed it (a conflict); a user x created is
// deactivated and loses its memberships. It returns the conflicts' Login IDs.
func (m *undoModel) undo(id, x int64) []string {
	j := map[string]mChange{}
	var conflicts []string
	for login, c := range m.journals[x] {
		changedLater := false
		for _, y := range m.ids {
			if _, ok := m.journals[y][login]; ok && y > x {
				changedLater = true
			}
		}
		if changedLater {
			conflicts = append(conflicts, login)
			continue
		}
		cur := m.users[login]
		j[login] = mChange{before: cur}
		if c.created {
			cur.Active, cur.Groups = false, ""
			m.users[login] = cur
		} else {
			m.users[login] = c.before
		}
	}
	m.ids, m.journals[id] = append(m.ids, id), j
	slices.Sort(conflicts)
	return conflicts
}

// mRecord is a record of a generated import: Login ID and name always, the
// e-mail and the groups when the import's file has the column.
type mRecord struct {
	login, name, email, groups string
	hasEmail, hasGroups        bool
}

var (
	propLogins = []string{"u0", "u1", "u2", "u3", "u4", "u5"}
	propNames  = []string{"Ann", "Bob", "Cy"}
	propEmails = []string{"a@example.com", "b@example.com"}
	propGroups = []string{"G1", "G2", "G3"}
)

// genImport draws an import: some of the pool's Login IDs, with random
// values, in a file that has the e-mail and groups columns or not.
func genImport(rng *rand.Rand) []mRecord {
	hasEmail, hasGroups := rng.IntN(2) == 0, rng.IntN(3) > 0
	logins := slices.Clone(propLogins)
	rng.Shuffle(len(logins), func(i, j int) { logins[i], logins[j] = logins[j], logins[i] })
	var recs []mRecord
	for _, login := range logins[:1+rng.IntN(4)] {
		r := mRecord{login: login, name: propNames[rng.IntN(len(propNames))], hasEmail: hasEmail, hasGroups: hasGroups}
		if hasEmail {
			r.email = propEmails[rng.IntN(len(propEmails))]
		}
		if hasGroups {
			var gs []string
			for _, g := range propGroups {
				if rng.IntN(2) == 0 {
					gs = append(gs, g)
				}
			}
			if gs == nil {
				gs = propGroups[:1]
			}
			r.groups = strings.Join(gs, ";")
		}
		recs = append(recs, r)
	}
	return recs
}

// storeRecords validates the records with the file's layout, as a chunk
// would come to the engine.
func storeRecords(t *testing.T, recs []mRecord) []postgres.Record {
	t.Helper()
	cols := []userrow.Column{userrow.UserName, userrow.LoginID}
	if recs[0].hasEmail {
		cols = append(cols, userrow.Email)
	}
	if recs[0].hasGroups {
		cols = append(cols, userrow.Groups)
	}
	layout := userrow.LayoutOf(cols)
	v := userrow.NewValidator(userrow.Options{})
	out := make([]postgres.Record, 0, len(recs))
	for i, r := range recs {
		f := []string{r.name, r.login}
		if r.hasEmail {
			f = append(f, r.email)
		}
		if r.hasGroups {
			f = append(f, r.groups)
		}
		u, probs := v.Validate(layout, f)
		if len(probs) > 0 {
			t.Fatalf("generated record %v: %v", f, probs)
		}
		out = append(out, postgres.Record{Line: i + 2, User: u, Raw: []byte(strings.Join(f, ","))})
	}
	return out
}

// storeUsers reads the store's users as the model has them: from the export
// and the active flags.
func storeUsers(t *testing.T, s *postgres.Store, tenant string) map[string]mUser {
	t.Helper()
	got := map[string]mUser{}
	for login, v := range export(t, s, tenant) {
		got[login] = mUser{Name: v[userrow.UserName], Email: v[userrow.Email], Groups: v[userrow.Groups]}
	}
	rows, err := s.Pool().Query(t.Context(), `SELECT login_id, active FROM users WHERE tenant_id = $1`, tenant)
	if err != nil {
		t.Fatal(err)
	}
	var (
		login  string
		active bool
	)
	if _, err := pgx.ForEachRow(rows, []any{&login, &active}, func() error {
		u := got[login]
		u.Active = active
		got[login] = u
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

// Random sequences of imports and undos, undos of undos among them, against
// the model: after every step the store's export and active flags are the
// model's, and each undo reports the model's conflicts. UNDO_SEQUENCES runs
// more sequences than the default.
func TestUndoAgainstAModel(t *testing.T) {
	t.Parallel()
	n := 12
	if v, err := strconv.Atoi(os.Getenv("UNDO_SEQUENCES")); err == nil && v > 0 {
		n = v
	}
	s := pgtest.Store(t)
	undos, undoneUndos, conflicts := 0, 0, 0
	for seq := range n {
		rng := rand.New(rand.NewPCG(uint64(seq), 0x0dd0))
		tenant := pgtest.Tenant(t)
		m := &undoModel{users: map[string]mUser{}, journals: map[int64]map[string]mChange{}}
		kinds := map[int64]lifecycle.Kind{}
		var trail []string
		for step := range 10 {
			if step == 0 || len(m.ids) == 0 || rng.IntN(5) < 3 {
				recs := genImport(rng)
				id := applyAs(t, s, tenant, lifecycle.KindUpload, 0, storeRecords(t, recs))
				m.importRecs(id, recs)
				kinds[id] = lifecycle.KindUpload
				trail = append(trail, fmt.Sprintf("import %d %v", id, recs))
			} else {
				x := m.ids[rng.IntN(len(m.ids))]
				res := undo(t, s, tenant, x, postgres.UndoOptions{})
				want := m.undo(res.ImportID, x)
				undos++
				if kinds[x] == lifecycle.KindUndo {
					undoneUndos++
				}
				kinds[res.ImportID] = lifecycle.KindUndo
				trail = append(trail, fmt.Sprintf("undo %d of %d", res.ImportID, x))
				got := make([]string, 0, len(res.Conflicts))
				for _, c := range res.Conflicts {
					got = append(got, c.LoginID)
				}
				slices.Sort(got)
				conflicts += len(got)
				if want == nil {
					want = []string{}
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Fatalf("sequence %d, step %d: conflicts (-model +store):\n%s\nsteps:\n  %s", seq, step, diff, strings.Join(trail, "\n  "))
				}
			}
			if diff := cmp.Diff(m.users, storeUsers(t, s, tenant)); diff != "" {
				t.Fatalf("sequence %d, step %d: the store is not the model's (-model +store):\n%s\nsteps:\n  %s", seq, step, diff, strings.Join(trail, "\n  "))
			}
		}
	}
	if undos == 0 || undoneUndos == 0 || conflicts == 0 {
		t.Errorf("%d undos, %d of undos, %d conflicts: the sequences do not exercise the undo", undos, undoneUndos, conflicts)
	}
	t.Logf("%d sequences: %d undos, %d of them of an undo, %d conflicts", n, undos, undoneUndos, conflicts)
}
