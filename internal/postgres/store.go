// Package postgres is the store: users, their groups, extensions and roles,
// the tenants' role catalogs and the import jobs, in PostgreSQL through pgx.
//
// Every query names the tenant in its predicate. Writes of users happen in
// ApplyChunk, set-based, a handful of statements per chunk of records.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"regexp"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// DefaultURL is the local stack's database, used when DATABASE_URL is empty.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/userimport?sslmode=disable"

// Domain errors the store translates library errors into.
var (
	ErrNotFound      = errors.New("not found")
	ErrInvalidTenant = errors.New(`tenant IDs are 1 to 63 lower-case letters, digits, "-" or "_", starting with a letter or digit`)
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the PostgreSQL store. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
}

// Open connects to the database at url (DefaultURL when empty). It does not
// migrate: call Migrate.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if url == "" {
		url = DefaultURL
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w (want postgres://user:password@host:port/database)", err)
	}
	// The importer's statements are short and many: LLVM compilation costs
	// more than it ever saves them (70 ms a statement measured).
	cfg.ConnConfig.RuntimeParams["jit"] = "off"
	if o.tp != nil {
		cfg.ConnConfig.Tracer = newQueryTracer(o.tp, cfg.ConnConfig)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to PostgreSQL at %s: %w (is it running? make up starts the local one)", redact(cfg.ConnConfig), err)
	}
	return &Store{pool: pool}, nil
}

// redact names the server without the password.
func redact(c *pgx.ConnConfig) string {
	return fmt.Sprintf("%s:%d/%s", c.Host, c.Port, c.Database)
}

// Close closes the connections.
func (s *Store) Close() { s.pool.Close() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// migrationLockID keys the advisory lock that serialises migrations: several
// workers starting at once migrate one after the other.
const migrationLockID = 0x75736572696d70 // "userimp"

// Migrate brings the schema up to date. It is idempotent and safe to run from
// several processes at once.
func (s *Store) Migrate(ctx context.Context) error {
	// Workers that start together wait for the first: poll the lock every
	// second (goose's default is five) for up to five minutes.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID), lock.WithLockTimeout(1, 300))
	if err != nil {
		return err
	}
	db := stdlib.OpenDBFromPool(s.pool)
	defer db.Close()
	// Out of order: branches take their numbers when they are written and
	// may land in another order, so a database may have applied a later
	// number before an earlier one reaches it. No migration depends on one
	// numbered after it.
	p, err := goose.NewProvider(goose.DialectPostgres, db, mustSub(migrations, "migrations"),
		goose.WithSessionLocker(locker), goose.WithAllowOutofOrder(true))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// SchemaVersion returns the version of the last migration applied.
func (s *Store) SchemaVersion(ctx context.Context) (int64, error) {
	db := stdlib.OpenDBFromPool(s.pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, mustSub(migrations, "migrations"))
	if err != nil {
		return 0, err
	}
	return p.GetDBVersion(ctx)
}

var tenantID = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ValidTenant checks a tenant ID's form.
func ValidTenant(id string) error {
	if !tenantID.MatchString(id) {
		return fmt.Errorf("tenant %q: %w", id, ErrInvalidTenant)
	}
	return nil
}

// EnsureTenant creates the tenant on first use: a tenant is just an ID.
func (s *Store) EnsureTenant(ctx context.Context, tenant string) error {
	if err := ValidTenant(tenant); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO tenants (id) VALUES ($1) ON CONFLICT (id) DO NOTHING`, tenant)
	return err
}

// refusedError is the engine refusing a record itself, as the database
// refuses one that breaks a constraint.
type refusedError string

func (e refusedError) Error() string { return string(e) }

// isDataError reports whether err is the database (or the engine) refusing
// data (a constraint, a value out of range): the record is at fault, not the
// system, and retrying will not help.
func isDataError(err error) bool {
	var refused refusedError
	if errors.As(err, &refused) {
		return true
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code[:2] {
	case "22", "23": // data exception, integrity constraint violation
		return true
	}
	return false
}

// Pool returns the connection pool, for tests and health checks.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }
