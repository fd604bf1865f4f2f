package postgres

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/userrow"
)

// Chunk names one chunk of an import.
type Chunk struct {
	Tenant   string
	ImportID int64
	Seq      int
}

// Record is one record of a chunk as the engine takes it: a validated user,
// or a record the validator rejected (Errors), which is only reported.
type Record struct {
	Line   int
	User   userrow.User
	Errors []userrow.Problem
	Raw    []byte
}

// Outcome says what applying a chunk did.
type Outcome struct {
	Created, Updated, Unchanged, Rejected int
	// AlreadyApplied: the chunk had been applied before (a redelivered task);
	// nothing was written and the counts are those of the first time.
	AlreadyApplied bool
}

// ApplyOptions are the import-wide settings a chunk is applied with.
type ApplyOptions struct {
	Defaults userrow.Defaults // for users created
	// DryRun classifies the records (create, update, unchanged, rejected) and
	// notes the groups and extensions that would be created, but writes no
	// user, group, extension or membership. The chunk is still marked done.
	DryRun bool
	// Lease, if set, must still hold the chunk when it is applied (see
	// ClaimChunk): otherwise ErrStaleLease, and nothing is written.
	Lease *Lease
}

// errRaced says a user the chunk creates was created meanwhile by another
// transaction (another import of the same tenant): classify again and retry.
var errRaced = errors.New("a user was created concurrently")

// ApplyChunk writes one chunk of records for one tenant in one transaction:
// new users are created with the defaults, existing ones updated in the
// columns the record gives, and records identical to what is stored left
// alone. Groups and extensions that do not exist are created; memberships are
// replaced where the record gives the column. The chunk is marked done in the
// same transaction, so applying it again changes nothing.
//
// A record the database refuses (a constraint) is found by bisection and
// rejected with the database's message; the rest are written. Any other
// error fails the whole call, which the caller retries.
func (s *Store) ApplyChunk(ctx context.Context, c Chunk, recs []Record, opts ApplyOptions) (Outcome, error) {
	for attempt := 0; ; attempt++ {
		out, err := s.applyChunk(ctx, c, recs, opts)
		if errors.Is(err, errRaced) && attempt < 3 {
			continue
		}
		return out, err
	}
}

// genericPlans makes a chunk's lookups (users by Login ID, extensions by
// number: each "tenant_id = $1 AND key = ANY($2)") plan for any tenant, not
// for this one. Planned for the tenant's value, a tenant the statistics do
// not know yet (a new tenant's first import into a large store, or any
// tenant's before ANALYZE runs) is estimated at one user, and the planner
// reads all of the tenant's users by the primary key, filtering on the Login
// IDs, for every chunk: a million-record import took 109 s instead of 48 s
// (bench/RESULTS.md). The generic plan uses the key's index whatever the
// tenant holds. Only the lookups run so: the statements that lock rows keep
// the plans, and the lock order, they had.
const genericPlans = `SET LOCAL plan_cache_mode = force_generic_plan`

// lookupMode runs the lookups as unnamed statements (at the cost of a second
// round trip each), so that each chunk's generic plan is made for the tables
// as they are. A statement prepared once per connection kept the generic
// plan of its first use: made while a new database's tables were empty, it
// read all of the tenant's users by the primary key for good, and a fresh
// import of 100,000 users took 30 s instead of 2.8 s.
const lookupMode = pgx.QueryExecModeDescribeExec

// lookup runs query, one of a chunk's lookups, for the tenant's keys with
// genericPlans and lookupMode, hands its rows to read, then puts the
// session's plan setting back.
func lookup(ctx context.Context, tx pgx.Tx, query, tenant string, keys []string, read func(pgx.Rows) error) error {
	if _, err := tx.Exec(ctx, genericPlans); err != nil {
		return err
	}
	rows, err := tx.Query(ctx, query, lookupMode, tenant, keys)
	if err != nil {
		return err
	}
	err = read(rows)
	rows.Close() // read may stop early; the connection must be free again
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `SET LOCAL plan_cache_mode TO DEFAULT`)
	return err
}

// A chunk's two lookups that read the most, by a key of their table.
const (
	usersByLogin = `SELECT id, login_key, column_hashes FROM users
		WHERE tenant_id = $1 AND login_key = ANY($2)`
	extensionsByNumber = `SELECT id, number, recording_mode, voice, instant_messaging, video, desktop_screen, set_by_import, set_by_line
		FROM extensions WHERE tenant_id = $1 AND number = ANY($2)`
)

