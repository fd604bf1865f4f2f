package userrow

import "strings"

// Column identifies one of the 27 columns of the format, in positional order.
type Column int

// The columns in the order the format fixes for files without a header.
const (
	UserName Column = iota
	LoginID
	Language
	Email
	ValidFrom
	PhoneMapping
	Password
	ChangePassword
	Groups
	Roles
	RecordingMode
	TimeZone
	CRMUserID
	Voice
	InstantMessaging
	Video
	DesktopScreen
	Custom0
	Custom1
	Custom2
	Custom3
	Custom4
	PromptInbound
	PromptConference
	InboundFile
	ConferenceFile
	ConferenceMessage

	// NumColumns is the number of fields every positional record must have.
	NumColumns = int(iota)
)

// columnNames are the titles of the spec's table; reports and exports use them.
var columnNames = [NumColumns]string{
	"User name", "Login ID", "Language", "E-mail", "Valid From yyyy.mm.dd",
	"Phone Mapping", "Password (MD5 Hash)", "Change Password at Next Login",
	"Groups", "Role API Names", "Recording Mode", "Time Zone", "CRM User ID",
	"Voice", "Instant Messaging", "Video", "Desktop Screen",
	"custom0", "custom1", "custom2", "custom3", "custom4",
	"Prompt Inbound", "Prompt Conference", "Inbound File", "Conference File",
	"Conference Message",
}

// String returns the column's title as the spec's table writes it.
func (c Column) String() string {
	if c < 0 || int(c) >= NumColumns {
		return ""
	}
	return columnNames[c]
}

// Names returns the 27 column titles in positional order, as a header row.
func Names() []string {
	return append([]string(nil), columnNames[:]...)
}

// Report columns: an error report carries them after the 27 data columns, and
// an import of a corrected report ignores them.
const (
	ReportLine   = "Line"
	ReportErrors = "Errors"
)

// aliases are the other spellings a header may use: the original page's fuller
// titles and the obvious short forms. Keys are normalised with headerKey.
var aliases = map[string]Column{
	"emailaddress":   Email,
	"email":          Email,
	"loginid":        LoginID,
	"login":          LoginID,
	"validfrom":      ValidFrom,
	"password":       Password,
	"passwordmd5":    Password,
	"changepassword": ChangePassword,
	"roles":          Roles,
}

// headerKey folds a header title for comparison: case-insensitive, with spaces,
// '-' and '_' ignored.
func headerKey(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range strings.ToLower(s) {
		switch r {
		case ' ', '\t', '-', '_':
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// columnByKey maps every known header spelling to its column.
var columnByKey = func() map[string]Column {
	m := make(map[string]Column, NumColumns+len(aliases))
	for c := range Column(NumColumns) {
		m[headerKey(columnNames[c])] = c
	}
	for k, c := range aliases {
		m[k] = c
	}
	return m
}()

// LookupColumn reports the column a header title names, if any.
func LookupColumn(title string) (Column, bool) {
	c, ok := columnByKey[headerKey(title)]
	return c, ok
}
