package producer_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/userimport/userimport/internal/importer"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/postgres/pgtest"
)

// call sends a request with the token and returns the status, Location and
// body.
func call(t *testing.T, method, url, tok, body string) (int, string, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Location"), string(out)
}

func local(t *testing.T, s *postgres.Store, tenant, file string, dryRun bool) int64 {
	t.Helper()
	sum, err := importer.Local(t.Context(), s, bytes.NewReader([]byte(file)), importer.Options{Tenant: tenant, Source: t.Name() + ".csv", DryRun: dryRun})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Rejected != 0 || sum.ImportID == 0 {
		t.Fatalf("import: %+v", sum)
	}
	return sum.ImportID
}

// exportOf is the tenant's export through the API, without the users named.
func exportOf(t *testing.T, base, tok string, skip ...string) string {
	t.Helper()
	code, _, body := call(t, http.MethodGet, base+"/v1/users", tok, "")
	if code != http.StatusOK {
		t.Fatalf("export: %d %s", code, body)
	}
	var kept []string
	for line := range strings.SplitSeq(body, "\n") {
		drop := false
		for _, s := range skip {
			drop = drop || strings.Contains(line, ","+s+",")
		}
		if !drop {
			kept = append(kept, line)
		}
	}
	return strings.Join(kept, "\n")
}

type apiUndo struct {
	postgres.UndoResult
	DryRun bool `json:"dry_run"`
	Links  struct {
		Self   string `json:"self"`
		Undone string `json:"undone"`
	} `json:"links"`
}

type apiImport struct {
	ID       int64  `json:"id"`
	Kind     string `json:"kind"`
	Undoes   int64  `json:"undoes"`
	UndoneBy int64  `json:"undone_by"`
	Links    struct {
		Undo   string `json:"undo"`
		Undoes string `json:"undoes"`
	} `json:"links"`
}

func decode[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	return v
}

const (
	fileA = "User name,Login ID,Language,Groups\nAnna,anna,en,Sales\nBen,ben,en,Sales\n"
	// B updates anna (name, groups, password), creates cid and a group,
	// leaves ben alone.
	fileB   = "User name,Login ID,Language,Groups,Password (MD5 Hash)\nAnna B,anna,de,Sales;Night,5ebe2294ecd0e0f08eab7690d2a6ee69\nBen,ben,en,Sales,\nCid,cid,en,Night,\n"
	hashInB = "5ebe2294ecd0e0f08eab7690d2a6ee69"
)

// Import A, import B, undo B through the API: a dry run first changes
// nothing; the undo gives A's export back (B's new user kept, inactive), and
// the imports link each other.
func TestUndoThroughTheAPI(t *testing.T) {
	t.Parallel()
	e := setup(t)
	tenant := pgtest.Tenant(t)
	tok := token(t, e.store, tenant)
	local(t, e.store, tenant, fileA, false)
	afterA := exportOf(t, e.srv.URL, tok)
	b := local(t, e.store, tenant, fileB, false)
	afterB := exportOf(t, e.srv.URL, tok)
	if afterA == exportOf(t, e.srv.URL, tok, "cid") {
		t.Fatal("import B changed nothing but cid: the test is hollow")
	}
	undoURL := e.srv.URL + "/v1/imports/" + itoa(b) + "/undo"

	code, loc, body := call(t, http.MethodPost, undoURL, tok, `{"dry_run": true}`)
	dry := decode[apiUndo](t, body)
	if code != http.StatusOK || loc != "" || !dry.DryRun || dry.ImportID != 0 || dry.Restored != 1 || dry.Deactivated != 1 ||
		dry.Conflicts == nil || dry.Links.Self != "" || dry.Links.Undone != "/v1/imports/"+itoa(b) {
		t.Errorf("dry run: %d %q %s; want 200, 1 restored, 1 deactivated, no import", code, loc, body)
	}
	if got := exportOf(t, e.srv.URL, tok); got != afterB {
		t.Fatalf("the dry run changed the store:\n%s", cmp.Diff(afterB, got))
	}

	code, loc, body = call(t, http.MethodPost, undoURL, tok, "")
	u := decode[apiUndo](t, body)
	if code != http.StatusCreated || u.ImportID <= b || loc != "/v1/imports/"+itoa(u.ImportID) || u.Links.Self != loc ||
		u.DryRun || u.Restored != 1 || u.Deactivated != 1 || u.GroupsRemoved != 1 || len(u.Conflicts) != 0 {
		t.Fatalf("undo: %d %q %s; want 201 with the undo import, 1 restored, 1 deactivated, 1 group removed", code, loc, body)
	}
	e.queue.mu.Lock()
	queued := len(e.queue.tasks)
	e.queue.mu.Unlock()
	if queued != 1 {
		t.Errorf("%d tasks queued by the undo, want 1: its finalize, which sends the result e-mail", queued)
	}
	if got := exportOf(t, e.srv.URL, tok, "cid"); got != afterA {
		t.Errorf("after the undo, not A's export (-A +undo):\n%s", cmp.Diff(afterA, got))
	}

	_, _, body = call(t, http.MethodGet, e.srv.URL+"/v1/imports/"+itoa(b), tok, "")
	if im := decode[apiImport](t, body); im.UndoneBy != u.ImportID || im.Links.Undo != loc {
		t.Errorf("import B: %s; want undone_by %d and links.undo %s", body, u.ImportID, loc)
	}
	_, _, body = call(t, http.MethodGet, e.srv.URL+loc, tok, "")
	if im := decode[apiImport](t, body); im.Kind != "undo" || im.Undoes != b || im.Links.Undoes != "/v1/imports/"+itoa(b) || im.UndoneBy != 0 {
		t.Errorf("the undo import: %s; want kind undo, undoes %d", body, b)
	}

	// anna's history: the undo, B, A's creation, newest first; the
	// password's change shown, its hash never.
	code, _, body = call(t, http.MethodGet, e.srv.URL+"/v1/users/anna/history", tok, "")
	if code != http.StatusOK || strings.Contains(body, hashInB) {
		t.Fatalf("history: %d %s", code, body)
	}
	h := decode[struct {
		History []postgres.HistoryEntry `json:"history"`
	}](t, body).History
	if len(h) != 3 || h[0].ImportID != u.ImportID || h[0].Kind != "undo" || h[1].ImportID != b || !h[2].Created {
		t.Fatalf("history: %s; want the undo, B, then A's creation", body)
	}
	changes := map[string]postgres.Change{}
	for _, c := range h[1].Changes {
		changes[c.Column] = c
	}
	if c := changes["name"]; c.Old != "Anna" || c.New != "Anna B" {
		t.Errorf("B's change of the name: %+v; want Anna → Anna B (all: %+v)", c, h[1].Changes)
	}
	if c, ok := changes["password_md5"]; !ok || c.Old != "(hidden)" || c.New != "(hidden)" {
		t.Errorf("B's change of the password: %+v, %v; want it shown hidden", c, ok)
	}
	if code, _, body := call(t, http.MethodGet, e.srv.URL+"/v1/users/nobody/history", tok, ""); code != http.StatusNotFound || !strings.Contains(body, `"not_found"`) {
		t.Errorf("history of no user: %d %s; want 404 not_found", code, body)
	}

	// Undo the undo: B's export again.
	code, _, body = call(t, http.MethodPost, e.srv.URL+loc+"/undo", tok, `{"force": false}`)
	if code != http.StatusCreated {
		t.Fatalf("undo of the undo: %d %s", code, body)
	}
	if got := exportOf(t, e.srv.URL, tok); got != afterB {
		t.Errorf("after the undo of the undo, not B's export (-B +now):\n%s", cmp.Diff(afterB, got))
	}
}

