// Package gcpace sets how often the Go collector runs in the processes that
// apply imports: importctl's in-process import and the worker.
//
// An import keeps a few chunks of records alive and allocates the next ones
// fast. At Go's default pace collection took a sixth of such a process's CPU,
// on machines where PostgreSQL needs the same cores; a quarter as often, with
// a soft limit on the heap, gave 20 % of the process's CPU back (the figures
// are in bench/RESULTS.md). What an import holds does not grow with the file
// (but for the whole-file checks, some 33 bytes a record), so the heap stays a
// fixed multiple of it, and the limit keeps that multiple under a process's
// memory budget.
package gcpace

import "runtime/debug"

// Percent is the collector's GOGC: the heap grows by 400 % of what is live
// before the next collection (Go's default is 100).
const Percent = 400

// Relax sets the collector's pace to Percent and its soft memory limit to
// limit bytes, each unless the environment (getenv) sets GOGC or GOMEMLIMIT.
func Relax(getenv func(string) string, limit int64) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(Percent)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(limit)
	}
}
