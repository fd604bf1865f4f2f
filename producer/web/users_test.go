package web_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/userimport/userimport/internal/importer"
	"github.com/userimport/userimport/internal/postgres"
	"github.com/userimport/userimport/internal/postgres/pgtest"
)

// Users are found by a part of their Login ID, name or e-mail, in any case,
// within the tenant only; a user's page shows their values and lists.
func TestUsersPage(t *testing.T) {
	t.Parallel()
	srv, store := server(t)
	tenant, other := pgtest.Tenant(t), pgtest.Tenant(t)
	b := newBrowser(t, srv.URL)
	b.login(token(t, store, tenant))
	for _, tn := range []string{tenant, other} {
		if err := store.AddRoles(t.Context(), tn, []string{"agent", "admin"}); err != nil {
			t.Fatal(err)
		}
	}
	file := "User name,Login ID,Language,E-mail,Groups,Role API Names,Phone Mapping\n" +
		"Anna Berg,anna.berg,en,anna@acme.example,Sales,agent,+36 1 555 0101\n" +
		"Ben Olsen,ben,en,b.olsen@acme.example,,\"agent\nadmin\",\n" +
		"Cid 100%_x,cid,en,,,,\n"
	first, err := importer.Local(t.Context(), store, bytes.NewReader([]byte(file)), importer.Options{Tenant: tenant, Source: "users.csv"})
	if err != nil {
		t.Fatal(err)
	}
	// ben's language changes in a second import; anna is unchanged by it.
	second, err := importer.Local(t.Context(), store, bytes.NewReader([]byte("User name,Login ID,Language,E-mail\nBen Olsen,ben,de,b.olsen@acme.example\n")),
		importer.Options{Tenant: tenant, Source: "ben.csv"})
	if err != nil || second.Updated != 1 {
		t.Fatalf("second import: %+v (%v)", second, err)
	}
	otherFile := "User name,Login ID,Language,E-mail\nOtto Berger,otto,en,otto@other.example\n"
	if _, err := importer.Local(t.Context(), store, bytes.NewReader([]byte(otherFile)), importer.Options{Tenant: other, Source: "other.csv"}); err != nil {
		t.Fatal(err)
	}

	found := func(q string) []string {
		t.Helper()
		code, _, page := b.do(http.MethodGet, "/ui/users?"+url.Values{"q": {q}}.Encode(), nil)
		if code != http.StatusOK {
			t.Fatalf("search %q: %d\n%s", q, code, page)
		}
		var logins []string
		for _, part := range strings.Split(page, `<a href="/ui/users/`)[1:] {
			login, _, _ := strings.Cut(part, `"`)
			logins = append(logins, login)
		}
		return logins
	}
	for q, want := range map[string]string{
		"":          "anna.berg,ben,cid",
		"BERG":      "anna.berg", // a word of the name and the Login ID; not the other tenant's Berger
		"olsen@":    "ben",       // of the e-mail
		"acme.EXAM": "anna.berg,ben",
		"b":         "ben",       // the Login ID's start, and b.olsen's whole word b; not Berg
		"ber":       "anna.berg", // from three letters, the start of any word
		"an":        "anna.berg",
		"ol":        "", // two letters: whole words only
		"ols":       "ben",
		"lsen":      "", // inside a word
		"c":         "cid",
		"100%_":     "cid", // % and _ separate words, as punctuation does
		"0%x":       "",
		"otto":      "",
		"anna.b":    "anna.berg", // the start of the Login ID, in no name or e-mail
		"na.ber":    "",          // a Login ID is not searched for a part of it
		"ben":       "ben",       // the Login ID and the name: once
	} {
		if got := strings.Join(found(q), ","); got != want {
			t.Errorf("search %q: %q, want %q", q, got, want)
		}
	}

	rec, err := store.User(t.Context(), tenant, "ANNA.BERG")
	if err != nil || rec.User.Name != "Anna Berg" {
		t.Fatalf("store.User: %+v (%v)", rec, err)
	}
	code, _, page := b.do(http.MethodGet, "/ui/users/anna.berg", nil)
	for _, want := range []string{`<td id="groups">Sales</td>`, `<td id="roles">agent</td>`, `<td id="extensions">&#43;3615550101</td>`, "Active", "anna@acme.example"} {
		if code != http.StatusOK || !strings.Contains(page, want) {
			t.Errorf("user page: %d, lacks %q\n%s", code, want, page)
		}
	}
	if _, _, page := b.do(http.MethodGet, "/ui/users/ben", nil); !strings.Contains(page, `<td id="roles">admin, agent</td>`) {
		t.Errorf("ben's roles:\n%s", page)
	}
	// The history links the imports that changed the user, newest first.
	history := func(login string) []string {
		t.Helper()
		_, _, page := b.do(http.MethodGet, "/ui/users/"+login, nil)
		_, table, _ := strings.Cut(page, `<table id="history"`)
		var links []string
		for _, part := range strings.Split(table, `<a href="/ui/imports/`)[1:] {
			id, _, _ := strings.Cut(part, `"`)
			links = append(links, id)
		}
		return links
	}
	if got, want := history("ben"), []string{strconv.FormatInt(second.ImportID, 10), strconv.FormatInt(first.ImportID, 10)}; !slices.Equal(got, want) {
		t.Errorf("ben's history links imports %v, want %v", got, want)
	}
	if got, want := history("anna.berg"), []string{strconv.FormatInt(first.ImportID, 10)}; !slices.Equal(got, want) {
		t.Errorf("anna's history links imports %v, want %v", got, want)
	}
	if code, _, _ := b.do(http.MethodGet, "/ui/users/otto", nil); code != http.StatusNotFound {
		t.Errorf("another tenant's user: %d, want 404", code)
	}
	if _, err := store.User(t.Context(), tenant, "otto"); err == nil {
		t.Error("store.User found another tenant's user")
	}
}

