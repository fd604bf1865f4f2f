package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/userimport/userimport/internal/postgres"
)

// The CPU a process used, from the kernel's accounting: what the scaling
// figures are made of (docs/scaling.md).

// processCPU is the user and system time of an exited process.
func processCPU(ps *os.ProcessState) time.Duration {
	if ps == nil {
		return 0
	}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return 0
}

// serverCPU reads the CPU PostgreSQL's processes have used so far: the
// postmaster's own, its exited children's (which the postmaster has reaped)
// and its live children's. It works where the bench runs on the server's
// host and may read its data directory and /proc (as root, or as the
// server's user); ok is false elsewhere.
type serverCPU struct {
	pid int
}

func newServerCPU(ctx context.Context, store *postgres.Store) (serverCPU, bool) {
	var dir string
	if err := store.Pool().QueryRow(ctx, "SHOW data_directory").Scan(&dir); err != nil {
		return serverCPU{}, false
	}
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid")) //nolint:gosec // G304: the server's own pid file
	if err != nil {
		return serverCPU{}, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		return serverCPU{}, false
	}
	c := serverCPU{pid: pid}
	if _, ok := c.used(); !ok {
		return serverCPU{}, false
	}
	return c, true
}

// clockTick is USER_HZ, the unit of /proc's times on Linux.
const clockTick = 100

// used is the CPU the server has used so far.
func (c serverCPU) used() (time.Duration, bool) {
	self, ok := procTimes(strconv.Itoa(c.pid), true)
	if !ok {
		return 0, false
	}
	total := self
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, false
	}
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil || e.Name() == strconv.Itoa(c.pid) {
			continue
		}
		if procParent(e.Name()) == c.pid {
			t, _ := procTimes(e.Name(), false)
			total += t
		}
	}
	return total * time.Second / clockTick, true
}

// procStat returns the fields of /proc/PID/stat after the command's name
// (which may hold spaces): field 3, the state, is the first.
func procStat(pid string) []string {
	b, err := os.ReadFile(filepath.Join("/proc", pid, "stat")) //nolint:gosec // G304: /proc
	if err != nil {
		return nil
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

// procTimes is a process's utime+stime in ticks, with its reaped children's
// cutime+cstime when children is set.
func procTimes(pid string, children bool) (time.Duration, bool) {
	f := procStat(pid)
	if len(f) < 15 {
		return 0, false
	}
	fields := []int{11, 12} // utime, stime: fields 14 and 15
	if children {
		fields = append(fields, 13, 14) // cutime, cstime
	}
	var total time.Duration
	for _, i := range fields {
		v, err := strconv.ParseInt(f[i], 10, 64)
		if err != nil {
			return 0, false
		}
		total += time.Duration(v)
	}
	return total, true
}

func procParent(pid string) int {
	f := procStat(pid)
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// cpuPerThousand formats CPU time per 1,000 records.
func cpuPerThousand(d time.Duration, records int) string {
	if records == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f ms", float64(d.Milliseconds())*1000/float64(records))
}
