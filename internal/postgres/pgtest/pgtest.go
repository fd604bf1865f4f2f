// Package pgtest gives integration tests a migrated database of their own on
// the PostgreSQL server that make test provides (DATABASE_URL, or the local
// stack's default), so that they never touch data kept elsewhere.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/userimport/userimport/internal/postgres"
)

var (
	once     sync.Once
	dbURL    string
	errSetup error
)

// URL returns the URL of a database created for this test binary and
// migrated; it is dropped when the tests end (see Main).
func URL(tb testing.TB) string {
	tb.Helper()
	once.Do(func() { dbURL, errSetup = create(tb.Context()) })
	if errSetup != nil {
		tb.Fatalf("test database: %v (is PostgreSQL up? make test starts it)", errSetup)
	}
	return dbURL
}

// Store returns a Store on the test database, closed when the test ends.
func Store(tb testing.TB) *postgres.Store {
	tb.Helper()
	s, err := postgres.Open(tb.Context(), URL(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Close)
	return s
}

// Tenant returns a tenant ID no other test uses, so that tests can share the
// database and run in parallel.
func Tenant(tb testing.TB) string {
	tb.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "t-" + hex.EncodeToString(b)
}

// Main runs the tests and drops the test database afterwards. Use it in
// TestMain: os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if dbURL != "" {
		if err := drop(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest: drop test database:", err)
		}
	}
	return code
}

var name string

func serverURL() string {
	if u := os.Getenv("DATABASE_URL"); u != "" {
		return u
	}
	return postgres.DefaultURL
}

func create(ctx context.Context) (string, error) {
	admin, err := pgx.Connect(ctx, serverURL())
	if err != nil {
		return "", err
	}
	defer admin.Close(ctx)
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name = "userimport_test_" + hex.EncodeToString(b)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", err
	}
	cfg, err := pgx.ParseConfig(serverURL())
	if err != nil {
		return "", err
	}
	url := fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, name)
	if cfg.Password != "" {
		url = fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Password, cfg.Host, cfg.Port, name)
	}
	s, err := postgres.Open(ctx, url)
	if err != nil {
		return "", err
	}
	defer s.Close()
	return url, s.Migrate(ctx)
}

func drop(ctx context.Context) error {
	admin, err := pgx.Connect(ctx, serverURL())
	if err != nil {
		return err
	}
	defer admin.Close(ctx)
	_, err = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	return err
}
