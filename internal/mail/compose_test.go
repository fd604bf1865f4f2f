package mail

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/userrow"
)

func finished() Result {
	return Result{
		Tenant: "acme", File: "users.csv", ImportID: 42, State: lifecycle.ImportFinished,
		Records: 10000, Created: 9900, Rejected: 100, Warnings: 3, Duration: 133 * time.Second,
		FirstErrors: []Problem{
			{Line: 313, Column: "User name", Message: "required: the user's full name"},
			{Line: 1200, Message: "3 fields, want 27"},
		},
		Report:     []byte("User name,Line,Errors\n,313,required\n"),
		ReportName: "users-errors.csv",
	}
}

func TestComposeSubject(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(*Result)
		want string
	}{
		{"finished", func(*Result) {}, "Import of users.csv: 9,900 created, 0 updated, 0 unchanged, 100 rejected"},
		{"unknown state reads as finished", func(r *Result) { r.State = "" },
			"Import of users.csv: 9,900 created, 0 updated, 0 unchanged, 100 rejected"},
		{"large counts", func(r *Result) { r.Created, r.Updated, r.Unchanged, r.Rejected = 1234567, 1000, 999, 0 },
			"Import of users.csv: 1,234,567 created, 1,000 updated, 999 unchanged, 0 rejected"},
		{"dry run", func(r *Result) { r.DryRun = true },
			"Dry run of users.csv: 9,900 to create, 0 to update, 0 unchanged, 100 rejected"},
		{"rejected", func(r *Result) {
			r.State, r.FileError = lifecycle.ImportRejected, "line 1: no header: the first record holds no column title"
		},
			"Import of users.csv rejected: line 1: no header: the first record holds no column title"},
		{"rejected without reason", func(r *Result) { r.State = lifecycle.ImportRejected }, "Import of users.csv rejected"},
		{"dry run rejected", func(r *Result) { r.State, r.DryRun, r.FileError = lifecycle.ImportRejected, true, "empty file" },
			"Dry run of users.csv rejected: empty file"},
		{"failed", func(r *Result) { r.State, r.FileError = lifecycle.ImportFailed, "database unavailable" }, "Import of users.csv failed"},
		{"no file name", func(r *Result) { r.File = "" },
			"Import of your file: 9,900 created, 0 updated, 0 unchanged, 100 rejected"},
		{"header injection", func(r *Result) {
			r.State, r.File, r.FileError = lifecycle.ImportRejected, "a.csv\r\nBcc: x@evil.example", "bad\r\n\r\n<b>body</b>"
		}, "Import of a.csv Bcc: x@evil.example rejected: bad <b>body</b>"},
		{"long reason cut", func(r *Result) { r.State, r.FileError = lifecycle.ImportRejected, strings.Repeat("é", 200) },
			"Import of users.csv rejected: " + strings.Repeat("é", maxSubjectReason-1) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := finished()
			tt.edit(&r)
			got, _, _ := Compose(r)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("subject (-want +got):\n%s", diff)
			}
		})
	}
}

func TestComposeBody(t *testing.T) {
	t.Parallel()
	_, text, html := Compose(finished())
	for _, want := range []string{
		"Import of users.csv finished",
		"Tenant:    acme",
		"Import ID: 42",
		"Records:   10,000",
		"Created:   9,900",
		"Rejected:  100",
		"Warnings:  3",
		"Duration:  2m13s",
		"First errors:",
		"  - line 313, User name: required: the user's full name",
		"  - line 1,200: 3 fields, want 27",
		"100 records were rejected. Correct them in the attached error report users-errors.csv and upload it as a new file",
		"Line (the record's line in users.csv) and Errors",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	for _, want := range []string{
		"<h2", "Import of users.csv finished</h2>",
		">Created</th><td", ">9,900</td>",
		"<li>line 313, User name: required: the user&#39;s full name</li>",
		"attached error report users-errors.csv",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("html lacks %q:\n%s", want, html)
		}
	}
}

