// Package lifecycle owns the vocabulary of an import's life: its kinds, its
// options, and the states of imports, chunks and feed runs with the moves
// allowed between them. It holds no I/O: the store guards every move in SQL
// with the sets this package derives (UPDATE … WHERE state = ANY(From(to))),
// and docs/state-machine.md draws the same table, checked by a test.
//
// An import is accepted (planning), planned into chunks (running), applied
// chunk by chunk, and finalized (finished, rejected or failed: the report and
// the e-mail). A chunk is pending until the transaction that applies it marks
// it done. A feed run imports its feed's newest file and then, in full mode,
// deactivates the users absent from it, or holds them for approval.
package lifecycle

import (
	"fmt"
	"slices"
)

// Kind says how an import came in; it decides its queue and how it is shown.
type Kind string

// The kinds of import.
const (
	KindUpload Kind = "upload" // a file sent through the API, the web pages or importctl
	KindLocal  Kind = "local"  // importctl import --local: applied in that process
	KindRetry  Kind = "retry"  // the rejected records of an earlier import, again
	KindFeed   Kind = "feed"   // a scheduled run of a tenant's HR feed
	KindEvent  Kind = "event"  // an object announced by an S3 event notification
	KindUndo   Kind = "undo"   // puts back what an earlier import (its parent) changed
)

// Kinds lists every kind, in the order the schema's CHECK lists them.
func Kinds() []Kind { return []Kind{KindUpload, KindLocal, KindRetry, KindFeed, KindEvent, KindUndo} }

// Bulk reports whether imports of the kind go to the bulk queue: unattended
// ones, whose uploader is not waiting at a screen.
func (k Kind) Bulk() bool { return k == KindFeed || k == KindEvent }

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool { return slices.Contains(Kinds(), k) }

// ImportState is where an import is in its life.
type ImportState string

// The states of an import.
const (
	ImportPlanning ImportState = "planning" // accepted; its file is being read and cut into chunks
	ImportRunning  ImportState = "running"  // planned; its chunks are being applied
	ImportFinished ImportState = "finished" // every chunk applied (some records may be rejected)
	ImportRejected ImportState = "rejected" // the file was refused as a whole; nothing applied
	ImportFailed   ImportState = "failed"   // stopped by an error no retry mends; applied chunks stay
)

// Ended reports whether the import is past applying: only finalize's report
// and e-mail may still be owed.
func (s ImportState) Ended() bool {
	return s == ImportFinished || s == ImportRejected || s == ImportFailed
}

// ImportStates lists the states of an import, in the order of its life.
func ImportStates() []ImportState {
	return []ImportState{ImportPlanning, ImportRunning, ImportFinished, ImportRejected, ImportFailed}
}

// ParseImportState returns the state named s, for an API or CLI filter.
func ParseImportState(s string) (ImportState, error) {
	if st := ImportState(s); slices.Contains(ImportStates(), st) {
		return st, nil
	}
	return "", fmt.Errorf("unknown import state %q: use one of %v", s, ImportStates())
}

// ChunkState is whether a chunk is applied.
type ChunkState string

// The states of a chunk.
const (
	ChunkPending ChunkState = "pending"
	ChunkDone    ChunkState = "done"
)

// ChunkStates lists the states of a chunk.
func ChunkStates() []ChunkState { return []ChunkState{ChunkPending, ChunkDone} }

// FeedRunState is where a scheduled run of a feed is.
type FeedRunState string

// The states of a feed run.
const (
	RunNothingNew    FeedRunState = "nothing_new"    // the newest file was applied before: nothing imported
	RunImporting     FeedRunState = "importing"      // its import is under way
	RunFinished      FeedRunState = "finished"       // imported, and deactivations (if any) done
	RunNeedsApproval FeedRunState = "needs_approval" // deactivations over the feed's limits wait for a person
	RunApplied       FeedRunState = "applied"        // a person approved the held deactivations
	RunRejected      FeedRunState = "rejected"       // a person dropped the held deactivations
	RunSuperseded    FeedRunState = "superseded"     // a later run's file came first: this one changes nobody's activation
	RunFailed        FeedRunState = "failed"         // its import was rejected or failed
)

