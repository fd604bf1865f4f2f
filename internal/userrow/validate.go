package userrow

import (
	"fmt"
	"maps"
	"strings"
	"sync/atomic"
	"time"
	_ "time/tzdata" // time zones resolve the same on every machine, also in scratch images
	"unicode/utf8"
)

// NoColumn stands for the record as a whole in a Problem.
const NoColumn Column = -1

// Problem is something wrong with a record: an error rejects it, a warning
// does not.
type Problem struct {
	Column  Column // NoColumn for the record as a whole
	Message string
}

// Options configure a Validator.
type Options struct {
	// Roles is the tenant's role catalog. Nil means role names are not checked
	// (the offline validator when no catalog is given); otherwise every role a
	// record names must be in it. Names match case-insensitively and are stored
	// as the catalog spells them.
	Roles []string
}

// Validator checks records one at a time. It keeps no state between records
// (FileCheck does that), so one Validator may serve several goroutines.
type Validator struct {
	roles map[string]string // lower-case name → catalog spelling; nil: no check

	// zones holds the time zone IDs found valid (LoadLocation is costly): a
	// map replaced, never changed, so that readers need no lock.
	zones atomic.Pointer[map[string]bool]
}

// NewValidator returns a Validator with the given options.
func NewValidator(opts Options) *Validator {
	v := &Validator{}
	v.zones.Store(&map[string]bool{})
	if opts.Roles != nil {
		v.roles = make(map[string]string, len(opts.Roles))
		for _, r := range opts.Roles {
			v.roles[strings.ToLower(r)] = r
		}
		for _, r := range opts.Roles {
			v.roles[r] = r
		}
	}
	return v
}

// Validate checks one record's fields, laid out as l says, and returns the
// user with normalised values and the record's problems (none when valid).
func (v *Validator) Validate(l *Layout, fields []string) (User, []Problem) {
	var (
		u     User
		probs []Problem
		// One allocation holds the record's three lists; appending each list
		// to its own nil slice would cost three to five.
		arena = make([]string, 0, listCapacity(l, fields))
	)
	for i, raw := range fields {
		c := l.Column(i)
		if c == NoColumn {
			continue
		}
		value := unguard(raw)
		if value == "" {
			continue
		}
		if msg := v.set(&u, c, value, &arena); msg != "" {
			probs = append(probs, Problem{Column: c, Message: msg})
			continue
		}
		u.Given = u.Given.With(c)
	}
	if !u.Given.Has(UserName) && !hasProblem(probs, UserName) {
		probs = append(probs, Problem{Column: UserName, Message: "required: the user's full name"})
	}
	if !u.Given.Has(LoginID) && !hasProblem(probs, LoginID) {
		probs = append(probs, Problem{Column: LoginID, Message: "required: the name the user logs in with"})
	}
	return u, probs
}

// listCapacity bounds the number of values in the record's list columns.
func listCapacity(l *Layout, fields []string) int {
	n := 0
	for _, lc := range [...]struct {
		c   Column
		sep string
	}{{PhoneMapping, ";"}, {Groups, ";"}, {Roles, "\n"}} {
		if i := l.FieldOf(lc.c); i >= 0 && i < len(fields) && fields[i] != "" {
			n += strings.Count(fields[i], lc.sep) + 1
		}
	}
	return n
}

func hasProblem(probs []Problem, c Column) bool {
	for _, p := range probs {
		if p.Column == c {
			return true
		}
	}
	return false
}

// unguard drops the apostrophe that error reports put before a value a
// spreadsheet would run as a formula, so that a corrected report round-trips.
func unguard(s string) string {
	if len(s) >= 2 && s[0] == '\'' && isFormulaStart(s[1]) {
		return s[1:]
	}
	return s
}

func isFormulaStart(c byte) bool {
	switch c {
	case '=', '+', '-', '@', '\t', '\r':
		return true
	}
	return false
}