func TestComposeReportSentence(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(*Result)
		want []string // in the text part
		not  []string
	}{
		{"attached", func(*Result) {}, []string{"Correct them in the attached error report users-errors.csv and upload it as a new file"},
			[]string{"http"}},
		{"linked", func(r *Result) { r.Report, r.ReportURL = nil, "https://s3.example.com/r.csv?sig=1" },
			[]string{"Error report users-errors.csv: https://s3.example.com/r.csv?sig=1",
				"Correct them in the error report users-errors.csv (link above) and upload it as a new file"}, nil},
		{"attachment wins over link", func(r *Result) { r.ReportURL = "https://s3.example.com/r.csv" },
			[]string{"attached error report"}, []string{"https://s3.example.com"}},
		{"no report", func(r *Result) { r.Report = nil },
			[]string{"100 records were rejected. Correct them in users.csv and upload it again"}, []string{"error report"}},
		{"default report name", func(r *Result) { r.File, r.ReportName = "dir/staff list.v2.csv", "" },
			[]string{"attached error report staff list.v2-errors.csv"}, nil},
		{"one record", func(r *Result) { r.Rejected = 1 }, []string{"1 record was rejected. Correct them"}, nil},
		{"hashes left out", func(r *Result) { r.HashesLeftOut = true },
			[]string{"The report leaves out password hashes (the column is empty)", "keeps the password of a user who exists already"}, nil},
		{"hashes not said to be left out", func(*Result) {}, nil, []string{"password hashes"}},
		{"nothing rejected", func(r *Result) { r.Rejected, r.Report, r.FirstErrors = 0, nil, nil },
			[]string{"Every record was imported."}, []string{"rejected.", "Correct", "errors:"}},
		{"dry run", func(r *Result) { r.DryRun = true },
			[]string{"This was a dry run: nothing was changed.", "To create:", "100 records would be rejected. Correct them in users.csv before importing it; the attached error report users-errors.csv lists them"},
			[]string{"upload it as a new file"}},
		{"rejected file", func(r *Result) {
			r.State, r.FileError, r.Records, r.Rejected, r.Report, r.FirstErrors = lifecycle.ImportRejected, "duplicate Login IDs", 0, 0, nil, nil
		}, []string{"users.csv was rejected as a whole, and nothing was imported.", "Reason: duplicate Login IDs", "Correct the file and upload it again."},
			[]string{"Records:", "Created:"}},
		{"failed", func(r *Result) { r.State, r.FileError = lifecycle.ImportFailed, "database unavailable" },
			[]string{"stopped because of an error on our side: database unavailable.", "You can upload the file again later",
				"The attached error report users-errors.csv lists them"},
			[]string{"as a new file"}},
		{"more than ten problems", func(r *Result) {
			r.FirstErrors = nil
			for i := range 12 {
				r.FirstErrors = append(r.FirstErrors, Problem{Line: i + 2, Column: "Email", Message: "invalid"})
			}
		}, []string{"  - line 11, Email: invalid\n", "First errors:"}, []string{"line 12,", "line 13,"}},
		{"all problems shown", func(r *Result) { r.Rejected = 2 }, []string{"\nErrors:\n"}, []string{"First errors"}},
		{"problem without line or column", func(r *Result) { r.FirstErrors = []Problem{{Message: "odd"}} },
			[]string{"  - odd\n"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := finished()
			tt.edit(&r)
			_, text, _ := Compose(r)
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("text lacks %q:\n%s", w, text)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(text, n) {
					t.Errorf("text has %q:\n%s", n, text)
				}
			}
		})
	}
}

// Values come from tenants' files: nothing in them may become markup.
func TestComposeEscapesHTML(t *testing.T) {
	t.Parallel()
	const script = `<script>alert("x")</script>`
	r := finished()
	r.Tenant = `acme<img src=x onerror=alert(1)>`
	r.File = script + `.csv`
	r.ReportName = `"><b>report</b>.csv`
	r.FirstErrors = []Problem{{Line: 3, Column: `<i>Email</i>`, Message: `invalid: "` + script + `"`}}
	r.Report, r.ReportURL = nil, `javascript:alert(1)`
	subject, text, html := Compose(r)

	for _, bad := range []string{"<script", "<img", "<i>", "<b>", "javascript:"} {
		if strings.Contains(html, bad) {
			t.Errorf("html holds %q unescaped:\n%s", bad, html)
		}
	}
	for _, want := range []string{
		"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;.csv",
		"acme&lt;img src=x onerror=alert(1)&gt;",
		"&lt;i&gt;Email&lt;/i&gt;",
		`href="#ZgotmplZ"`, // html/template's replacement for an unsafe URL
	} {
		if !strings.Contains(html, want) {
			t.Errorf("html lacks %q:\n%s", want, html)
		}
	}
	// The plain-text part shows the values as they are (minus control characters).
	if !strings.Contains(text, "line 3, <i>Email</i>: invalid: \""+script+"\"") {
		t.Errorf("text lost the problem:\n%s", text)
	}
	if !strings.Contains(subject, script+".csv") {
		t.Errorf("subject = %q", subject)
	}
}