// FeedRunStates lists the states of a feed run.
func FeedRunStates() []FeedRunState {
	return []FeedRunState{RunNothingNew, RunImporting, RunFinished, RunNeedsApproval, RunApplied, RunRejected, RunSuperseded, RunFailed}
}

// RunsStepped lists the states of a run whose feed step ran: its file was
// applied, whatever was then decided about the deactivations (or a later
// run's step superseded it).
func RunsStepped() []FeedRunState {
	return []FeedRunState{RunFinished, RunNeedsApproval, RunApplied, RunRejected, RunSuperseded}
}

// Move is one allowed transition and who makes it. From is "" for the state a
// new row starts in.
type Move[S ~string] struct {
	From, To S
	By       string
}

// ImportMoves are the transitions of an import.
func ImportMoves() []Move[ImportState] {
	return []Move[ImportState]{
		{"", ImportPlanning, "intake.Start: every entry point"},
		{ImportPlanning, ImportRunning, "the plan task stores the plan and its chunks"},
		{ImportPlanning, ImportRejected, "the plan task refuses the file as a whole"},
		{ImportRunning, ImportRejected, "a local import finds the file over the size limit at its end"},
		{ImportPlanning, ImportFinished, "a local import of a file without records"},
		{ImportRunning, ImportFinished, "finalize, once every chunk is done"},
		{ImportPlanning, ImportFailed, "a task's last retry fails, or an error no retry mends"},
		{ImportRunning, ImportFailed, "a task's last retry fails, or an error no retry mends"},
	}
}

// ChunkMoves are the transitions of a chunk.
func ChunkMoves() []Move[ChunkState] {
	return []Move[ChunkState]{
		{"", ChunkPending, "the plan task, or a local import, records the chunk"},
		{ChunkPending, ChunkDone, "the engine's transaction that applies it"},
	}
}

// FeedRunMoves are the transitions of a feed run.
func FeedRunMoves() []Move[FeedRunState] {
	return []Move[FeedRunState]{
		{"", RunNothingNew, "the feed:run task: the newest object was applied by the last run"},
		{"", RunImporting, "the feed:run task, in the transaction that accepts its import"},
		{RunImporting, RunFinished, "finalize of its import: the feed's step"},
		{RunImporting, RunNeedsApproval, "finalize of its import: deactivations over the limits"},
		{RunImporting, RunSuperseded, "finalize of its import: a later run was applied first"},
		{RunImporting, RunFailed, "finalize of its import: the import was rejected or failed"},
		{RunNeedsApproval, RunApplied, "a person approves (importctl, API, web pages)"},
		{RunNeedsApproval, RunRejected, "a person rejects"},
		{RunNeedsApproval, RunSuperseded, "a later run's step"},
	}
}

// From returns the states from which moves reach to: the guard of a
// transition's UPDATE.
func From[S ~string](moves []Move[S], to S) []S {
	var out []S
	for _, m := range moves {
		if m.To == to && m.From != "" && !slices.Contains(out, m.From) {
			out = append(out, m.From)
		}
	}
	return out
}

// Strings turns states into the text[] a query takes.
func Strings[S ~string](states ...S) []string {
	out := make([]string, len(states))
	for i, s := range states {
		out[i] = string(s)
	}
	return out
}

// RecordOutcome is what an import did, or a dry run would do, with one
// record.
type RecordOutcome string

// The outcomes of a record.
const (
	OutcomeCreate    RecordOutcome = "create"
	OutcomeUpdate    RecordOutcome = "update"
	OutcomeUnchanged RecordOutcome = "unchanged"
	OutcomeRejected  RecordOutcome = "rejected"
)
