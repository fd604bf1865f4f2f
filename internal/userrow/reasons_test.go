package userrow

import (
	"fmt"
	"strings"
	"testing"
)

func TestReasonsGroupRecordsByWhatIsWrong(t *testing.T) {
	var c ReasonCounter
	// 7 records with one unknown role each, 3 with two: one reason, 10 records.
	for i := range 7 {
		c.Record([][2]string{{"Roles", fmt.Sprintf("unknown role %q: add it to the tenant's role catalog or correct the name", fmt.Sprint("r", i))}})
	}
	for i := range 3 {
		c.Record([][2]string{
			{"Roles", fmt.Sprintf("unknown roles %q, %q: add them to the tenant's role catalog or correct the names", fmt.Sprint("a", i), "b")},
			{"Language", `"xx" is not a supported language: use en, hu, de, fr or fr_CA`},
		})
	}
	// The same message in another column is another reason; a duplicate at
	// another line is the same one.
	c.Record([][2]string{{"Manager", `"xx" is not a supported language: use en, hu, de, fr or fr_CA`}})
	c.Record([][2]string{{"Login ID", "duplicate Login ID, first at line 12"}})
	c.Record([][2]string{{"Login ID", "duplicate Login ID, first at line 15"}})
	c.Record([][2]string{{"Login ID", "duplicate Login ID, first at line 40 or later"}})

	got, other := c.Reasons()
	want := []Reason{
		{Column: "Roles", Message: `unknown role "…": add it to the tenant's role catalog or correct the name`, Example: `"r0"`, Records: 10},
		{Column: "Language", Message: `"…" is not a supported language: use en, hu, de, fr or fr_CA`, Example: `"xx"`, Records: 3},
		{Column: "Login ID", Message: "duplicate Login ID, first at line …", Example: "line 12", Records: 2},
		{Column: "Login ID", Message: "duplicate Login ID, first at line … or later", Example: "line 40", Records: 1},
		{Column: "Manager", Message: `"…" is not a supported language: use en, hu, de, fr or fr_CA`, Example: `"xx"`, Records: 1},
	}
	if other != 0 || len(got) != len(want) {
		t.Fatalf("Reasons() = %d reasons, %d other; want %d, 0:\n%+v", len(got), other, len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("reason %d = %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func TestReasonsCountARecordOncePerReason(t *testing.T) {
	var c ReasonCounter
	c.Record([][2]string{{"Groups", `group "a" is too long`}, {"Groups", `group "b" is too long`}})
	got, _ := c.Reasons()
	if len(got) != 1 || got[0].Records != 1 {
		t.Fatalf("Reasons() = %+v, want one reason of 1 record", got)
	}
}

func TestReasonsAreBounded(t *testing.T) {
	var c ReasonCounter
	for i := range MaxReasons + 25 {
		// Column titles are the file's: a hostile file can make each record
		// a reason of its own.
		c.Record([][2]string{{fmt.Sprint("col", i), "required"}})
	}
	got, other := c.Reasons()
	if len(got) != MaxReasons || other != 25 {
		t.Fatalf("Reasons() = %d reasons, %d other; want %d, 25", len(got), other, MaxReasons)
	}
}

func TestAdviseNamesTheEmptyCatalog(t *testing.T) {
	role := Reason{Column: "Roles", Message: `unknown role "…": add it to the tenant's role catalog or correct the name`, Records: 8000}
	for _, tc := range []struct {
		r     Reason
		roles int
		want  string // a part of the advice; "" for none
	}{
		{role, 0, "role catalog is empty"},
		{role, 3, "(8000 records)"},
		{Reason{Column: "Login ID", Message: "duplicate Login ID, first at line …", Records: 1}, 0, "(1 record)"},
		{Reason{Column: "Language", Message: `"…" is not a supported language: use en, hu, de, fr or fr_CA`, Records: 9}, 0, ""},
	} {
		got := Advise(tc.r, tc.roles, "acme")
		if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("Advise(%q, %d roles) = %q, want it to hold %q", tc.r.Message, tc.roles, got, tc.want)
		}
		if got != "" && !strings.Contains(got, "--tenant acme") && tc.r.Column == "Roles" {
			t.Errorf("Advise(%q) = %q: names no command for the tenant", tc.r.Message, got)
		}
	}
}
