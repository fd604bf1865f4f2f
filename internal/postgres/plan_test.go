package postgres_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/postgres/pgtest"
	"github.com/userimport/userimport/internal/userrow"
)

// A chunk's lookups use their key's index for a tenant the statistics do not
// know (analysed before its first import), under the setting the chunk
// transaction runs with: planned for such a tenant's value instead, the
// lookup of users by Login ID read all of the tenant's users by the primary
// key for every chunk.
func TestChunkLookupsUseTheirKeysForAnUnknownTenant(t *testing.T) {
	t.Parallel()
	s := pgtest.Store(t)
	ctx := t.Context()
	known, unknown := pgtest.Tenant(t), pgtest.Tenant(t)
	users := func() []postgres.Record {
		var rows []map[userrow.Column]string
		for i := range 1500 {
			rows = append(rows, map[userrow.Column]string{userrow.UserName: "Plan Person", userrow.LoginID: fmt.Sprintf("p%05d", i),
				userrow.Language: "en", userrow.PhoneMapping: fmt.Sprintf("+3670%07d", i)})
		}
		return parse(t, nil, rows...)
	}
	apply(t, s, known, users())
	if _, err := s.Pool().Exec(ctx, `ANALYZE users, extensions`); err != nil {
		t.Fatal(err)
	}
	apply(t, s, unknown, users())

	var logins, numbers []string
	for i := range 1000 {
		logins, numbers = append(logins, fmt.Sprintf("p%05d", i)), append(numbers, fmt.Sprintf("+3670%07d", i))
	}
	err := pgx.BeginFunc(ctx, s.Pool(), func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, postgres.GenericPlans); err != nil {
			return err
		}
		for _, c := range []struct {
			name, sql, index string
			keys             []string
		}{
			{"users_by_login", postgres.UsersByLogin, "users_tenant_id_login_key_key", logins},
			{"extensions_by_number", postgres.ExtensionsByNumber, "extensions_tenant_id_number_key", numbers},
		} {
			if _, err := tx.Exec(ctx, "PREPARE "+c.name+" AS "+c.sql); err != nil {
				return err
			}
			// The keys are the test's own digits and letters: safe as a literal.
			var plan string
			if err := tx.QueryRow(ctx, fmt.Sprintf(`EXPLAIN (FORMAT JSON) EXECUTE %s('%s', '{%s}')`,
				c.name, unknown, strings.Join(c.keys, ","))).Scan(&plan); err != nil {
				return err
			}
			if !strings.Contains(plan, `"Index Name": "`+c.index+`"`) || strings.Contains(plan, `"Filter"`) {
				t.Errorf("%s for a tenant the statistics do not know: not by %s alone\n%s", c.name, c.index, plan)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
