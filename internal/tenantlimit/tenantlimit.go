// Package tenantlimit caps how many chunks one tenant has in flight across
// all workers, so that a tenant's large import leaves workers free for the
// others' small imports and nightly feeds.
//
// The slots of a tenant are a sorted set in Redis: members are the holders'
// task IDs, scores the time their lease ends. A worker that dies keeps its
// slot only until the lease ends. A running chunk renews its slot (Renew)
// with its heartbeat, so the worker's lease can be as short as a chunk's
// lease in PostgreSQL; a slot not renewed lets one more chunk in.
//
// Chunks turned away wait in a second sorted set, oldest first, so that a
// worker releasing a slot can call the next one in at once (Next) instead of
// leaving the slot idle until a retry comes round.
package tenantlimit

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultLease is how long a slot is held at most.
const DefaultLease = time.Minute

// Limiter hands out slots. Its zero value is not usable; see New.
type Limiter struct {
	rdb    redis.UniversalClient
	prefix string
	limit  int
	lease  time.Duration
}

// New returns a limiter of limit slots per tenant. The namespace keeps
// deployments sharing a Redis apart, as it does their queues.
func New(rdb redis.UniversalClient, namespace string, limit int, lease time.Duration) *Limiter {
	if lease <= 0 {
		lease = DefaultLease
	}
	return &Limiter{rdb: rdb, prefix: "userimport:" + namespace + ":tenant-chunks:", limit: limit, lease: lease}
}

// acquire runs in Redis, atomically: drop ended leases, then take a slot if
// one is free. A holder that has a slot (a redelivered task) gets it renewed.
// Time is Redis's own, so that workers' clocks do not matter.
var acquire = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[3]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
	redis.call('ZADD', KEYS[1], now + lease, ARGV[3])
	redis.call('PEXPIRE', KEYS[1], lease)
	return 1
end
return 0
`)

// Acquire takes a slot of tenant's for holder, and reports false when the
// tenant has all its slots in use.
func (l *Limiter) Acquire(ctx context.Context, tenant, holder string) (bool, error) {
	n, err := acquire.Run(ctx, l.rdb, []string{l.prefix + tenant}, l.limit, l.lease.Milliseconds(), holder).Int()
	if err != nil {
		return false, fmt.Errorf("tenant %s chunk slot: %w", tenant, err)
	}
	return n == 1, nil
}

// renew extends a held slot's lease, in Redis's time; a slot not held (ended,
// or never taken) is left alone.
var renew = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[1])
if redis.call('ZADD', KEYS[1], 'XX', 'CH', now + lease, ARGV[2]) == 1 then
	redis.call('PEXPIRE', KEYS[1], lease)
	return 1
end
return 0
`)

// Renew extends holder's slot by a lease from now, and reports false if
// holder has no slot. A worker renews its slots as it heartbeats its chunks
// (a lease as short as the chunk's), so that a killed worker's slots end as
// soon as its chunks are handed on.
func (l *Limiter) Renew(ctx context.Context, tenant, holder string) (bool, error) {
	n, err := renew.Run(ctx, l.rdb, []string{l.prefix + tenant}, l.lease.Milliseconds(), holder).Int()
	if err != nil {
		return false, fmt.Errorf("tenant %s chunk slot: %w", tenant, err)
	}
	return n == 1, nil
}

// Release gives holder's slot back.
func (l *Limiter) Release(ctx context.Context, tenant, holder string) error {
	if err := l.rdb.ZRem(ctx, l.prefix+tenant, holder).Err(); err != nil {
		return fmt.Errorf("tenant %s chunk slot: %w", tenant, err)
	}
	return nil
}

// waitingFor is how long a tenant's waiting list outlives its last entry.
const waitingFor = 10 * time.Minute

// Wait records that ticket was turned away; Next hands it out, oldest first.
// A ticket already waiting keeps its place.
func (l *Limiter) Wait(ctx context.Context, tenant, ticket string) error {
	key := l.prefix + tenant + ":waiting"
	_, err := l.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAddNX(ctx, key, redis.Z{Score: float64(time.Now().UnixMilli()), Member: ticket})
		p.PExpire(ctx, key, waitingFor)
		return nil
	})
	if err != nil {
		return fmt.Errorf("tenant %s waiting chunks: %w", tenant, err)
	}
	return nil
}

// Next takes the ticket that has waited longest for a slot of tenant's.
func (l *Limiter) Next(ctx context.Context, tenant string) (string, bool, error) {
	z, err := l.rdb.ZPopMin(ctx, l.prefix+tenant+":waiting", 1).Result()
	if err != nil {
		return "", false, fmt.Errorf("tenant %s waiting chunks: %w", tenant, err)
	}
	if len(z) == 0 {
		return "", false, nil
	}
	ticket, _ := z[0].Member.(string)
	return ticket, true, nil
}

// InUse returns how many of tenant's slots are held.
func (l *Limiter) InUse(ctx context.Context, tenant string) (int, error) {
	n, err := l.rdb.ZCard(ctx, l.prefix+tenant).Result()
	return int(n), err
}