// Each refusal is a JSON error with its code, and changes nothing; another
// tenant's import and user are answered as missing ones.
func TestUndoRefusalsThroughTheAPI(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := t.Context()
	tenant := pgtest.Tenant(t)
	tok := token(t, e.store, tenant)
	a := local(t, e.store, tenant, fileA, false)
	dry := local(t, e.store, tenant, fileB, true)
	before := exportOf(t, e.srv.URL, tok)
	undo := func(id int64, body string) (int, string) {
		code, _, out := call(t, http.MethodPost, e.srv.URL+"/v1/imports/"+itoa(id)+"/undo", tok, body)
		return code, out
	}

	if code, body := undo(dry, ""); code != http.StatusConflict || !strings.Contains(body, `"undo_refused"`) || !strings.Contains(body, "dry run") {
		t.Errorf("undo of a dry run: %d %s; want 409 undo_refused saying it is a dry run", code, body)
	}
	if code, body := undo(a, `{"dry_run": "yes"}`); code != http.StatusBadRequest || !strings.Contains(body, `"bad_request"`) {
		t.Errorf("a bad body: %d %s; want 400", code, body)
	}
	if code, body := undo(a, `{"dryrun": true}`); code != http.StatusBadRequest {
		t.Errorf("an unknown field: %d %s; want 400", code, body)
	}

	other := pgtest.Tenant(t)
	otherTok := token(t, e.store, other)
	if code, _, body := call(t, http.MethodPost, e.srv.URL+"/v1/imports/"+itoa(a)+"/undo", otherTok, ""); code != http.StatusNotFound || !strings.Contains(body, `"not_found"`) {
		t.Errorf("undo of another tenant's import: %d %s; want 404", code, body)
	}
	if code, _, body := call(t, http.MethodGet, e.srv.URL+"/v1/users/anna/history", otherTok, ""); code != http.StatusNotFound {
		t.Errorf("history of another tenant's user: %d %s; want 404", code, body)
	}
	if code, body := undo(1<<40, ""); code != http.StatusNotFound {
		t.Errorf("undo of no import: %d %s; want 404", code, body)
	}

	running, _, err := e.store.CreateImport(ctx, postgres.NewImport{Tenant: tenant, Source: "running"})
	if err != nil {
		t.Fatal(err)
	}
	if code, body := undo(running, ""); code != http.StatusConflict || !strings.Contains(body, `"undo_refused"`) || !strings.Contains(body, "not ended") {
		t.Errorf("undo of a running import: %d %s; want 409 undo_refused saying it has not ended", code, body)
	}
	if code, body := undo(a, ""); code != http.StatusConflict || !strings.Contains(body, `"undo_refused"`) || !strings.Contains(body, "import "+itoa(running)) {
		t.Errorf("undo while import %d runs: %d %s; want 409 undo_refused naming it", running, code, body)
	}
	if _, err := e.store.FailImport(ctx, tenant, running, "ended"); err != nil {
		t.Fatal(err)
	}

	// Pruning runs over every tenant: mark the import as pruning would.
	if _, err := e.store.Pool().Exec(ctx, `UPDATE imports SET journal_pruned = true WHERE tenant_id = $1 AND id = $2`, tenant, a); err != nil {
		t.Fatal(err)
	}
	if code, body := undo(a, `{"force": true}`); code != http.StatusGone || !strings.Contains(body, `"journal_pruned"`) {
		t.Errorf("undo of a pruned import: %d %s; want 410 journal_pruned", code, body)
	}
	if got := exportOf(t, e.srv.URL, tok); got != before {
		t.Errorf("a refused undo changed the store:\n%s", cmp.Diff(before, got))
	}
}
