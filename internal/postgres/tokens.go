package postgres

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// tokenPrefix marks the service's tokens, so that a leaked one is recognisable
// (secret scanners) and a wrong kind of credential fails early.
const tokenPrefix = "uit_"

// Token is an API token as listed: never the token itself.
type Token struct {
	ID         int64
	Name       string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// CreateToken makes an API token for the tenant (created on first use) and
// returns it: the only time it is seen, since only its hash is kept.
func (s *Store) CreateToken(ctx context.Context, tenant, name string) (string, Token, error) {
	if err := s.EnsureTenant(ctx, tenant); err != nil {
		return "", Token{}, err
	}
	if strings.TrimSpace(name) == "" {
		return "", Token{}, errors.New("a token needs a name saying who or what uses it")
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", Token{}, err
	}
	secret := tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
	t := Token{Name: name}
	// The hash goes into the global lookup table: a login finds the tenant
	// there before it reads the token (see migration 00023).
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO api_tokens (tenant_id, name) VALUES ($1, $2) RETURNING id, created_at`,
			tenant, name).Scan(&t.ID, &t.CreatedAt); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO api_token_hashes (hash, tenant_id, token_id) VALUES ($1, $2, $3)`,
			tokenHash(secret), tenant, t.ID)
		return err
	})
	return secret, t, err
}

// Tokens lists the tenant's tokens.
func (s *Store) Tokens(ctx context.Context, tenant string) ([]Token, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, name, created_at, last_used_at, revoked_at FROM api_tokens
		WHERE tenant_id = $1 ORDER BY id`, tenant)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Token, error) {
		var t Token
		err := r.Scan(&t.ID, &t.Name, &t.CreatedAt, &t.LastUsedAt, &t.RevokedAt)
		return t, err
	})
}

// RevokeToken revokes one of the tenant's tokens; another tenant's is ErrNotFound.
func (s *Store) RevokeToken(ctx context.Context, tenant string, id int64) error {
	tag, err := s.pool.Exec(ctx, `UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now())
		WHERE tenant_id = $1 AND id = $2`, tenant, id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("token %d: %w", id, ErrNotFound)
	}
	return nil
}

// tokenHash is what is stored of a token. Tokens are 256 random bits, so a
// plain SHA-256 suffices (no salt or slow hash needed, unlike passwords).
func tokenHash(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// TokenName returns the name of one of the tenant's tokens, revoked or not;
// another tenant's is ErrNotFound.
func (s *Store) TokenName(ctx context.Context, tenant string, id int64) (string, error) {
	var name string
	err := s.pool.QueryRow(ctx, `SELECT name FROM api_tokens WHERE tenant_id = $1 AND id = $2`, tenant, id).Scan(&name)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("token %d: %w", id, ErrNotFound)
	}
	return name, err
}
