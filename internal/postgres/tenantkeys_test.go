package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/userimport/userimport/internal/postgres/pgtest"
)

// The tables that hold no tenant's data, or hold it but are not distributed
// on tenant_id, each with the reason. On a distributed PostgreSQL (Citus)
// they are reference tables (copied to every node) or stay on the
// coordinator; every other table is distributed on tenant_id. See
// docs/scaling.md.
var (
	globalTables = map[string]string{
		"goose_db_version": "the migrations applied: the schema's, not a tenant's (stays on the coordinator)",
		"tenants":          "keyed by its id, which is the tenant; small, a reference table",
	}
	referenceTables = map[string]string{
		"api_token_hashes": "a token is looked up by its hash before its tenant is known; small, a reference table",
	}
)

// TestTenantKeys reads the migrated catalog: every unique index (primary
// keys included) of a table distributed on tenant_id leads with tenant_id,
// and every foreign key between two such tables includes tenant_id on both
// sides, so that the schema runs on Citus with tenant_id as the distribution
// column.
func TestTenantKeys(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	conn := connect(t)
	for _, p := range tenantKeyProblems(ctx, t, conn, "public", globalTables, referenceTables) {
		t.Error(p)
	}
}

// The check finds what it must: a schema with each kind of mistake.
func TestTenantKeysFindsMistakes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	conn := connect(t)
	schema := "keys_" + strings.ReplaceAll(pgtest.Tenant(t)[2:], "-", "_")
	ddl := []string{
		`CREATE SCHEMA ` + schema,
		`CREATE TABLE ` + schema + `.owners (id text PRIMARY KEY)`,
		`CREATE TABLE ` + schema + `.parents (id bigint PRIMARY KEY, tenant_id text NOT NULL REFERENCES ` + schema + `.owners (id),
			code text NOT NULL, UNIQUE (tenant_id, id), UNIQUE (code, tenant_id))`,
		`CREATE UNIQUE INDEX parents_code ON ` + schema + `.parents (lower(code), tenant_id)`,
		`CREATE TABLE ` + schema + `.children (tenant_id text NOT NULL, parent_id bigint NOT NULL REFERENCES ` + schema + `.parents (id),
			code text, PRIMARY KEY (tenant_id, parent_id))`,
		`ALTER TABLE ` + schema + `.children ADD FOREIGN KEY (tenant_id, code) REFERENCES ` + schema + `.parents (code, tenant_id)`,
		`CREATE TABLE ` + schema + `.good (tenant_id text NOT NULL, parent_id bigint NOT NULL, PRIMARY KEY (tenant_id, parent_id),
			FOREIGN KEY (tenant_id, parent_id) REFERENCES ` + schema + `.parents (tenant_id, id))`,
		`CREATE TABLE ` + schema + `.lookup (key bytea PRIMARY KEY, tenant_id text NOT NULL, parent_id bigint NOT NULL,
			FOREIGN KEY (tenant_id, parent_id) REFERENCES ` + schema + `.parents (tenant_id, id))`,
		`CREATE TABLE ` + schema + `.stray (id bigint PRIMARY KEY)`,
	}
	t.Cleanup(func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), `DROP SCHEMA IF EXISTS `+schema+` CASCADE`)
	})
	for _, q := range ddl {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	got := tenantKeyProblems(ctx, t, conn, schema,
		map[string]string{"owners": "the tenants", "gone": "dropped long ago"},
		map[string]string{"lookup": "global lookup"})
	want := []string{
		`children_parent_id_fkey`,         // without tenant_id
		`children_tenant_id_code_fkey`,    // tenant_id on both sides, but matched with code
		`exception "gone"`,                // a stale exception
		`lookup_tenant_id_parent_id_fkey`, // from a reference table to a distributed one
		`parents_code `,                   // an expression first
		`parents_code_tenant_id_key`,      // (code, tenant_id)
		`parents_pkey`,                    // (id)
		`table stray has no tenant_id`,    // neither distributed nor an exception
	}
	if len(got) != len(want) {
		t.Errorf("%d problems, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for _, w := range want {
		if !slices.ContainsFunc(got, func(p string) bool { return strings.Contains(p, w) }) {
			t.Errorf("no problem names %s; found:\n%s", w, strings.Join(got, "\n"))
		}
	}
}

func connect(t *testing.T) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.WithoutCancel(t.Context())) })
	return conn
}

