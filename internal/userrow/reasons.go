package userrow

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Reason is one kind of problem and how many records have it: "Roles:
// unknown role "…"" held by 80,000 records. A summary of rejections lists
// reasons, not lines, so that a file with one systematic mistake reads as one
// mistake.
type Reason struct {
	Column  string `json:"column,omitempty"`  // the column's title; "" for the record as a whole
	Message string `json:"message"`           // the problem with the record's own values left out
	Example string `json:"example,omitempty"` // the first record's values the message leaves out: `"Sales"`
	Records int    `json:"records"`
}

// MaxReasons bounds the reasons a ReasonCounter keeps: a file whose every
// record is wrong in its own way must not make the summary (or the memory of
// whoever counts) grow with it. Problems past the bound count as OtherReasons.
const MaxReasons = 50

// ReasonCounter counts the records of each reason, record by record.
type ReasonCounter struct {
	byKey map[string]*Reason
	seen  map[string]bool // reasons of the current record, counted once each
	other int             // records whose only new reasons came past MaxReasons
}

// Record counts one rejected record, given its problems as (column title,
// message) pairs. A record with two problems of one reason counts once for it.
func (c *ReasonCounter) Record(problems [][2]string) {
	if c.byKey == nil {
		c.byKey, c.seen = map[string]*Reason{}, map[string]bool{}
	}
	clear(c.seen)
	overflow := false
	for _, p := range problems {
		column, msg := p[0], p[1]
		generic := withoutValues(msg)
		key := column + "\x00" + generic
		if c.seen[key] {
			continue
		}
		c.seen[key] = true
		r := c.byKey[key]
		if r == nil {
			if len(c.byKey) == MaxReasons {
				overflow = true
				continue
			}
			r = &Reason{Column: column, Message: generic, Example: values(msg)}
			c.byKey[key] = r
		}
		r.Records++
	}
	if overflow {
		c.other++
	}
}

// Reasons returns the reasons counted, the most frequent first (ties in the
// order of their messages), and how many records had a reason past the bound.
func (c *ReasonCounter) Reasons() (reasons []Reason, other int) {
	for _, r := range c.byKey {
		reasons = append(reasons, *r)
	}
	slices.SortFunc(reasons, func(a, b Reason) int {
		return cmp.Or(cmp.Compare(b.Records, a.Records), cmp.Compare(a.Column, b.Column), cmp.Compare(a.Message, b.Message))
	})
	return reasons, c.other
}

var (
	// The validator quotes a record's own values with %q: a Go string
	// literal, escapes included.
	quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	// A list of them, e.g. the unknown roles of one record.
	quotedList = regexp.MustCompile(`"…"(?:, "…")+`)
	// A line named in a message is the record's (where a Login ID was first
	// seen): the same reason at another line is still the same reason.
	lineNumber = regexp.MustCompile(`\bline \d+`)
)

// withoutValues turns a problem's message into its reason: the record's
// values become "…", so that `unknown role "Sales"` and `unknown role "HR"`
// read as one reason. A list of values reads as one, and the plural that goes
// with it as the singular: a record with two unknown roles has the reason of
// a record with one.
func withoutValues(msg string) string {
	s := quoted.ReplaceAllLiteralString(msg, `"…"`)
	if t := quotedList.ReplaceAllLiteralString(s, `"…"`); t != s {
		s = singular(t)
	}
	return lineNumber.ReplaceAllLiteralString(s, "line …")
}

// values are what withoutValues leaves out of msg, the first few: `"Sales",
// "HR"`.
func values(msg string) string {
	v := quoted.FindAllString(msg, 3)
	if len(v) == 0 {
		v = lineNumber.FindAllString(msg, 1)
	}
	return strings.Join(v, ", ")
}

// singular undoes the plural of the validator's messages about several values
// ("unknown roles …: add them … the names"): the words it uses are few and
// fixed, so a table says them.
func singular(s string) string {
	return pluralWords.Replace(s)
}

var pluralWords = strings.NewReplacer(
	"unknown roles", "unknown role",
	"add them", "add it",
	"the names", "the name",
	"are not", "is not",
)

// Advise says what to do about the largest group of rejections when its
// message does not say enough: roles is the size of the tenant's role
// catalog, tenant its ID (for the command to run). It returns "" when the
// message says it all.
func Advise(r Reason, roles int, tenant string) string {
	switch {
	case strings.HasPrefix(r.Message, "unknown role"):
		if roles == 0 {
			return fmt.Sprintf("The tenant's role catalog is empty, so every record that names a role is rejected: "+
				"add the roles on the Roles page or with `importctl roles add --tenant %s NAME...`, then retry the import's rejected records.", tenant)
		}
		return fmt.Sprintf("Rejected records name roles the tenant's role catalog lacks (%s): add them on the Roles page or with "+
			"`importctl roles add --tenant %s NAME...`, or correct the names, then retry the import's rejected records.",
			recordCount(r.Records), tenant)
	case strings.HasPrefix(r.Message, "duplicate Login ID"):
		return fmt.Sprintf("Records repeat the Login ID of an earlier record (%s): the first record of each Login ID "+
			"was imported. Keep one record per Login ID.", recordCount(r.Records))
	}
	return ""
}

func recordCount(n int) string {
	if n == 1 {
		return "1 record"
	}
	return strconv.Itoa(n) + " records"
}
