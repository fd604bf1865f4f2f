package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/userimport/userimport/internal/postgres/pgtest"
)

// proc is one of the service's processes, started by a test.
type proc struct {
	name string
	cmd  *exec.Cmd
	logs *logBuffer
	done chan struct{}
	err  error // set when done is closed
}

// logBuffer is a process's output, readable while the process writes it.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// start runs bin/name with environ plus extra. At the end of the test it is
// stopped with SIGTERM, and its output is logged if the test failed.
func start(t *testing.T, bin, name string, environ []string, extra ...string) *proc {
	t.Helper()
	return startProgram(t, filepath.Join(bin, name), nil, append(append([]string{}, environ...), extra...))
}

// startProgram runs the program at path with args and environ, as start does.
func startProgram(t *testing.T, path string, args, environ []string) *proc {
	t.Helper()
	name := filepath.Base(path)
	p := &proc{name: name, logs: &logBuffer{}, done: make(chan struct{})}
	p.cmd = exec.CommandContext(context.WithoutCancel(t.Context()), path, args...)
	p.cmd.Env = environ
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		if err := p.stop(t, 30*time.Second); err != nil && !t.Failed() {
			t.Logf("%s: %v", name, err)
		}
		if t.Failed() {
			t.Logf("%s (pid %d) log:\n%s", name, p.cmd.Process.Pid, p.logs)
		}
	})
	return p
}

// stop sends SIGTERM and waits for the process to exit, killing it after
// timeout; it returns the exit error (nil for a clean exit).
func (p *proc) stop(t *testing.T, timeout time.Duration) error {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within %s", p.name, timeout)
	}
	return p.err
}

// importRow is an import as the tests watch it, straight from PostgreSQL.
type importRow struct {
	State                                          string
	Chunks, ChunksDone                             int
	Records, Created, Updated, Unchanged, Rejected int
	CreatedAt                                      time.Time
	FinishedAt                                     *time.Time
}

// watchImports reads imports from the test database.
func watchImports(t *testing.T) func(id int64) importRow {
	t.Helper()
	return watchImportsAt(t, pgtest.URL(t))
}

// watchImportsAt reads imports from the database at dbURL.
func watchImportsAt(t *testing.T, dbURL string) func(id int64) importRow {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.WithoutCancel(t.Context())) })
	return func(id int64) importRow {
		t.Helper()
		var r importRow
		err := conn.QueryRow(t.Context(), `SELECT state, chunks, chunks_done, records, created, updated, unchanged, rejected,
			created_at, finished_at FROM imports WHERE id = $1`, id).Scan(&r.State, &r.Chunks, &r.ChunksDone, &r.Records,
			&r.Created, &r.Updated, &r.Unchanged, &r.Rejected, &r.CreatedAt, &r.FinishedAt)
		if err != nil {
			t.Fatalf("import %d: %v", id, err)
		}
		return r
	}
}

// ctl runs importctl and returns its standard output; exit codes above
// maxCode fail the test.
func ctl(t *testing.T, bin string, environ []string, maxCode int, args ...string) (int, []byte) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), filepath.Join(bin, "importctl"), args...)
	cmd.Env = environ
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	code := 0
	if ee := (*exec.ExitError)(nil); err != nil {
		if !asExit(err, &ee) {
			t.Fatalf("importctl %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	if code > maxCode {
		t.Fatalf("importctl %v: exit %d: %s", args, code, stderr.Bytes())
	}
	return code, out
}

// queueImport queues path for tenant with importctl and returns the import's ID.
func queueImport(t *testing.T, bin string, environ []string, tenant, path string, extra ...string) int64 {
	t.Helper()
	args := append([]string{"import", "--tenant", tenant, "--format", "json"}, extra...)
	_, out := ctl(t, bin, environ, 0, append(args, path)...)
	var q struct {
		ID int64 `json:"id"`
	}
	if err := json.Unmarshal(out, &q); err != nil || q.ID == 0 {
		t.Fatalf("importctl import: %q: %v", out, err)
	}
	return q.ID
}

// waitFinished waits until import id has its result.
func waitFinished(t *testing.T, get func(int64) importRow, id int64, within time.Duration) importRow {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		r := get(id)
		switch r.State {
		case "finished":
			return r
		case "rejected", "failed":
			t.Fatalf("import %d %s", id, r.State)
		}
		if time.Now().After(deadline) {
			t.Fatalf("import %d still %s after %s (%d of %d chunks)", id, r.State, within, r.ChunksDone, r.Chunks)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// importResult is an import as importctl import --wait and status print it
// with --format json.
type importResult struct {
	ID        int64  `json:"id"`
	State     string `json:"state"`
	Records   int    `json:"records"`
	Created   int    `json:"created"`
	Updated   int    `json:"updated"`
	Unchanged int    `json:"unchanged"`
	Rejected  int    `json:"rejected"`
	Report    string `json:"report"`
	Error     string `json:"error"`
	// Rejections group the rejected records by reason.
	Rejections []struct {
		Column  string `json:"column"`
		Message string `json:"message"`
		Records int    `json:"records"`
	} `json:"rejections"`
}