// set validates value for column c and stores its normalised form in u. It
// returns the problem's message, or "" when the value is valid.
func (v *Validator) set(u *User, c Column, value string, arena *[]string) string {
	switch c {
	case UserName:
		return text(&u.Name, value, 64)
	case LoginID:
		if msg := checkLoginID(value); msg != "" {
			return msg
		}
		u.LoginID = value
	case Language:
		lang, ok := canonicalLanguage(value)
		if !ok {
			return fmt.Sprintf("%q is not a supported language: use en, hu, de, fr or fr_CA", value)
		}
		u.Language = lang
	case Email:
		if msg := maxChars(value, 128); msg != "" {
			return msg
		}
		if !isEmail(value) {
			return fmt.Sprintf("%q is not an e-mail address: write one address such as name@example.com", value)
		}
		u.Email = value
	case ValidFrom:
		d, msg := parseDate(value)
		if msg != "" {
			return msg
		}
		u.ValidFrom = d
	case PhoneMapping:
		phones, msg := parsePhones(value, arena)
		if msg != "" {
			return msg
		}
		u.Phones = phones
	case Password:
		h, ok := md5Hex(value)
		if !ok {
			return "not an MD5 hash: write 32 hexadecimal digits, or leave it empty to keep the current password"
		}
		u.PasswordMD5 = h
	case ChangePassword:
		return flag(&u.ChangePassword, value)
	case Groups:
		groups, msg := parseGroups(value, arena)
		if msg != "" {
			return msg
		}
		u.Groups = groups
	case Roles:
		roles, msg := v.parseRoles(value, arena)
		if msg != "" {
			return msg
		}
		u.Roles = roles
	case RecordingMode:
		mode, ok := lookupFold(recordingModes, value)
		if !ok {
			return fmt.Sprintf("%q is not a recording mode: use full, on-demand, manual or no", value)
		}
		u.RecordingMode = mode
	case TimeZone:
		if !v.validZone(value) {
			return fmt.Sprintf("%q is not a time zone ID: use an ID such as Europe/Stockholm", value)
		}
		u.TimeZone = value
	case CRMUserID:
		return text(&u.CRMUserID, value, 64)
	case Voice:
		return flag(&u.Voice, value)
	case InstantMessaging:
		return flag(&u.InstantMessaging, value)
	case Video:
		return flag(&u.Video, value)
	case DesktopScreen:
		return flag(&u.DesktopScreen, value)
	case Custom0, Custom1, Custom2, Custom3, Custom4:
		return text(&u.Custom[c-Custom0], value, 256)
	case PromptInbound:
		return flag(&u.PromptInbound, value)
	case PromptConference:
		return flag(&u.PromptConference, value)
	case InboundFile:
		return fileName(&u.InboundFile, value)
	case ConferenceFile:
		return fileName(&u.ConferenceFile, value)
	case ConferenceMessage:
		return text(&u.ConferenceMessage, value, 512)
	default: // NoColumn: ignored fields never get here
	}
	return ""
}

var (
	languages      = []string{"en", "hu", "de", "fr", "fr_CA"}
	recordingModes = []string{"full", "on-demand", "manual", "no"}
)

// lookupFold returns the element of list equal to s case-insensitively. The
// lists are short: a loop beats lower-casing s into a new string for a map.
func lookupFold(list []string, s string) (string, bool) {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return x, true
		}
	}
	return "", false
}

// canonicalLanguage accepts a language in any case, with '-' for '_'.
func canonicalLanguage(s string) (string, bool) {
	if len(s) == 5 && s[2] == '-' {
		s = s[:2] + "_" + s[3:]
	}
	return lookupFold(languages, s)
}

func text(dst *string, value string, limit int) string {
	if msg := maxChars(value, limit); msg != "" {
		return msg
	}
	*dst = value
	return ""
}

// maxChars checks a length in characters, not bytes: names are often not ASCII.
func maxChars(value string, limit int) string {
	if len(value) > limit && utf8.RuneCountInString(value) > limit {
		return fmt.Sprintf("longer than %d characters", limit)
	}
	return ""
}

func flag(dst *bool, value string) string {
	switch value {
	case "1":
		*dst = true
	case "0":
		*dst = false
	default:
		return fmt.Sprintf("%q is not a flag: write 1 or 0", value)
	}
	return ""
}

// ValidLoginID reports whether s is a valid Login ID.
func ValidLoginID(s string) bool { return s != "" && checkLoginID(s) == "" }

func checkLoginID(s string) string {
	if msg := maxChars(s, 32); msg != "" {
		return msg
	}
	for i := range len(s) {
		if !isLoginChar(s[i]) {
			return "only letters, digits, @ and . are allowed"
		}
	}
	return ""
}

func isLoginChar(c byte) bool { return loginChars[c] }

