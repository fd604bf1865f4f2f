package postgres_test

import (
	"context"
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

// A chunk's lookups still use their key's index once the tables have grown
// past what they held when a connection first ran them. A generic plan made
// while a new database's tables were empty read all of the tenant's users by
// the primary key, and a connection kept it for good: a fresh import of
// 100,000 users took 30 s instead of 2.8 s. The tables here are temporary
// ones of the same shape, which hide the real ones from this connection's
// statements, so that they can start empty; another tenant holds the same
// keys, which the lookups must neither return nor read.
func TestChunkLookupsUseTheirKeysAsTheTablesGrow(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.WithoutCancel(ctx)) })
	const (
		tenant = "t-growing"
		rows   = 20000
		keys   = 100
	)
	tenants := []string{tenant, "t-neighbour"}
	var logins, numbers []string
	for i := range keys {
		logins, numbers = append(logins, fmt.Sprintf("g%05d", i*7)), append(numbers, fmt.Sprintf("+3671%07d", i*7))
	}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE users (LIKE public.users INCLUDING ALL) ON COMMIT DROP;
			CREATE TEMP TABLE extensions (LIKE public.extensions INCLUDING ALL) ON COMMIT DROP`); err != nil {
			return err
		}
		lookups := []struct {
			name, sql, table string
			keys             []string
		}{
			{"users by Login ID", postgres.UsersByLogin, "users", logins},
			{"extensions by number", postgres.ExtensionsByNumber, "extensions", numbers},
		}
		run := func(sql string, keys []string) (int, error) {
			n := 0
			err := postgres.Lookup(ctx, tx, sql, tenant, keys, func(rows pgx.Rows) error {
				for rows.Next() {
					n++
				}
				return rows.Err()
			})
			return n, err
		}
		for _, l := range lookups { // planned on empty tables
			if _, err := run(l.sql, l.keys); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO users (tenant_id, login_id, name, language, valid_from, password_md5,
				change_password, recording_mode, time_zone, voice, instant_messaging, video, desktop_screen,
				prompt_inbound, prompt_conference, column_hashes)
			SELECT t, format('g%s', lpad(i::text, 5, '0')), 'Growing Person', 'en', '2026-01-01', md5(i::text),
				false, 'full', 'UTC', false, false, false, false, false, false, '\x00'
			FROM unnest($1::text[]) AS t, generate_series(0, $2 - 1) AS i`, tenants, rows); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO extensions (tenant_id, number, recording_mode, voice, instant_messaging, video, desktop_screen)
			SELECT t, format('+3671%s', lpad(i::text, 7, '0')), 'full', false, false, false, false
			FROM unnest($1::text[]) AS t, generate_series(0, $2 - 1) AS i`, tenants, rows); err != nil {
			return err
		}
		for _, l := range lookups {
			// This transaction's own counts of what its scans read.
			read := func() (int64, error) {
				var n int64
				err := tx.QueryRow(ctx, `SELECT seq_tup_read + coalesce(idx_tup_fetch, 0) FROM pg_stat_xact_user_tables
					WHERE relid = ('pg_temp.' || $1)::regclass`, l.table).Scan(&n)
				return n, err
			}
			before, err := read()
			if err != nil {
				return err
			}
			found, err := run(l.sql, l.keys)
			if err != nil {
				return err
			}
			after, err := read()
			if err != nil {
				return err
			}
			if found != keys {
				t.Errorf("%s: found %d of %d", l.name, found, keys)
			}
			if after-before > 2*keys {
				t.Errorf("%s: read %d rows of %d to find %d: not by the key's index", l.name, after-before, len(tenants)*rows, keys)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
