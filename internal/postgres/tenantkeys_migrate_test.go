package postgres_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for goose
	"github.com/pressly/goose/v3"

	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/postgres/pgtest"
)

// beforeTenantKeys is the last schema version whose keys were the tables' own
// IDs.
const beforeTenantKeys = 20

// freshDatabase creates an empty database, dropped when the test ends, and
// returns its URL.
func freshDatabase(t *testing.T) string {
	t.Helper()
	ctx := t.Context()
	adminURL := pgtest.URL(t)
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	db := "keys_" + strings.ReplaceAll(pgtest.Tenant(t)[2:], "-", "_")
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{db}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.WithoutCancel(ctx)
		if admin, err := pgx.Connect(ctx, adminURL); err == nil {
			_, _ = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{db}.Sanitize()+" WITH (FORCE)")
			_ = admin.Close(ctx)
		}
	})
	cfg := admin.Config()
	return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, db)
}

// migrateTo applies the migrations up to version v only.
func migrateTo(t *testing.T, url string, v int64) {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, os.DirFS("migrations"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(t.Context(), v); err != nil {
		t.Fatal(err)
	}
}

// oldTenant writes, with the keys of version 20, a tenant's import with a
// chunk, its lease and record, a dry run previewed and edited, an API token
// and a web session on it, a feed and a run of it. chunkTenant is the
// tenant the chunk's row names (the import's, unless a test wants it wrong).
type oldTenant struct {
	tenant, chunkTenant, token, session string
	importID, dryRunID, tokenID, runID  int64
}

func (o *oldTenant) write(ctx context.Context, t *testing.T, conn *pgx.Conn) {
	t.Helper()
	hash := func(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }
	steps := []struct {
		sql  string
		args []any
		id   *int64
	}{
		{`INSERT INTO tenants (id) VALUES ($1), ($2) ON CONFLICT DO NOTHING`, []any{o.tenant, o.chunkTenant}, nil},
		{`INSERT INTO imports (tenant_id, source, state) VALUES ($1, 'a.csv', 'finished') RETURNING id`, []any{o.tenant}, &o.importID},
		{`INSERT INTO imports (tenant_id, kind, parent_id, source, dry_run, state) VALUES ($1, 'retry', $2, 'b.csv', true, 'finished')
			RETURNING id`, []any{o.tenant, &o.importID}, &o.dryRunID},
		{`INSERT INTO import_chunks (import_id, seq, tenant_id, byte_offset, byte_length, first_line, records)
			VALUES ($1, 0, $2, 0, 10, 2, 1)`, []any{&o.importID, o.chunkTenant}, nil},
		{`INSERT INTO chunk_leases (tenant_id, import_id, seq, worker_id) VALUES ($1, $2, 0, 'w1')`, []any{o.chunkTenant, &o.importID}, nil},
		{`INSERT INTO import_records (import_id, line, tenant_id, outcome) VALUES ($1, 2, $2, 'create')`, []any{&o.importID, o.tenant}, nil},
		{`INSERT INTO api_tokens (tenant_id, name, hash) VALUES ($1, 'ci', $2) RETURNING id`, []any{o.tenant, hash(o.token)}, &o.tokenID},
		{`INSERT INTO web_sessions (id_hash, tenant_id, token_id, expires_at) VALUES ($1, $2, $3, now() + interval '1 hour')`,
			[]any{hash("web session\x00" + o.session), o.tenant, &o.tokenID}, nil},
		{`WITH f AS (INSERT INTO feeds (tenant_id, name, prefix, schedule) VALUES ($1, 'hr', 'feeds/' || $1 || '/hr/', '@daily') RETURNING id)
			INSERT INTO feed_runs (feed_id, tenant_id, scheduled_for, state, import_id) SELECT id, $1, now(), 'finished', $2 FROM f
			RETURNING id`, []any{o.tenant, &o.importID}, &o.runID},
		{`INSERT INTO feed_run_deactivations (run_id, tenant_id, user_id) VALUES ($1, $2, 1)`, []any{&o.runID, o.tenant}, nil},
		{`INSERT INTO web_previews (import_id, tenant_id) VALUES ($1, $2)`, []any{&o.dryRunID, o.tenant}, nil},
		{`INSERT INTO web_edits (import_id, line, tenant_id, byte_offset, byte_end, fields, errors)
			VALUES ($1, 2, $2, 0, 5, '[]', '[]')`, []any{&o.dryRunID, o.tenant}, nil},
	}
	for _, s := range steps {
		args := make([]any, len(s.args))
		for i, a := range s.args {
			if p, ok := a.(*int64); ok {
				a = *p
			}
			args[i] = a
		}
		var err error
		if s.id != nil {
			err = conn.QueryRow(ctx, s.sql, args...).Scan(s.id)
		} else {
			_, err = conn.Exec(ctx, s.sql, args...)
		}
		if err != nil {
			t.Fatalf("%s: %v", s.sql, err)
		}
	}
}

// A database with data in it migrates to the tenant keys, and the service
// finds everything again: the token issued before logs in, its session holds.
func TestTenantKeysMigrateData(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := freshDatabase(t)
	migrateTo(t, url, beforeTenantKeys)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	a := oldTenant{tenant: "acme", chunkTenant: "acme", token: "uit_issued-before", session: "session-before"}
	a.write(ctx, t, conn)
	b := oldTenant{tenant: "beta", chunkTenant: "beta", token: "uit_other-tenant", session: "other-session"}
	b.write(ctx, t, conn)

	s, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	for _, o := range []oldTenant{a, b} {
		if tenant, id, err := s.TokenLogin(ctx, o.token); err != nil || tenant != o.tenant || id != o.tokenID {
			t.Errorf("token of %s: %s, %d, %v; want %s, %d", o.tenant, tenant, id, err, o.tenant, o.tokenID)
		}
		if ok, err := s.WebSessionValid(ctx, o.tenant, o.session); !ok || err != nil {
			t.Errorf("session of %s: %t, %v", o.tenant, ok, err)
		}
		if r, err := s.FeedRun(ctx, o.tenant, o.runID); err != nil || r.ImportID != o.importID {
			t.Errorf("feed run of %s: import %d, %v; want %d", o.tenant, r.ImportID, err, o.importID)
		}
		if _, err := s.Preview(ctx, o.tenant, o.dryRunID); err != nil {
			t.Errorf("preview of %s: %v", o.tenant, err)
		}
		if im, err := s.Import(ctx, o.tenant, o.importID); err != nil || im.ID != o.importID {
			t.Errorf("import of %s: %+v, %v", o.tenant, im, err)
		}
	}
	if ok, err := s.WebSessionValid(ctx, b.tenant, a.session); ok || err != nil {
		t.Errorf("acme's session is valid for beta: %t, %v", ok, err)
	}
	var rows int
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM imports) + (SELECT count(*) FROM import_chunks)
		+ (SELECT count(*) FROM chunk_leases) + (SELECT count(*) FROM import_records) + (SELECT count(*) FROM api_tokens)
		+ (SELECT count(*) FROM api_token_hashes) + (SELECT count(*) FROM web_sessions) + (SELECT count(*) FROM feed_runs)
		+ (SELECT count(*) FROM feed_run_deactivations) + (SELECT count(*) FROM web_previews) + (SELECT count(*) FROM web_edits)`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if want := 2 * 12; rows != want {
		t.Errorf("%d rows after the migration, want %d", rows, want)
	}
}

// Rows of one tenant that point at another tenant's are not carried over
// into composite keys: the migration fails and changes nothing.
func TestTenantKeysMigrateRefusesCrossTenantRows(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := freshDatabase(t)
	migrateTo(t, url, beforeTenantKeys)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	o := oldTenant{tenant: "acme", chunkTenant: "beta", token: "uit_x", session: "s"}
	o.write(ctx, t, conn)

	s, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Migrate(ctx)
	if err == nil || !strings.Contains(err.Error(), "version:23") || !strings.Contains(err.Error(), "foreign key") {
		t.Fatalf("migrate: %v; want migration 23 to fail on a foreign key", err)
	}
	var hashes bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_attribute
		WHERE attrelid = 'api_tokens'::regclass AND attname = 'hash' AND NOT attisdropped)`).Scan(&hashes); err != nil || !hashes {
		t.Errorf("api_tokens.hash after the failed migration: %t, %v", hashes, err)
	}
}
