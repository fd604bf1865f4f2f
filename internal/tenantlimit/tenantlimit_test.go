package tenantlimit_test

import (
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/userimport/userimport/internal/stacktest"
	"github.com/userimport/userimport/internal/tenantlimit"
)

func newLimiter(t *testing.T, limit int, lease time.Duration) *tenantlimit.Limiter {
	t.Helper()
	opt := stacktest.Redis(t, 11)
	rdb := opt.MakeRedisClient().(redis.UniversalClient)
	t.Cleanup(func() { _ = rdb.Close() })
	return tenantlimit.New(rdb, "test-"+stacktest.RandomHex(4), limit, lease)
}

func acquire(t *testing.T, l *tenantlimit.Limiter, tenant, holder string, want bool) {
	t.Helper()
	got, err := l.Acquire(t.Context(), tenant, holder)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("Acquire(%s, %s) = %t, want %t", tenant, holder, got, want)
	}
}

func TestLimitPerTenant(t *testing.T) {
	t.Parallel()
	l := newLimiter(t, 2, time.Minute)
	acquire(t, l, "big", "chunk:1", true)
	acquire(t, l, "big", "chunk:2", true)
	acquire(t, l, "big", "chunk:3", false)
	acquire(t, l, "small", "chunk:1", true) // another tenant's slots are its own
	acquire(t, l, "big", "chunk:1", true)   // a redelivered holder keeps its slot
	if err := l.Release(t.Context(), "big", "chunk:1"); err != nil {
		t.Fatal(err)
	}
	acquire(t, l, "big", "chunk:3", true)
	acquire(t, l, "big", "chunk:4", false)
	if n, err := l.InUse(t.Context(), "big"); err != nil || n != 2 {
		t.Errorf("InUse(big) = %d, %v; want 2", n, err)
	}
}

// A holder that never releases (a worker killed mid-chunk) blocks its slot
// only until the lease ends.
func TestLeaseEnds(t *testing.T) {
	t.Parallel()
	l := newLimiter(t, 1, 200*time.Millisecond)
	acquire(t, l, "acme", "killed", true)
	acquire(t, l, "acme", "next", false)
	time.Sleep(300 * time.Millisecond)
	acquire(t, l, "acme", "next", true)
}

func TestWaitingOldestFirst(t *testing.T) {
	t.Parallel()
	l := newLimiter(t, 1, time.Minute)
	for _, ticket := range []string{"q chunk:1", "q chunk:2", "q chunk:1", "q chunk:3"} {
		if err := l.Wait(t.Context(), "acme", ticket); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond) // distinct scores
	}
	var got []string
	for {
		ticket, ok, err := l.Next(t.Context(), "acme")
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		got = append(got, ticket)
	}
	if want := []string{"q chunk:1", "q chunk:2", "q chunk:3"}; !slices.Equal(got, want) {
		t.Errorf("Next handed out %q, want %q (a ticket waiting twice keeps its first place)", got, want)
	}
}

// A renewed slot outlives its first lease; one not held is not created.
func TestRenew(t *testing.T) {
	t.Parallel()
	l := newLimiter(t, 1, 400*time.Millisecond)
	acquire(t, l, "acme", "running", true)
	for range 3 {
		time.Sleep(200 * time.Millisecond)
		if ok, err := l.Renew(t.Context(), "acme", "running"); err != nil || !ok {
			t.Fatalf("Renew(running) = %t, %v; want true", ok, err)
		}
	}
	acquire(t, l, "acme", "next", false) // 600 ms after the acquire: held by the renewals
	if ok, err := l.Renew(t.Context(), "acme", "never"); err != nil || ok {
		t.Fatalf("Renew(never) = %t, %v; want false", ok, err)
	}
	if n, err := l.InUse(t.Context(), "acme"); err != nil || n != 1 {
		t.Errorf("InUse = %d, %v; want 1", n, err)
	}
}
