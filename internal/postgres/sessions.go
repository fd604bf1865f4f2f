package postgres

import (
	"context"
	"crypto/sha256"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// CreateWebSession records a web session of the tenant, made with its token
// tokenID, until expires. id is the session's random ID from the cookie;
// only its hash is stored. The tenant's expired sessions go at the same time.
func (s *Store) CreateWebSession(ctx context.Context, tenant string, tokenID int64, id string, expires time.Time) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM web_sessions WHERE tenant_id = $1 AND expires_at <= now()`, tenant); err != nil {
		return err
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO web_sessions (id_hash, tenant_id, token_id, expires_at) VALUES ($1, $2, $3, $4)`,
		sessionHash(id), tenant, tokenID, expires)
	return err
}

// WebSessionValid reports whether the tenant's session id exists, has not
// expired and was made with a token that is not revoked.
func (s *Store) WebSessionValid(ctx context.Context, tenant, id string) (bool, error) {
	var one int
	err := s.pool.QueryRow(ctx, `SELECT 1 FROM web_sessions s JOIN api_tokens t ON t.tenant_id = s.tenant_id AND t.id = s.token_id
		WHERE s.id_hash = $1 AND s.tenant_id = $2 AND s.expires_at > now() AND t.revoked_at IS NULL`, sessionHash(id), tenant).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// EndWebSession deletes the tenant's session id (logging out); an unknown
// one is not an error.
func (s *Store) EndWebSession(ctx context.Context, tenant, id string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM web_sessions WHERE id_hash = $1 AND tenant_id = $2`, sessionHash(id), tenant)
	return err
}

// sessionHash is what is stored of a session ID: 128 random bits, so a plain
// SHA-256 suffices, as for tokens.
func sessionHash(id string) []byte {
	h := sha256.Sum256([]byte("web session\x00" + id))
	return h[:]
}