func (s *Store) applyChunk(ctx context.Context, c Chunk, recs []Record, opts ApplyOptions) (Outcome, error) {
	var out Outcome
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var state lifecycle.ChunkState
		err := tx.QueryRow(ctx, `SELECT state, created, updated, unchanged, rejected FROM import_chunks
			WHERE tenant_id = $1 AND import_id = $2 AND seq = $3 FOR UPDATE`, c.Tenant, c.ImportID, c.Seq,
		).Scan(&state, &out.Created, &out.Updated, &out.Unchanged, &out.Rejected)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("chunk %d of import %d of tenant %s: %w", c.Seq, c.ImportID, c.Tenant, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if state == lifecycle.ChunkDone {
			out.AlreadyApplied = true
			return nil
		}
		if opts.Lease != nil {
			if err := checkLease(ctx, tx, c, *opts.Lease); err != nil {
				return err
			}
		}
		if !opts.DryRun {
			if err := waitFor(ctx, tx, c, recordLogins(recs)); err != nil {
				return err
			}
		}
		a := applier{tx: tx, chunk: c, opts: opts}
		if err := a.run(ctx, recs); err != nil {
			return err
		}
		out = a.outcome
		if err := a.writeRejects(ctx); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE import_chunks SET state = $8, created = $4, updated = $5,
			unchanged = $6, rejected = $7, applied_at = now()
			WHERE tenant_id = $1 AND import_id = $2 AND seq = $3 AND state = $9`,
			c.Tenant, c.ImportID, c.Seq, out.Created, out.Updated, out.Unchanged, out.Rejected, lifecycle.ChunkDone, lifecycle.ChunkPending)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return fmt.Errorf("chunk %d of import %d: marked done meanwhile", c.Seq, c.ImportID)
		}
		_, err = tx.Exec(ctx, `UPDATE imports SET created = created + $3, updated = updated + $4,
			unchanged = unchanged + $5, rejected = rejected + $6, records = records + $7, chunks_done = chunks_done + 1
			WHERE tenant_id = $1 AND id = $2`,
			c.Tenant, c.ImportID, out.Created, out.Updated, out.Unchanged, out.Rejected, len(recs))
		return err
	})
	return out, err
}

// pending is a valid record on its way into the store.
type pending struct {
	rec    *Record
	id     int64 // the user's id: existing, or reserved for a new one
	create bool
	user   userrow.User // as written: with defaults when created
	hashes [userrow.NumColumns]uint64
	// changed: the columns an update changes, whose previous values the
	// journal keeps.
	changed userrow.ColumnSet
	// changedLists: the lists (phones, groups, roles) whose memberships must
	// be replaced; a list given but equal to what is stored is left alone.
	changedLists userrow.ColumnSet
}

type reject struct {
	rec    *Record
	errors []userrow.Problem
}

type applier struct {
	tx      pgx.Tx
	chunk   Chunk
	opts    ApplyOptions
	outcome Outcome
	rejects []reject
	// records are the valid records' outcomes, kept for a dry run.
	records []recordOutcome
}

// note keeps a valid record's outcome, for a dry run's import_records (a
// real import keeps none yet).
func (a *applier) note(line int, o lifecycle.RecordOutcome, changed userrow.ColumnSet) {
	if a.opts.DryRun {
		a.records = append(a.records, recordOutcome{line: line, outcome: o, changed: changed})
	}
}

// recordOutcome is what a valid record does (would do, in a dry run).
type recordOutcome struct {
	line    int
	outcome lifecycle.RecordOutcome
	changed userrow.ColumnSet
}

// run classifies the records and writes those that change something.
func (a *applier) run(ctx context.Context, recs []Record) error {
	var valid []*Record
	seen := make(map[string]int, len(recs))
	for i := range recs {
		r := &recs[i]
		if len(r.Errors) > 0 {
			a.reject(r, r.Errors...)
			continue
		}
		key := strings.ToLower(r.User.LoginID)
		if first, dup := seen[key]; dup {
			a.reject(r, userrow.Problem{Column: userrow.LoginID, Message: fmt.Sprintf("duplicate Login ID, first at line %d", first)})
			continue
		}
		seen[key] = r.Line
		valid = append(valid, r)
	}
	work, err := a.classify(ctx, valid)
	if err != nil {
		return err
	}
	if a.opts.DryRun {
		if err := a.dryRun(ctx, work); err != nil {
			return err
		}
		return a.writeRecords(ctx)
	}
	return a.applyIsolated(ctx, work)
}

// dryRun counts what writing the records would do, and notes the groups and
// extensions they would create (once per import, across chunks).
func (a *applier) dryRun(ctx context.Context, work []*pending) error {
	groups, exts := changedGroups(work), map[string]string{}
	for _, p := range work {
		if p.create {
			a.outcome.Created++
		} else {
			a.outcome.Updated++
		}
		if p.changedLists.Has(userrow.PhoneMapping) {
			for _, n := range p.user.Phones {
				exts[n] = n
			}
		}
	}
	for _, kind := range []struct {
		name, query string
		names       map[string]string
	}{
		{"group", selectGroups, groups},
		{"extension", `SELECT id, number FROM extensions WHERE tenant_id = $1 AND number = ANY($2)`, exts},
	} {
		if len(kind.names) == 0 {
			continue
		}
		keys := sortedKeys(kind.names)
		have, err := a.idsByKey(ctx, a.tx, kind.query, keys)
		if err != nil {
			return err
		}
		missing := missingKeys(keys, have)
		spelled := make([]string, len(missing))
		for i, k := range missing {
			spelled[i] = kind.names[k]
		}
		if _, err := a.tx.Exec(ctx, `INSERT INTO import_would_create (import_id, tenant_id, kind, name)
			SELECT $1, $2, $3, unnest($4::text[]) ON CONFLICT DO NOTHING`, a.chunk.ImportID, a.chunk.Tenant, kind.name, spelled); err != nil {
			return err
		}
	}
	return nil
}

func (a *applier) reject(r *Record, probs ...userrow.Problem) {
	a.rejects = append(a.rejects, reject{rec: r, errors: probs})
	a.outcome.Rejected++
}

// classify reads what is stored for the records' Login IDs and decides, per
// record, create, update or unchanged, comparing column hashes: a record that
// matches what is stored costs no write at all.
func (a *applier) classify(ctx context.Context, recs []*Record) ([]*pending, error) {
	keys := make([]string, len(recs))
	for i, r := range recs {
		keys[i] = strings.ToLower(r.User.LoginID)
	}
	type stored struct {
		id     int64
		hashes [userrow.NumColumns]uint64
	}
	existing := make(map[string]stored, len(recs))
	var (
		id    int64
		key   string
		bytes []byte
	)
	err := lookup(ctx, a.tx, usersByLogin, a.chunk.Tenant, keys, func(rows pgx.Rows) error {
		_, err := pgx.ForEachRow(rows, []any{&id, &key, &bytes}, func() error {
			existing[key] = stored{id: id, hashes: decodeHashes(bytes)}
			return nil
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	var work []*pending
	for i, r := range recs {
		p := &pending{rec: r}
		old, ok := existing[keys[i]]
		if !ok {
			p.create = true
			p.user = r.User.ForCreate(a.opts.Defaults)
			p.hashes = p.user.ColumnHashes()
			p.changedLists = r.User.Given | listColumns // a new user gets its lists, even empty
			a.note(r.Line, lifecycle.OutcomeCreate, r.User.Given)
			work = append(work, p)
			continue
		}
		var changed userrow.ColumnSet
		p.id, p.hashes = old.id, old.hashes
		p.user, changed = compare(&r.User, &p.hashes)
		if changed == 0 {
			a.outcome.Unchanged++
			a.note(r.Line, lifecycle.OutcomeUnchanged, 0)
			continue
		}
		p.changed = changed
		p.changedLists = changed & listColumns
		a.note(r.Line, lifecycle.OutcomeUpdate, changed)
		work = append(work, p)
	}
	return work, nil
}

// compare decides what an incoming record changes in a stored user whose
// column hashes are stored: it returns the user as it will be written and the
// columns that change, and sets those columns' hashes in stored. A record
// that changes nothing costs no write.
func compare(in *userrow.User, stored *[userrow.NumColumns]uint64) (userrow.User, userrow.ColumnSet) {
	u := *in
	if stillDefaultPassword(in, *stored) {
		// The user has never set a password: whatever the record says, it
		// must still be changed at the next login (the rule on create).
		u.ChangePassword = true
	}
	incoming := u.ColumnHashes()
	var changed userrow.ColumnSet
	for c := range userrow.Column(userrow.NumColumns) {
		if in.Given.Has(c) && incoming[c] != stored[c] {
			stored[c] = incoming[c]
			changed = changed.With(c)
		}
	}
	return u, changed
}

// stillDefaultPassword reports whether a record leaves the password alone and
// the stored one is still the default, the Login ID's MD5.
func stillDefaultPassword(u *userrow.User, stored [userrow.NumColumns]uint64) bool {
	return !u.Given.Has(userrow.Password) && u.Given.Has(userrow.ChangePassword) && !u.ChangePassword &&
		stored[userrow.Password] == userrow.HashValue(userrow.Password, userrow.DefaultPassword(u.LoginID))
}

var listColumns = userrow.ColumnSet(0).With(userrow.PhoneMapping).With(userrow.Groups).With(userrow.Roles)

func encodeHashes(h [userrow.NumColumns]uint64) []byte {
	b := make([]byte, 8*len(h))
	for i, x := range h {
		binary.LittleEndian.PutUint64(b[8*i:], x)
	}
	return b
}

func decodeHashes(b []byte) [userrow.NumColumns]uint64 {
	var h [userrow.NumColumns]uint64
	for i := range h {
		if 8*i+8 <= len(b) {
			h[i] = binary.LittleEndian.Uint64(b[8*i:])
		}
	}
	return h
}

// applyIsolated writes the records in a savepoint; when the database refuses
// one, it splits the set in halves until the records at fault stand alone,
// rejects them with the database's message and writes the others.
func (a *applier) applyIsolated(ctx context.Context, work []*pending) error {
	if len(work) == 0 {
		return nil
	}
	err := pgx.BeginFunc(ctx, a.tx, func(sp pgx.Tx) error { return a.write(ctx, sp, work) })
	if err == nil {
		for _, p := range work {
			if p.create {
				a.outcome.Created++
			} else {
				a.outcome.Updated++
			}
		}
		return nil
	}
	if !isDataError(err) {
		return err
	}
	if len(work) == 1 {
		a.reject(work[0].rec, userrow.Problem{Column: userrow.NoColumn, Message: rejectMessage(err)})
		return nil
	}
	half := len(work) / 2
	if err := a.applyIsolated(ctx, work[:half]); err != nil {
		return err
	}
	return a.applyIsolated(ctx, work[half:])
}

// rejectMessage says why a record was refused at write time.
func rejectMessage(err error) string {
	var refused refusedError
	if errors.As(err, &refused) {
		return string(refused)
	}
	return "the database refused the record: " + dbMessage(err)
}

func dbMessage(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		if pe.Detail != "" {
			return pe.Message + " (" + pe.Detail + ")"
		}
		return pe.Message
	}
	return err.Error()
}

// write applies a set of records: groups, extensions, users, memberships.
func (a *applier) write(ctx context.Context, tx pgx.Tx, work []*pending) error {
	groupIDs, err := a.ensureGroups(ctx, tx, work)
	if err != nil {
		return err
	}
	roleIDs, err := a.roleIDs(ctx, tx, work)
	if err != nil {
		return err
	}
	extIDs, err := a.ensureExtensions(ctx, tx, work)
	if err != nil {
		return err
	}
	if err := a.createUsers(ctx, tx, work); err != nil {
		return err
	}
	if err := a.updateUsers(ctx, tx, work); err != nil {
		return err
	}
	return a.replaceMemberships(ctx, tx, work, groupIDs, roleIDs, extIDs)
}

// selectGroups looks up a tenant's groups by lower-cased name.
const selectGroups = `SELECT id, name_key FROM groups WHERE tenant_id = $1 AND name_key = ANY($2)`

// changedGroups returns the groups of the records whose group list changes,
// by lower-cased name: groups match case-insensitively.
func changedGroups(work []*pending) map[string]string {
	names := map[string]string{}
	for _, p := range work {
		if p.changedLists.Has(userrow.Groups) {
			for _, g := range p.user.Groups {
				names[strings.ToLower(g)] = g
			}
		}
	}
	return names
}

// ensureGroups creates the groups the records name that do not exist yet and
// returns the ids of all of them by lower-cased name. Names are inserted in
// sorted order, so that two appliers never wait on each other in a cycle.
func (a *applier) ensureGroups(ctx context.Context, tx pgx.Tx, work []*pending) (map[string]int64, error) {
	names := changedGroups(work)
	if len(names) == 0 {
		return nil, nil
	}
	keys := sortedKeys(names)
	ids, err := a.idsByKey(ctx, tx, selectGroups, keys)
	if err != nil {
		return nil, err
	}
	missing := missingKeys(keys, ids)
	if len(missing) == 0 {
		return ids, nil // the common case after the first chunks of a tenant
	}
	spelled := make([]string, len(missing))
	for i, k := range missing {
		spelled[i] = names[k]
	}
	if _, err := tx.Exec(ctx, `WITH ins AS (INSERT INTO groups (tenant_id, name)
			SELECT $1, n FROM unnest($2::text[]) WITH ORDINALITY AS t(n, i) ORDER BY i
			ON CONFLICT (tenant_id, name_key) DO NOTHING RETURNING id)
		INSERT INTO journal_objects (tenant_id, import_id, kind, object_id, action)
		SELECT $1, $3, 'group', id, 'created' FROM ins`, a.chunk.Tenant, spelled, a.chunk.ImportID); err != nil {
		return nil, err
	}
	created, err := a.idsByKey(ctx, tx, selectGroups, missing)
	if err != nil {
		return nil, err
	}
	maps.Copy(ids, created)
	return ids, nil
}

// roleIDs returns the ids of the catalog roles the records name. A role not in
// the catalog (removed since the file was validated) rejects its record.
func (a *applier) roleIDs(ctx context.Context, tx pgx.Tx, work []*pending) (map[string]int64, error) {
	names := map[string]string{}
	for _, p := range work {
		if p.changedLists.Has(userrow.Roles) {
			for _, r := range p.user.Roles {
				names[strings.ToLower(r)] = r
			}
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	keys := sortedKeys(names)
	ids, err := a.idsByKey(ctx, tx, `SELECT id, name_key FROM roles WHERE tenant_id = $1 AND name_key = ANY($2)`, keys)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if _, ok := ids[k]; !ok {
			// A problem of the records naming it: let bisection find them.
			return nil, refusedError(fmt.Sprintf("role %q is not in the tenant's role catalog", names[k]))
		}
	}
	return ids, nil
}

// ensureExtensions creates or updates the extensions the records name, with
// the settings of the record with the highest line (within one import, the
// later record wins, also across chunks applied in parallel). Existing ones
// are looked up first: only missing extensions are inserted, and only those
// whose settings change are updated.
func (a *applier) ensureExtensions(ctx context.Context, tx pgx.Tx, work []*pending) (map[string]int64, error) {
	exts := map[string]extWrite{}
	for _, p := range work {
		if !p.changedLists.Has(userrow.PhoneMapping) && !givesSettings(p.rec.User.Given) {
			continue
		}
		w := extWrite{settings: p.user.Extension(), line: p.rec.Line, apply: p.create || givesSettings(p.rec.User.Given)}
		for _, n := range p.user.Phones {
			// The latest record that sets the settings wins; one that only
			// names the extension creates it with the defaults.
			if e, ok := exts[n]; !ok || (w.apply && (!e.apply || e.line < w.line)) {
				exts[n] = w
			}
		}
	}
	if len(exts) == 0 {
		return nil, nil
	}
	numbers := sortedKeys(exts)
	ids := make(map[string]int64, len(numbers))
	var toUpdate []string
	check := func(rows pgx.Rows) error {
		var (
			id       int64
			number   string
			cur      userrow.ExtensionSettings
			byImport *int64
			byLine   *int32
		)
		_, err := pgx.ForEachRow(rows, []any{&id, &number, &cur.RecordingMode, &cur.Voice, &cur.InstantMessaging, &cur.Video, &cur.DesktopScreen, &byImport, &byLine}, func() error {
			ids[number] = id
			// Equal settings are written too: the row must name its latest
			// setter, or an earlier record applied later would win.
			if e := exts[number]; e.apply && a.setsAfter(byImport, byLine, e.line) {
				toUpdate = append(toUpdate, number)
			}
			return nil
		})
		return err
	}
	err := lookup(ctx, tx, extensionsByNumber, a.chunk.Tenant, numbers, check)
	if err != nil {
		return nil, err
	}
	if missing := missingKeys(numbers, ids); len(missing) > 0 {
		// COPY with ids reserved beforehand is several times as fast as an
		// INSERT … RETURNING (and that, three times as fast as one with ON
		// CONFLICT); it fails only when another applier has just inserted
		// one of the numbers, and then the slower statement takes over.
		err := pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
			return a.copyExtensions(ctx, sp, exts, missing, ids)
		})
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23505" {
			err = a.insertExtensions(ctx, tx, insertExtensions+` ON CONFLICT (tenant_id, number) DO NOTHING`, exts, missing, ids)
		}
		if err != nil {
			return nil, err
		}
		// Inserted meanwhile by another applier: look them up like the others.
		if raced := missingKeys(numbers, ids); len(raced) > 0 {
			rows, err := tx.Query(ctx, extensionsByNumber, a.chunk.Tenant, raced)
			if err != nil {
				return nil, err
			}
			if err := check(rows); err != nil {
				return nil, err
			}
		}
	}
	if len(toUpdate) > 0 {
		cols := extColumns(exts, toUpdate)
		// The guard is repeated in SQL: another applier may have set a later
		// line of this import since the rows were read. (A later import
		// cannot have: its chunks wait for this one's, see waitFor.)
		// The journal keeps the row as it was before the import's first
		// change to it (a later chunk's change finds it kept), unless the
		// import created it.
		if _, err := tx.Exec(ctx, `WITH upd AS (UPDATE extensions e SET recording_mode = t.m, voice = t.v, instant_messaging = t.im,
				video = t.vi, desktop_screen = t.ds, set_by_import = $2, set_by_line = t.l, updated_at = now()
			FROM unnest($3::text[], $4::text[], $5::bool[], $6::bool[], $7::bool[], $8::bool[], $9::int[]) AS t(n, m, v, im, vi, ds, l),
				extensions o
			WHERE e.tenant_id = $1 AND e.number = t.n AND o.id = e.id AND o.tenant_id = $1
				AND (e.set_by_import IS NULL OR e.set_by_line IS NULL OR (e.set_by_import, e.set_by_line) < ($2, t.l))
			RETURNING e.id, e.created_by_import, to_jsonb(o) AS data)
			INSERT INTO journal_objects (tenant_id, import_id, kind, object_id, action, data)
			SELECT $1, $2, 'extension', id, 'updated', data FROM upd WHERE created_by_import IS DISTINCT FROM $2
			ON CONFLICT (tenant_id, import_id, kind, object_id) DO NOTHING`,
			append([]any{a.chunk.Tenant, a.chunk.ImportID}, cols...)...); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// insertExtensions inserts the missing extensions, in sorted order (two
// appliers inserting overlapping sets never wait on each other in a cycle).
// An extension only named by its records (none sets its settings: line 0,
// see extColumns) gets the defaults and no setter, so that any record that
// sets them wins over it, whichever is applied first.
const insertExtensions = `INSERT INTO extensions (tenant_id, number, recording_mode, voice, instant_messaging,
		video, desktop_screen, set_by_import, set_by_line, created_by_import)
	SELECT $1, n, m, v, im, vi, ds, CASE WHEN l > 0 THEN $2::bigint END, NULLIF(l, 0), $2::bigint
	FROM unnest($3::text[], $4::text[], $5::bool[], $6::bool[], $7::bool[], $8::bool[], $9::int[]) AS t(n, m, v, im, vi, ds, l)
	ORDER BY n`

// copyExtensions inserts the missing extensions with COPY, in sorted order
// (see insertExtensions), their ids drawn from the identity's sequence first.
func (a *applier) copyExtensions(ctx context.Context, tx pgx.Tx, exts map[string]extWrite, numbers []string, ids map[string]int64) error {
	reserved, err := reserveIDs(ctx, tx, "extensions_id_seq", len(numbers))
	if err != nil {
		return err
	}
	_, err = copyRows(ctx, tx, "extensions", []string{"id", "tenant_id", "number", "recording_mode", "voice",
		"instant_messaging", "video", "desktop_screen", "set_by_import", "set_by_line", "created_by_import"},
		len(numbers), func(i int, row []any) []any {
			e := exts[numbers[i]]
			var byImport, byLine any
			if e.apply && e.line > 0 {
				byImport, byLine = a.chunk.ImportID, int32(e.line)
			}
			s := e.settings
			return append(row, reserved[i], a.chunk.Tenant, numbers[i], s.RecordingMode, s.Voice, s.InstantMessaging, s.Video,
				s.DesktopScreen, byImport, byLine, a.chunk.ImportID)
		})
	if err != nil {
		return err
	}
	for i, n := range numbers {
		ids[n] = reserved[i]
	}
	return nil
}

func (a *applier) insertExtensions(ctx context.Context, tx pgx.Tx, query string, exts map[string]extWrite, numbers []string, ids map[string]int64) error {
	rows, err := tx.Query(ctx, query+` RETURNING id, number`, append([]any{a.chunk.Tenant, a.chunk.ImportID}, extColumns(exts, numbers)...)...)
	if err != nil {
		return err
	}
	var (
		id     int64
		number string
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &number}, func() error { ids[number] = id; return nil })
	return err
}

// setsAfter reports whether this chunk's record at line comes after the one
// that set an extension's settings (byImport, byLine): applying a tenant's
// imports one after another, the later import's record wins, and within an
// import the later line.
func (a *applier) setsAfter(byImport *int64, byLine *int32, line int) bool {
	if byImport == nil || byLine == nil {
		return true
	}
	if *byImport != a.chunk.ImportID {
		return *byImport < a.chunk.ImportID
	}
	return int(*byLine) < line
}

// extWrite is what the chunk sets on one extension.
type extWrite struct {
	settings userrow.ExtensionSettings
	line     int
	apply    bool // the record gives settings: they apply to an existing extension too
}

// extColumns lays out the given extensions as the arrays the statements take:
// numbers, modes, the four flags and the lines.
func extColumns(exts map[string]extWrite, numbers []string) []any {
	var (
		modes                    = make([]string, len(numbers))
		voice, im, video, screen = make([]bool, len(numbers)), make([]bool, len(numbers)), make([]bool, len(numbers)), make([]bool, len(numbers))
		lines                    = make([]int32, len(numbers))
	)
	for i, n := range numbers {
		e := exts[n]
		modes[i], voice[i], im[i], video[i], screen[i] = e.settings.RecordingMode, e.settings.Voice, e.settings.InstantMessaging, e.settings.Video, e.settings.DesktopScreen
		if e.apply {
			lines[i] = int32(e.line)
		}
	}
	return []any{numbers, modes, voice, im, video, screen, lines}
}

func missingKeys(keys []string, have map[string]int64) []string {
	var out []string
	for _, k := range keys {
		if _, ok := have[k]; !ok {
			out = append(out, k)
		}
	}
	return out
}

// givesSettings reports whether a record gives any of the extension settings.
func givesSettings(given userrow.ColumnSet) bool {
	for _, c := range []userrow.Column{userrow.RecordingMode, userrow.Voice, userrow.InstantMessaging, userrow.Video, userrow.DesktopScreen} {
		if given.Has(c) {
			return true
		}
	}
	return false
}

func (a *applier) idsByKey(ctx context.Context, tx pgx.Tx, query string, keys []string) (map[string]int64, error) {
	rows, err := tx.Query(ctx, query, a.chunk.Tenant, keys)
	if err != nil {
		return nil, err
	}
	ids := make(map[string]int64, len(keys))
	var (
		id  int64
		key string
	)
	_, err = pgx.ForEachRow(rows, []any{&id, &key}, func() error {
		ids[key] = id
		return nil
	})
	return ids, err
}

// idBlock is the increment of the sequences user_id_blocks and
// extensions_id_seq: one nextval reserves that many ids.
const idBlock = 1024

// reserveIDs reserves n ids of the sequence seq, whose increment is idBlock,
// with one nextval per block: rows inserted with COPY get their ids before,
// so that what refers to them is written without reading anything back.
func reserveIDs(ctx context.Context, tx pgx.Tx, seq string, n int) ([]int64, error) {
	rows, err := tx.Query(ctx, `SELECT nextval($1::regclass) FROM generate_series(1, $2)`, seq, (n+idBlock-1)/idBlock)
	if err != nil {
		return nil, err
	}
	ids := make([]int64, 0, n)
	var start int64
	if _, err := pgx.ForEachRow(rows, []any{&start}, func() error {
		for id := start; id < start+idBlock && len(ids) < n; id++ {
			ids = append(ids, id)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if len(ids) != n {
		return nil, fmt.Errorf("reserved %d ids of %s for %d rows", len(ids), seq, n)
	}
	return ids, nil
}

// createUsers inserts the new users with COPY, ids reserved beforehand so that
// their memberships can be written without reading anything back.
func (a *applier) createUsers(ctx context.Context, tx pgx.Tx, work []*pending) error {
	var creates []*pending
	for _, p := range work {
		if p.create {
			creates = append(creates, p)
		}
	}
	if len(creates) == 0 {
		return nil
	}
	ids, err := reserveIDs(ctx, tx, "user_id_blocks", len(creates))
	if err != nil {
		return err
	}
	for i, p := range creates {
		p.id = ids[i]
	}
	_, err = copyRows(ctx, tx, "users", insertColumns, len(creates), func(i int, row []any) []any {
		p := creates[i]
		row = append(row, p.id, a.chunk.Tenant)
		for _, c := range userColumns {
			row = append(row, c.value(&p.user))
		}
		return append(row, encodeHashes(p.hashes), a.chunk.ImportID, a.chunk.ImportID)
	})
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == "users_tenant_id_login_key_key" {
		return errRaced
	}
	return err
}

// updateUsers writes the changed columns of existing users through a staging
// table: one COPY and one UPDATE for the whole set.
func (a *applier) updateUsers(ctx context.Context, tx pgx.Tx, work []*pending) error {
	var updates []*pending
	for _, p := range work {
		if !p.create {
			updates = append(updates, p)
		}
	}
	if len(updates) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, createStage); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `TRUNCATE stage_users`); err != nil {
		return err
	}
	if _, err := copyRows(ctx, tx, "stage_users", stageColumns, len(updates), func(i int, row []any) []any {
		p := updates[i]
		row = append(row, p.id, int64(p.rec.User.Given), int64(p.changed))
		for _, c := range userColumns {
			if p.rec.User.Given.Has(c.col) {
				row = append(row, c.value(&p.user))
			} else {
				row = append(row, nil)
			}
		}
		return append(row, encodeHashes(p.hashes))
	}); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, updateFromStage, a.chunk.Tenant, a.chunk.ImportID)
	return err
}

// replaceMemberships rewrites the lists each record changes.
func (a *applier) replaceMemberships(ctx context.Context, tx pgx.Tx, work []*pending, groupIDs, roleIDs, extIDs map[string]int64) error {
	for _, m := range []struct {
		col   userrow.Column
		table string
		ref   string
		// journal is the journal_users column of the previous members.
		journal string
		ids     map[string]int64
		list    func(u *userrow.User) []string
		key     func(s string) string
	}{
		{userrow.Groups, "user_groups", "group_id", "old_groups", groupIDs, func(u *userrow.User) []string { return u.Groups }, strings.ToLower},
		{userrow.Roles, "user_roles", "role_id", "old_roles", roleIDs, func(u *userrow.User) []string { return u.Roles }, strings.ToLower},
		{userrow.PhoneMapping, "user_extensions", "extension_id", "old_exts", extIDs, func(u *userrow.User) []string { return u.Phones }, func(s string) string { return s }},
	} {
		var (
			users    []int64
			pairUser []int64
			pairRef  []int64
		)
		for _, p := range work {
			if !p.changedLists.Has(m.col) {
				continue
			}
			if !p.create {
				users = append(users, p.id)
			}
			for _, name := range m.list(&p.user) {
				pairUser = append(pairUser, p.id)
				pairRef = append(pairRef, m.ids[m.key(name)])
			}
		}
		if len(users) > 0 {
			// The journal keeps the members as they were, in the row the
			// update of the user wrote (updateUsers).
			if _, err := tx.Exec(ctx, `WITH d AS (DELETE FROM `+m.table+` WHERE tenant_id = $1 AND user_id = ANY($2)
					RETURNING user_id, `+m.ref+` AS ref)
				INSERT INTO journal_users AS j (tenant_id, import_id, user_id, `+m.journal+`)
				SELECT $1, $3, u.id, coalesce(array_agg(d.ref ORDER BY d.ref) FILTER (WHERE d.ref IS NOT NULL), '{}')
				FROM unnest($2::bigint[]) AS u(id) LEFT JOIN d ON d.user_id = u.id GROUP BY u.id
				ON CONFLICT (tenant_id, import_id, user_id) DO UPDATE SET `+m.journal+` = excluded.`+m.journal,
				a.chunk.Tenant, users, a.chunk.ImportID); err != nil {
				return err
			}
		}
		if len(pairUser) == 0 {
			continue
		}
		if _, err := copyRows(ctx, tx, m.table, []string{"tenant_id", "user_id", m.ref}, len(pairUser),
			func(i int, row []any) []any { return append(row, a.chunk.Tenant, pairUser[i], pairRef[i]) }); err != nil {
			return err
		}
	}
	return nil
}

// writeRecords records what a dry run would do with each valid record.
func (a *applier) writeRecords(ctx context.Context) error {
	if len(a.records) == 0 {
		return nil
	}
	_, err := a.tx.CopyFrom(ctx, pgx.Identifier{"import_records"}, []string{"import_id", "line", "tenant_id", "outcome", "changed"},
		pgx.CopyFromSlice(len(a.records), func(i int) ([]any, error) {
			r := a.records[i]
			return []any{a.chunk.ImportID, r.line, a.chunk.Tenant, string(r.outcome), int32(r.changed)}, nil
		}))
	return err
}

// writeRejects records the rejected records with their problems.
func (a *applier) writeRejects(ctx context.Context) error {
	if len(a.rejects) == 0 {
		return nil
	}
	slices.SortFunc(a.rejects, func(x, y reject) int { return x.rec.Line - y.rec.Line })
	_, err := a.tx.CopyFrom(ctx, pgx.Identifier{"import_rejects"}, []string{"import_id", "line", "tenant_id", "login_id", "errors", "raw"},
		pgx.CopyFromSlice(len(a.rejects), func(i int) ([]any, error) {
			r := a.rejects[i]
			errs, err := json.Marshal(problemsJSON(r.errors))
			if err != nil {
				return nil, err
			}
			return []any{a.chunk.ImportID, r.rec.Line, a.chunk.Tenant, nullable(r.rec.User.LoginID), errs, r.rec.Raw}, nil
		}))
	return err
}

// ProblemJSON is how a problem is stored and reported.
type ProblemJSON struct {
	Column  string `json:"column"`
	Message string `json:"message"`
}

// ProblemsText writes a record's problems as the reports' Errors column
// does: "Column: message; message" (a problem of the record as a whole has
// no column).
func ProblemsText(probs []ProblemJSON) string {
	var b strings.Builder
	for i, p := range probs {
		if i > 0 {
			b.WriteString("; ")
		}
		if p.Column != "" {
			b.WriteString(p.Column + ": ")
		}
		b.WriteString(p.Message)
	}
	return b.String()
}

func problemsJSON(probs []userrow.Problem) []ProblemJSON {
	out := make([]ProblemJSON, len(probs))
	for i, p := range probs {
		out[i] = ProblemJSON{Column: p.Column.String(), Message: p.Message}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
