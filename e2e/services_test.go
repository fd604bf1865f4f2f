package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// redisServer is a Redis of the test's own, without persistence, that the
// test may stop and start again on the same port.
type redisServer struct {
	t    *testing.T
	port int
	cmd  *exec.Cmd
}

func newRedis(t *testing.T) *redisServer {
	t.Helper()
	r := &redisServer{t: t, port: freePort(t)}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *redisServer) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

func (r *redisServer) start() {
	r.t.Helper()
	server, err := exec.LookPath("redis-server")
	if err != nil {
		r.t.Fatal("redis-server is not installed (deploy/local/stack.sh up installs it)")
	}
	r.cmd = exec.CommandContext(context.WithoutCancel(r.t.Context()), server, "--port", itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.t.TempDir())
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	waitTCP(r.t, fmt.Sprintf("127.0.0.1:%d", r.port))
}

// stop kills Redis: what it held is gone.
func (r *redisServer) stop() {
	if r.cmd != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

// pgServer is a PostgreSQL cluster of the test's own, which the test may
// crash (immediate shutdown: open transactions are lost, committed ones kept)
// and start again.
type pgServer struct {
	t         *testing.T
	bin, data string
	port      int
}

func newPostgres(t *testing.T) *pgServer {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		t.Fatal("PostgreSQL's server binaries are not installed (deploy/local/stack.sh up installs them)")
	}
	// The cluster belongs to user postgres when the tests run as root, as
	// PostgreSQL refuses to run as root; its directory must be theirs.
	dir, err := os.MkdirTemp("/var/tmp", "userimport-faults-pg-") //nolint:usetesting // t.TempDir is root-only (0700); user postgres must reach this one
	if err != nil {
		t.Fatal(err)
	}
	p := &pgServer{t: t, bin: filepath.Dir(bins[len(bins)-1]), data: filepath.Join(dir, "data"), port: freePort(t)}
	t.Cleanup(func() {
		_, _ = p.run("pg_ctl", "-D", p.data, "-m", "immediate", "-w", "stop") // already stopped is fine
		_ = os.RemoveAll(dir)
	})
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatal(err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := p.run("initdb", "-D", p.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	p.start()
	conn, err := pgx.Connect(t.Context(), p.url("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(t.Context()))
	if _, err := conn.Exec(t.Context(), "CREATE DATABASE userimport"); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *pgServer) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.port, db)
}

// run runs a PostgreSQL program, as user postgres when the test is root.
func (p *pgServer) run(name string, args ...string) ([]byte, error) {
	argv := append([]string{filepath.Join(p.bin, name)}, args...)
	if os.Geteuid() == 0 {
		argv = append([]string{"runuser", "-u", "postgres", "--"}, argv...)
	}
	cmd := exec.CommandContext(context.WithoutCancel(p.t.Context()), argv[0], argv[1:]...)
	cmd.Dir = "/"
	return cmd.CombinedOutput()
}

func (p *pgServer) start() {
	p.t.Helper()
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -k %s -c fsync=off -c max_connections=200", p.port, filepath.Dir(p.data))
	if out, err := p.run("pg_ctl", "-D", p.data, "-o", opts, "-l", filepath.Join(filepath.Dir(p.data), "log"), "-w", "-t", "60", "start"); err != nil {
		p.t.Fatalf("pg_ctl start: %v\n%s", err, out)
	}
}

// crash stops PostgreSQL at once, as a crash would.
func (p *pgServer) crash() {
	p.t.Helper()
	if out, err := p.run("pg_ctl", "-D", p.data, "-m", "immediate", "-w", "stop"); err != nil {
		p.t.Fatalf("pg_ctl stop: %v\n%s", err, out)
	}
}

// openTransactions counts the transactions that have written something,
// open now on connections named app (application_name).
func openTransactions(t *testing.T, conn *pgx.Conn, app string) int {
	t.Helper()
	var n int
	err := conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity
		WHERE application_name = $1 AND backend_xid IS NOT NULL`, app).Scan(&n)
	if err != nil && !strings.Contains(err.Error(), "closed") {
		t.Fatal(err)
	}
	return n
}

func waitTCP(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var d net.Dialer
		if c, err := d.DialContext(t.Context(), "tcp", addr); err == nil {
			_ = c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not answer", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