// Pages of a search end where the next begins, and the last has no link on.
func TestUsersPaging(t *testing.T) {
	t.Parallel()
	srv, store := server(t)
	tenant := pgtest.Tenant(t)
	b := newBrowser(t, srv.URL)
	b.login(token(t, store, tenant))
	var file strings.Builder
	file.WriteString("User name,Login ID,Language\n")
	for i := range 120 {
		file.WriteString("Person " + itoa64(int64(i)) + ",p" + itoa64(int64(1000+i)) + ",en\n")
	}
	if _, err := importer.Local(t.Context(), store, strings.NewReader(file.String()), importer.Options{Tenant: tenant, Source: "many.csv"}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	next := "/ui/users?q=person"
	pages := 0
	for next != "" {
		pages++
		code, _, page := b.do(http.MethodGet, next, nil)
		if code != http.StatusOK || pages > 5 {
			t.Fatalf("page %d (%s): %d", pages, next, code)
		}
		for _, part := range strings.Split(page, `<a href="/ui/users/`)[1:] {
			login, _, _ := strings.Cut(part, `"`)
			if seen[login] {
				t.Errorf("%s on two pages", login)
			}
			seen[login] = true
		}
		next = ""
		if i := strings.Index(page, `rel="next" id="next-page"`); i >= 0 {
			start := strings.LastIndex(page[:i], `href="`) + len(`href="`)
			next = strings.ReplaceAll(page[start:strings.Index(page[start:], `"`)+start], "&amp;", "&")
		}
	}
	if pages != 3 || len(seen) != 120 {
		t.Errorf("%d pages with %d users, want 3 with 120", pages, len(seen))
	}
	// More users than the trigram search sorts at once, 1,000 a page: the
	// first page walks in Login ID order, the next two sort what it found.
	big := pgtest.Tenant(t)
	file.Reset()
	file.WriteString("User name,Login ID,Language\n")
	for i := range 2100 {
		file.WriteString("Person " + itoa64(int64(i)) + ",p" + itoa64(int64(1000+i)) + ",en\n")
	}
	if _, err := importer.Local(t.Context(), store, strings.NewReader(file.String()), importer.Options{Tenant: big, Source: "more.csv"}); err != nil {
		t.Fatal(err)
	}
	var all []string
	after := ""
	for range 3 {
		users, more, err := store.SearchUsers(t.Context(), big, postgres.UserSearch{Query: "PERSON", After: after, Limit: 1000})
		if err != nil || len(users) == 0 {
			t.Fatalf("search after %q: %d users (%v)", after, len(users), err)
		}
		for _, u := range users {
			all = append(all, u.LoginID)
		}
		after = users[len(users)-1].LoginID
		if more != (len(all) < 2100) {
			t.Errorf("after %d users, more %v", len(all), more)
		}
	}
	if len(all) != 2100 || !slices.IsSorted(all) || all[0] != "p1000" || all[2099] != "p3099" {
		t.Errorf("the whole search: %d users, sorted %v, from %s", len(all), slices.IsSorted(all), all[0])
	}
	users, more, err := store.SearchUsers(t.Context(), tenant, postgres.UserSearch{Query: "P10", Limit: 5})
	if err != nil || len(users) != 5 || !more || users[0].LoginID != "p1000" {
		t.Errorf("prefix search: %+v more %v (%v)", users, more, err)
	}
}

// A user's page lists every import that changed them, newest first, each
// linked to its page, with the old and new values; a password's are hidden.
func TestUserHistory(t *testing.T) {
	t.Parallel()
	srv, store := server(t)
	tenant := pgtest.Tenant(t)
	b := newBrowser(t, srv.URL)
	b.login(token(t, store, tenant))
	imp := func(file string) int64 {
		t.Helper()
		sum, err := importer.Local(t.Context(), store, strings.NewReader(file), importer.Options{Tenant: tenant, Source: "users.csv"})
		if err != nil || sum.Rejected != 0 {
			t.Fatalf("import: %+v (%v)", sum, err)
		}
		return sum.ImportID
	}
	const hash = "5f4dcc3b5aa765d61d8327deb882cf99"
	first := imp("User name,Login ID,Language,E-mail\nAnna Berg,anna,en,anna@acme.example\nBen,ben,en,\n")
	second := imp("User name,Login ID,Language,E-mail,Password (MD5 Hash)\nAnna Olsen,anna,en,anna.olsen@acme.example," + hash + "\n")

	code, _, page := b.do(http.MethodGet, "/ui/users/anna", nil)
	if code != http.StatusOK {
		t.Fatalf("user page: %d\n%s", code, page)
	}
	_, hist, ok := strings.Cut(page, `<table id="history">`)
	if !ok {
		t.Fatalf("no history table:\n%s", page)
	}
	for _, want := range []string{"<caption>Every import that changed anna, newest first.", `<th scope="col">Changes (old → new)</th>`,
		`<span class="column">name</span>: Anna Berg → Anna Olsen`, `<span class="column">email</span>: anna@acme.example → anna.olsen@acme.example`,
		`<span class="column">password_md5</span>: (hidden) → (hidden)`, "created the user", "<td>local</td>"} {
		if !strings.Contains(hist, want) {
			t.Errorf("history lacks %q:\n%s", want, hist)
		}
	}
	if strings.Contains(page, hash) {
		t.Error("the user's page shows the password hash")
	}
	// Both imports, newest first, each linked to its page.
	newer := strings.Index(hist, fmt.Sprintf(`<th scope="row"><a href="/ui/imports/%d">import %d</a></th>`, second, second))
	older := strings.Index(hist, fmt.Sprintf(`<th scope="row"><a href="/ui/imports/%d">import %d</a></th>`, first, first))
	if newer < 0 || older < 0 || newer > older {
		t.Errorf("imports %d (at %d) and %d (at %d): want both, the newer first\n%s", second, newer, first, older, hist)
	}
	if n := strings.Count(hist, `<th scope="row">`); n != 2 {
		t.Errorf("%d history rows, want 2", n)
	}
	// A user only the first import touched has one entry.
	_, _, page = b.do(http.MethodGet, "/ui/users/ben", nil)
	if strings.Contains(page, fmt.Sprintf(`href="/ui/imports/%d">import`, second)) || !strings.Contains(page, fmt.Sprintf(`href="/ui/imports/%d">import`, first)) {
		t.Errorf("ben's history:\n%s", page)
	}
	// Another tenant's admin finds no such user, nor their history.
	other := newBrowser(t, srv.URL)
	other.login(token(t, store, pgtest.Tenant(t)))
	if code, _, body := other.do(http.MethodGet, "/ui/users/anna", nil); code != http.StatusNotFound || strings.Contains(body, "Anna") {
		t.Errorf("another tenant's user page: %d", code)
	}
}