func TestComposeStripsControlCharacters(t *testing.T) {
	t.Parallel()
	r := finished()
	r.Tenant = "acme\nRecords:   0"
	r.FirstErrors = []Problem{{Line: 5, Column: "Email", Message: "bad\r\n  - line 6, Email: forged\x00\x1b[31m"}}
	_, text, _ := Compose(r)
	if strings.Contains(text, "\n  - line 6") || strings.Contains(text, "\nRecords:   0") {
		t.Errorf("a value forged a line:\n%s", text)
	}
	if strings.ContainsAny(text, "\x00\x1b\r") {
		t.Errorf("control characters left in the text:\n%q", text)
	}
	if !strings.Contains(text, "Tenant:    acme Records: 0\n") {
		t.Errorf("tenant not kept on one line:\n%s", text)
	}
}

func TestThousands(t *testing.T) {
	t.Parallel()
	for n, want := range map[int]string{0: "0", 7: "7", 999: "999", 1000: "1,000", 9900: "9,900",
		123456: "123,456", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		850*time.Millisecond + 300*time.Microsecond: "850ms",
		42*time.Second + 400*time.Millisecond:       "42s",
		133 * time.Second:                           "2m13s",
		time.Hour + 5*time.Minute:                   "1h5m0s",
	} {
		if got := duration(d); got != want {
			t.Errorf("duration(%v) = %q, want %q", d, got, want)
		}
	}
}

func ExampleCompose() {
	subject, _, _ := Compose(Result{File: "users.csv", State: lifecycle.ImportFinished, Created: 9900, Rejected: 100})
	fmt.Println(subject)
	// Output: Import of users.csv: 9,900 created, 0 updated, 0 unchanged, 100 rejected
}

// With reasons, the message groups the rejections (the largest first, a few
// of them, the rest in one line) and quotes no single lines; the HTML escapes
// a reason, which holds the file's values.
func TestComposeGroupsRejectionsByReason(t *testing.T) {
	t.Parallel()
	r := finished()
	r.Rejected = 100
	for i := range maxReasons + 2 {
		r.Reasons = append(r.Reasons, userrow.Reason{Column: fmt.Sprint("col", i), Message: `"…" is <bad>`, Example: `"v"`, Records: 10 - i})
	}
	r.OtherReasons = 5
	r.Advice = "Do this."
	r.PageURL = "https://imports.example.com/ui/imports/42"
	r.ResultsURL = r.PageURL + "/results"
	_, text, html := Compose(r)
	for _, want := range []string{
		"The results of every record: https://imports.example.com/ui/imports/42/results\n",
		"What was rejected:\n  - 10 records: col0: \"…\" is <bad> (e.g. \"v\")\n  - 9 records: col1:",
		"  - and 14 records for 2 other reasons\n", // 4 + 3 in the last two groups, 5 past the bound
		"\nDo this.\n",
		"The import's page: https://imports.example.com/ui/imports/42",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "line 313") || strings.Contains(text, "First errors") {
		t.Errorf("text quotes single lines although reasons are known:\n%s", text)
	}
	if strings.Contains(html, "<bad>") || !strings.Contains(html, "&lt;bad&gt;") || !strings.Contains(html, `<a href="https://imports.example.com/ui/imports/42">`) ||
		!strings.Contains(html, `<a href="https://imports.example.com/ui/imports/42/results">`) {
		t.Errorf("html does not escape the reasons or lacks the page's link:\n%s", html)
	}
}