// tenantKeyProblems lists what keeps the tables of schema from being
// distributed on tenant_id: tables without tenant_id that are not in global,
// unique indexes of distributed tables (those with tenant_id, less
// reference) whose first column is not tenant_id, foreign keys between
// distributed tables that do not match tenant_id with tenant_id, foreign keys
// from a reference or global table to a distributed one, and exceptions that
// name no table.
func tenantKeyProblems(ctx context.Context, t *testing.T, conn *pgx.Conn, schema string, global, reference map[string]string) []string {
	t.Helper()
	rows, err := conn.Query(ctx, `SELECT c.relname, EXISTS (SELECT 1 FROM pg_attribute a
			WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') ORDER BY 1`, schema)
	if err != nil {
		t.Fatal(err)
	}
	var (
		name     string
		tenanted bool
		problems []string
	)
	distributed := map[string]bool{}
	tables := map[string]bool{}
	if _, err := pgx.ForEachRow(rows, []any{&name, &tenanted}, func() error {
		tables[name] = true
		_, isGlobal := global[name]
		_, isReference := reference[name]
		switch {
		case tenanted && !isReference:
			distributed[name] = true
		case !tenanted && !isGlobal:
			problems = append(problems, fmt.Sprintf("table %s has no tenant_id: add it, or list the table as global with the reason", name))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, m := range []map[string]string{global, reference} {
		for name := range m {
			if !tables[name] {
				problems = append(problems, fmt.Sprintf("exception %q: no such table", name))
			}
		}
	}

	// Unique indexes: the first key column (attnum 0 for an expression).
	rows, err = conn.Query(ctx, `SELECT c.relname, i.relname, pg_get_indexdef(x.indexrelid),
			coalesce((SELECT a.attname FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum = x.indkey[0]), '')
		FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND x.indisunique ORDER BY 1, 2`, schema)
	if err != nil {
		t.Fatal(err)
	}
	var index, def, first string
	if _, err := pgx.ForEachRow(rows, []any{&name, &index, &def, &first}, func() error {
		if distributed[name] && first != "tenant_id" {
			problems = append(problems, fmt.Sprintf("unique index %s does not lead with tenant_id: %s", index, def))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}

	// Foreign keys: the column pairs, in order.
	rows, err = conn.Query(ctx, `SELECT c.conname, s.relname, d.relname, pg_get_constraintdef(c.oid),
			array(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(n, o)
				JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n ORDER BY k.o),
			array(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(n, o)
				JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n ORDER BY k.o)
		FROM pg_constraint c JOIN pg_class s ON s.oid = c.conrelid JOIN pg_class d ON d.oid = c.confrelid
		JOIN pg_namespace n ON n.oid = c.connamespace
		WHERE n.nspname = $1 AND c.contype = 'f' ORDER BY 1`, schema)
	if err != nil {
		t.Fatal(err)
	}
	var (
		fk, from, to  string
		cols, refCols []string
	)
	if _, err := pgx.ForEachRow(rows, []any{&fk, &from, &to, &def, &cols, &refCols}, func() error {
		switch {
		case !distributed[to]: // to a reference or global table: allowed
		case !distributed[from]:
			problems = append(problems, fmt.Sprintf("foreign key %s from %s, not distributed, to %s, distributed: %s", fk, from, to, def))
		default:
			i := slices.Index(cols, "tenant_id")
			if i < 0 || refCols[i] != "tenant_id" {
				problems = append(problems, fmt.Sprintf("foreign key %s does not match tenant_id with tenant_id: %s", fk, def))
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(problems)
	return problems
}
