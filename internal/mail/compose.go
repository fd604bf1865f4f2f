package mail

import (
	"bytes"
	_ "embed" // the message templates
	"fmt"
	htmltemplate "html/template"
	"path"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/userimport/userimport/internal/lifecycle"
	"github.com/userimport/userimport/internal/userrow"
)

// Result is what the e-mail reports: one import, as it ended.
type Result struct {
	Tenant   string
	File     string // the uploaded file's name, e.g. "users.csv"
	ImportID int64
	State    lifecycle.ImportState // finished, rejected or failed (anything else reads as finished)
	// FileError is why the file was rejected as a whole (State rejected), or
	// what stopped the import (State failed).
	FileError string

	Records, Created, Updated, Unchanged, Rejected, Warnings int
	Duration                                                 time.Duration

	// Reasons group the rejected records by what is wrong with them, the
	// largest group first: the message shows them, with their counts, rather
	// than the first lines. OtherReasons counts records past the groups kept.
	Reasons      []userrow.Reason
	OtherReasons int
	// Advice says what to do about the largest group, when there is more to
	// say than its message does (userrow.Advise).
	Advice string
	// FirstErrors are a few problems to quote when Reasons are unknown (up to
	// 10 are shown).
	FirstErrors []Problem
	// PageURL is the import's page in the web pages (from PUBLIC_URL), linked
	// when set.
	PageURL string
	// ResultsURL is the import's results file in the web pages (from
	// PUBLIC_URL: a session is needed to download it), linked when set.
	ResultsURL string
	DryRun     bool

	// Report is the error report, a CSV in the upload's format: attached as
	// text/csv when not empty.
	Report []byte
	// ReportName is the attachment's name; "<file>-errors.csv" when empty.
	ReportName string
	// ReportURL is where to download the report when it is too large to
	// attach (the caller decides): linked when Report is empty.
	ReportURL string
	// HashesLeftOut says that the report's password column was emptied: the
	// message then says what that means for importing it again.
	HashesLeftOut bool

	// Feed is set for an import made by a feed run: what the run deactivated,
	// reactivated or holds for approval (see feed.go).
	Feed *FeedSummary
}

// Problem is an error about one record of the file.
type Problem struct {
	Line    int
	Column  string // the column's title; "" for the record as a whole
	Message string
}

const (
	maxProblems      = 10  // problems quoted in the message
	maxReasons       = 5   // groups of rejections shown in the message
	maxSubjectReason = 120 // characters of a rejection's reason in the subject
	maxSubjectFile   = 80  // characters of the file name in the subject
)

var (
	//go:embed result.txt.tmpl
	textSource string
	//go:embed result.html.tmpl
	htmlSource string

	textTemplate = texttemplate.Must(texttemplate.New("text").Parse(textSource))
	htmlTemplate = htmltemplate.Must(htmltemplate.New("html").Parse(htmlSource))
)

// view is what the templates show. Every string in it is plain text: the
// HTML template escapes it.
type view struct {
	Heading  string
	Intro    []string // paragraphs before the figures
	Rows     []row
	Problems []string
	More     bool // there are more problems than Problems shows

	Reasons     []string // "80,000 records: Roles: unknown role …"
	MoreReasons string   // "and 1,200 records for 3 other reasons"
	Advice      string
	Page        string // the import's page
	Results     string // its results file

	// The error report: attached (Attached), linked (URL) or neither.
	Attached bool
	Report   string // its name
	URL      string
	Fix      string // how to fix and re-upload
}

type row struct{ Label, Value string }

// Compose returns the subject, the plain-text body and the HTML body of r's
// e-mail. Values from the tenant's file (its name, error messages) are
// escaped in the HTML and stripped of control characters everywhere.
func Compose(r Result) (subject, text, html string) {
	v := newView(r)
	var tb, hb bytes.Buffer
	// The templates are fixed and the view holds only strings, bools and
	// slices: executing them cannot fail but on a bug, which the tests catch.
	if err := textTemplate.Execute(&tb, v); err != nil {
		panic(fmt.Sprintf("mail: text template: %v", err))
	}
	if err := htmlTemplate.Execute(&hb, v); err != nil {
		panic(fmt.Sprintf("mail: html template: %v", err))
	}
	return composeSubject(r), tb.String(), hb.String()
}

func composeSubject(r Result) string {
	if s := feedSubject(r); s != "" {
		return s
	}
	what := "Import"
	if r.DryRun {
		what = "Dry run"
	}
	file := truncate(oneLine(fileName(r)), maxSubjectFile)
	switch r.State {
	case lifecycle.ImportRejected:
		if reason := oneLine(r.FileError); reason != "" {
			return fmt.Sprintf("%s of %s rejected: %s", what, file, truncate(reason, maxSubjectReason))
		}
		return fmt.Sprintf("%s of %s rejected", what, file)
	case lifecycle.ImportFailed:
		return fmt.Sprintf("%s of %s failed", what, file)
	default: // finished: the counts
	}
	if r.DryRun {
		return fmt.Sprintf("Dry run of %s: %s to create, %s to update, %s unchanged, %s rejected",
			file, thousands(r.Created), thousands(r.Updated), thousands(r.Unchanged), thousands(r.Rejected))
	}
	return fmt.Sprintf("Import of %s: %s created, %s updated, %s unchanged, %s rejected",
		file, thousands(r.Created), thousands(r.Updated), thousands(r.Unchanged), thousands(r.Rejected))
}

func newView(r Result) view {
	file := oneLine(fileName(r))
	reason := oneLine(r.FileError)
	v := view{Report: oneLine(reportName(r)), Attached: len(r.Report) > 0}
	if !v.Attached {
		v.URL = strings.TrimSpace(r.ReportURL)
	}

	what := "Import"
	if r.DryRun {
		what = "Dry run"
	}
	created, updated := "Created", "Updated"
	if r.DryRun {
		created, updated = "To create", "To update"
	}
	switch r.State {
	case lifecycle.ImportRejected:
		v.Heading = fmt.Sprintf("%s of %s rejected", what, file)
		v.Intro = append(v.Intro, fmt.Sprintf("%s was rejected as a whole, and nothing was imported.", file))
		if reason != "" {
			v.Intro = append(v.Intro, "Reason: "+reason)
		}
		v.Intro = append(v.Intro, "Correct the file and upload it again.")
	case lifecycle.ImportFailed:
		v.Heading = fmt.Sprintf("%s of %s failed", what, file)
		msg := fmt.Sprintf("The %s of %s stopped because of an error on our side.", strings.ToLower(what), file)
		if reason != "" {
			msg = fmt.Sprintf("The %s of %s stopped because of an error on our side: %s.",
				strings.ToLower(what), file, strings.TrimSuffix(reason, "."))
		}
		v.Intro = append(v.Intro, msg)
		if !r.DryRun {
			v.Intro = append(v.Intro, "The figures below show what was done before it stopped. "+
				"You can upload the file again later: the users already imported will count as unchanged.")
		}
	default:
		v.Heading = fmt.Sprintf("%s of %s finished", what, file)
		if r.DryRun {
			v.Intro = append(v.Intro, "This was a dry run: nothing was changed. "+
				"The figures show what importing the file would do.")
		}
		if r.Rejected == 0 {
			if r.DryRun {
				v.Intro = append(v.Intro, "Every record is valid.")
			} else {
				v.Intro = append(v.Intro, "Every record was imported.")
			}
		}
	}
	v.Intro = append(v.Intro, feedIntro(r)...)

	add := func(label, value string) { v.Rows = append(v.Rows, row{label, value}) }
	add("Tenant", oneLine(r.Tenant))
	add("File", file)
	if r.ImportID != 0 {
		add("Import ID", strconv.FormatInt(r.ImportID, 10))
	}
	if r.State != lifecycle.ImportRejected || r.Records > 0 {
		add("Records", thousands(r.Records))
		add(created, thousands(r.Created))
		add(updated, thousands(r.Updated))
		add("Unchanged", thousands(r.Unchanged))
		add("Rejected", thousands(r.Rejected))
		add("Warnings", thousands(r.Warnings))
	}
	if r.Duration > 0 {
		add("Duration", duration(r.Duration))
	}

	v.Page = strings.TrimSpace(r.PageURL)
	v.Results = strings.TrimSpace(r.ResultsURL)
	v.Advice = oneLine(r.Advice)
	v.Reasons, v.MoreReasons = ReasonLines(r.Reasons, r.OtherReasons, maxReasons)
	lines := map[int]bool{}
	for i, p := range r.FirstErrors {
		if len(r.Reasons) > 0 {
			break // the groups say it better than the first lines
		}
		if i == maxProblems {
			v.More = true
			break
		}
		v.Problems = append(v.Problems, problem(p))
		lines[p.Line] = true
	}
	if r.Rejected > len(lines) && len(r.Reasons) == 0 {
		v.More = true
	}

	v.Fix = fixText(r, v, file)
	return v
}

// fixText says what was rejected and how to fix it, and where the report is.
func fixText(r Result, v view, file string) string {
	report := ""
	switch {
	case v.Attached:
		report = "the attached error report " + v.Report
	case v.URL != "":
		report = "the error report " + v.Report + " (link above)"
	}
	var b strings.Builder
	if r.Rejected > 0 {
		verb := "were"
		if r.DryRun {
			verb = "would be"
		}
		if r.Rejected == 1 {
			fmt.Fprintf(&b, "1 record %s rejected. ", strings.Replace(verb, "were", "was", 1))
		} else {
			fmt.Fprintf(&b, "%s records %s rejected. ", thousands(r.Rejected), verb)
		}
	}
	switch {
	case r.State == lifecycle.ImportFailed || r.State == lifecycle.ImportRejected:
		// Uploading the report alone would leave out the records not yet
		// imported: the intro says to upload the whole file again.
		if report != "" {
			fmt.Fprintf(&b, "%s lists them, with their line and what is wrong.", capitalise(report))
		}
	case r.DryRun:
		// Nothing was imported: the whole file is to be corrected.
		if r.Rejected > 0 {
			fmt.Fprintf(&b, "Correct them in %s before importing it", file)
			if report != "" {
				fmt.Fprintf(&b, "; %s lists them, with their line and what is wrong", report)
			}
			b.WriteString(".")
		}
	case report != "":
		them := "them"
		if r.Rejected == 0 {
			them = "the records"
		}
		fmt.Fprintf(&b, "Correct %s in %s and upload it as a new file: it holds only the rejected records, "+
			"in the columns of %s, with two more at the end, Line (the record's line in %s) and Errors "+
			"(what is wrong with it), which an import ignores.", them, report, file, file)
		if r.HashesLeftOut {
			b.WriteString(" The report leaves out password hashes (the column is empty): imported again, it keeps " +
				"the password of a user who exists already, and gives a new user the default password (their " +
				"Login ID, to be changed at the first login), unless you copy the hash from your file.")
		}
	case r.Rejected > 0:
		fmt.Fprintf(&b, "Correct them in %s and upload it again: the users already imported will count as unchanged.", file)
	}
	return strings.TrimSpace(b.String())
}

func capitalise(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

// ReasonLines reads the largest limit groups as "80,000 records: Roles:
// unknown role "…": add it to … (e.g. "Sales")", and the rest as one line.
func ReasonLines(reasons []userrow.Reason, other, limit int) (lines []string, more string) {
	for i, r := range reasons {
		if i == limit {
			n, records := len(reasons)-i, other
			for _, r := range reasons[i:] {
				records += r.Records
			}
			return lines, fmt.Sprintf("and %s for %s other %s", records1(records), thousands(n), plural(n, "reason", "reasons"))
		}
		lines = append(lines, ReasonLine(r))
	}
	if other > 0 {
		more = fmt.Sprintf("and %s for other reasons", records1(other))
	}
	return lines, more
}

// ReasonLine reads one group of rejections for people: its count, its column
// and its message, with the first record's values as an example.
func ReasonLine(r userrow.Reason) string {
	var b strings.Builder
	b.WriteString(records1(r.Records))
	b.WriteString(": ")
	if col := oneLine(r.Column); col != "" {
		b.WriteString(col)
		b.WriteString(": ")
	}
	b.WriteString(oneLine(r.Message))
	if example := oneLine(r.Example); example != "" {
		fmt.Fprintf(&b, " (e.g. %s)", truncate(example, 120))
	}
	return b.String()
}

func records1(n int) string { return thousands(n) + " " + plural(n, "record", "records") }

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// problem reads "line 313, User name: required: the user's full name".
func problem(p Problem) string {
	var b strings.Builder
	if p.Line > 0 {
		b.WriteString("line ")
		b.WriteString(thousands(p.Line))
	}
	if col := oneLine(p.Column); col != "" {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(col)
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(oneLine(p.Message))
	return b.String()
}

func fileName(r Result) string {
	if strings.TrimSpace(r.File) == "" {
		return "your file"
	}
	return r.File
}

func reportName(r Result) string {
	if r.ReportName != "" {
		return r.ReportName
	}
	base := path.Base(strings.ReplaceAll(r.File, `\`, "/"))
	if r.File == "" || base == "." || base == "/" {
		return "errors.csv"
	}
	return strings.TrimSuffix(base, path.Ext(base)) + "-errors.csv"
}

// oneLine turns control characters (newlines included) into spaces and
// squeezes runs of white space: a value from a file must not forge lines of
// the message or its headers.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError
	}), " ")
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// thousands formats n with commas: 9900 → "9,900".
func thousands(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// duration rounds d for people: "850ms", "42s", "2m13s", "1h5m0s".
func duration(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