// Byte sets for the checks that run on every record: a table lookup per byte
// instead of strings.ContainsAny, which builds its set on every call.
var (
	loginChars    = byteSet("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@.")
	notInEmail    = byteSet(" \t\r\n,;<>()[]\\\"")
	notInURI      = byteSet(" \t\r\n;,\"<>")
	notInFileName = byteSet(`/\`)
	controlChars  = func() [256]bool {
		var set [256]bool
		for c := range 0x20 {
			set[c] = true
		}
		set[0x7f] = true
		return set
	}()
)

func byteSet(chars string) [256]bool {
	var set [256]bool
	for i := range len(chars) {
		set[chars[i]] = true
	}
	return set
}

func containsAnyOf(s string, set *[256]bool) bool {
	for i := range len(s) {
		if set[s[i]] {
			return true
		}
	}
	return false
}

// isEmail accepts one plain address, local@domain, with a dotted domain. It is
// deliberately simple: the address is only used to send call information.
func isEmail(s string) bool {
	at := strings.IndexByte(s, '@')
	if at <= 0 || at != strings.LastIndexByte(s, '@') {
		return false
	}
	local, domain := s[:at], s[at+1:]
	if len(local) > 64 || containsAnyOf(s, &notInEmail) {
		return false
	}
	if !strings.Contains(domain, ".") {
		return false
	}
	for label := range strings.SplitSeq(domain, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
	}
	return true
}

// md5Hex checks for 32 hex digits and returns them in lower case, without a
// copy when they already are.
func md5Hex(s string) (string, bool) {
	if len(s) != 32 {
		return "", false
	}
	upper := false
	for i := range len(s) {
		switch hexDigits[s[i]] {
		case 0:
			return "", false
		case 2:
			upper = true
		}
	}
	if !upper {
		return s, true
	}
	var b [32]byte
	for i := range len(s) {
		b[i] = s[i] | 0x20 // 'A'-'F' → 'a'-'f'; digits and 'a'-'f' already have the bit
	}
	return string(b[:]), true
}

// hexDigits: 1 for 0-9 and a-f, 2 for A-F.
var hexDigits = func() [256]byte {
	var t [256]byte
	for _, c := range "0123456789abcdef" {
		t[c] = 1
	}
	for _, c := range "ABCDEF" {
		t[c] = 2
	}
	return t
}()

// parseDate reads yyyy.mm.dd (with an optional Hungarian trailing dot),
// yyyy-mm-dd or yyyy/mm/dd, and rejects dates that do not exist.
func parseDate(s string) (time.Time, string) {
	bad := func() (time.Time, string) {
		return time.Time{}, fmt.Sprintf("%q is not a date: write yyyy.mm.dd, e.g. 2025.03.01", s)
	}
	t := strings.TrimSuffix(s, ".")
	if len(t) != 10 {
		return bad()
	}
	sep := t[4]
	if sep != '.' && sep != '-' && sep != '/' || t[7] != sep || (len(s) == 11 && sep != '.') {
		return bad()
	}
	y, ok1 := digits(t[0:4])
	m, ok2 := digits(t[5:7])
	d, ok3 := digits(t[8:10])
	if !ok1 || !ok2 || !ok3 {
		return bad()
	}
	date := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if y < 1900 || date.Year() != y || int(date.Month()) != m || date.Day() != d {
		return time.Time{}, fmt.Sprintf("%q is not a real date", s)
	}
	return date, ""
}

func digits(s string) (int, bool) {
	n := 0
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// parsePhones splits a Phone Mapping into normalised numbers and URIs, in
// order, without duplicates. Empty entries (a trailing ';') are ignored.
func parsePhones(s string, arena *[]string) ([]string, string) {
	start := len(*arena)
	for entry := range strings.SplitSeq(s, ";") {
		entry = trimBlank(entry)
		if entry == "" {
			continue
		}
		if msg := maxChars(entry, 128); msg != "" {
			*arena = (*arena)[:start]
			return nil, fmt.Sprintf("%q is %s", truncate(entry, 20), msg)
		}
		p, ok := normalisePhone(entry)
		if !ok {
			*arena = (*arena)[:start]
			return nil, fmt.Sprintf("%q is not a phone number or a sip:, sips: or tel: URI", entry)
		}
		if !contains((*arena)[start:], p) {
			*arena = append(*arena, p)
		}
	}
	return listFrom(*arena, start), ""
}

// listFrom returns the list that starts at start in the arena, capped so that
// appending to it never overwrites the arena's next list.
func listFrom(arena []string, start int) []string {
	if len(arena) == start {
		return nil
	}
	return arena[start:len(arena):len(arena)]
}

// normalisePhone returns a phone number with only its digits and a leading
// '+', or a URI with its scheme in lower case. It returns s itself when s is
// already in that form, which is the common case, to spare an allocation.
func normalisePhone(s string) (string, bool) {
	for _, scheme := range []string{"sip:", "sips:", "tel:"} {
		if len(s) < len(scheme) || !strings.EqualFold(s[:len(scheme)], scheme) {
			continue
		}
		rest := s[len(scheme):]
		if rest == "" || containsAnyOf(rest, &notInURI) || !utf8.ValidString(rest) {
			return "", false
		}
		if s[:len(scheme)] != scheme {
			return scheme + rest, true
		}
		return s, true
	}
	clean, nDigits := true, 0
	for i := range len(s) {
		switch c := s[i]; {
		case '0' <= c && c <= '9':
			nDigits++
		case c == '+' && nDigits == 0:
		case c == ' ' || c == '-' || c == '(' || c == ')':
			clean = false
		default:
			return "", false
		}
	}
	if nDigits == 0 {
		return "", false
	}
	if clean && strings.LastIndexByte(s, '+') <= 0 {
		return s, true
	}
	b := make([]byte, 0, len(s))
	for i := range len(s) {
		c := s[i]
		if '0' <= c && c <= '9' || c == '+' && len(b) == 0 {
			b = append(b, c)
		} else if c == '+' {
			return "", false // a second '+', or one after the first digit
		}
	}
	return string(b), true
}

// parseGroups splits a Groups field; names repeat case-insensitively at most once.
func parseGroups(s string, arena *[]string) ([]string, string) {
	start := len(*arena)
	for name := range strings.SplitSeq(s, ";") {
		name = trimBlank(name)
		if name == "" {
			continue
		}
		if msg := maxChars(name, 64); msg != "" {
			*arena = (*arena)[:start]
			return nil, fmt.Sprintf("group %q is %s", truncate(name, 20), msg)
		}
		if !containsFold((*arena)[start:], name) {
			*arena = append(*arena, name)
		}
	}
	return listFrom(*arena, start), ""
}

// parseRoles splits the line-break-separated Role API Names and checks each
// against the catalog.
func (v *Validator) parseRoles(s string, arena *[]string) ([]string, string) {
	start := len(*arena)
	var unknown []string
	for name := range strings.SplitSeq(s, "\n") {
		name = trimBlank(strings.TrimSuffix(name, "\r"))
		if name == "" {
			continue
		}
		if v.roles != nil {
			canon, ok := v.roles[name] // the catalog's own spelling, usually
			if !ok {
				canon, ok = v.roles[strings.ToLower(name)]
			}
			if !ok {
				unknown = append(unknown, fmt.Sprintf("%q", truncate(name, 40)))
				continue
			}
			name = canon
		}
		if !containsFold((*arena)[start:], name) {
			*arena = append(*arena, name)
		}
	}
	switch len(unknown) {
	case 0:
		return listFrom(*arena, start), ""
	case 1:
		*arena = (*arena)[:start]
		return nil, fmt.Sprintf("unknown role %s: add it to the tenant's role catalog or correct the name", unknown[0])
	}
	*arena = (*arena)[:start]
	return nil, fmt.Sprintf("unknown roles %s: add them to the tenant's role catalog or correct the names", strings.Join(unknown, ", "))
}

func (v *Validator) validZone(id string) bool {
	if (*v.zones.Load())[id] {
		return true
	}
	if id == "Local" || strings.ContainsAny(id, " \t") {
		return false
	}
	if _, err := time.LoadLocation(id); err != nil {
		return false
	}
	for {
		old := v.zones.Load()
		next := make(map[string]bool, len(*old)+1)
		maps.Copy(next, *old)
		next[id] = true
		if v.zones.CompareAndSwap(old, &next) {
			return true
		}
	}
}

// fileName accepts a plain file name: no path, nothing that climbs out of the
// folder notification files are served from.
func fileName(dst *string, value string) string {
	if msg := maxChars(value, 255); msg != "" {
		return msg
	}
	if containsAnyOf(value, &notInFileName) || strings.Contains(value, "..") {
		return fmt.Sprintf("%q is not a plain file name: no /, \\ or ..", value)
	}
	if containsAnyOf(value, &controlChars) {
		return "a file name cannot contain control characters"
	}
	*dst = value
	return ""
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// trimBlank trims spaces and tabs, as the format trims every value.
func trimBlank(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// truncate shortens s for a message, on a character boundary.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}
