package usergen

import (
	"bytes"
	"strconv"
	"unicode/utf8"

	"github.com/userimport/userimport/internal/userrow"
)

// The defect kinds, in the order Write cycles through them.
const (
	kindMissingUserName = iota
	kindUserNameTooLong
	kindMissingLogin
	kindLoginBadChar
	kindLoginTooLong
	kindDuplicateLogin
	kindBadLanguage
	kindBadEmail
	kindBadDate
	kindBadPhone
	kindBadPassword
	kindBadFlag
	kindUnknownRole
	kindBadRecordingMode
	kindBadTimeZone
	kindBadFileName
	kindCustomTooLong
	kindMessageTooLong
	kindFieldCount
	numKinds
)

// defectKinds are the Defect.Kind strings, indexed by the kind constants.
var defectKinds = [numKinds]string{
	kindMissingUserName:  "missing user name",
	kindUserNameTooLong:  "user name too long",
	kindMissingLogin:     "missing login",
	kindLoginBadChar:     "login forbidden character",
	kindLoginTooLong:     "login too long",
	kindDuplicateLogin:   "duplicate login",
	kindBadLanguage:      "bad language",
	kindBadEmail:         "bad e-mail",
	kindBadDate:          "bad date",
	kindBadPhone:         "bad phone",
	kindBadPassword:      "bad password hash",
	kindBadFlag:          "bad flag",
	kindUnknownRole:      "unknown role",
	kindBadRecordingMode: "bad recording mode",
	kindBadTimeZone:      "bad time zone",
	kindBadFileName:      "bad file name",
	kindCustomTooLong:    "custom field too long",
	kindMessageTooLong:   "conference message too long",
	kindFieldCount:       "field count",
}

// Bad values per kind. Each breaks exactly its own column's rule and nothing
// else, and none is ambiguous under the spec (no "en_US", no "CET").
var (
	badLanguages      = [...]string{"xx", "english", "es"}
	badDates          = [...]string{"2025.02.30", "31/12/2025", "2025.13.01", "2023-02-29", "2025.04.31.", "tomorrow"}
	badFlags          = [...]string{"2", "yes", "-1"}
	badRoles          = [...]string{"superuser", "agent\nsuperuser", "root"}
	badRecordingModes = [...]string{"always", "yes", "sometimes"}
	badTimeZones      = [...]string{"Mars/Olympus", "Europe/Atlantis", "Central European Time"}
	badFileNames      = [...]string{"../welcome_en.wav", "prompts/welcome_en.wav", `C:\prompts\welcome.wav`, ".."}
	flagColumns       = [...]userrow.Column{
		userrow.ChangePassword, userrow.Voice, userrow.InstantMessaging, userrow.Video,
		userrow.DesktopScreen, userrow.PromptInbound, userrow.PromptConference,
	}
)

// Fillers for the too-long kinds; they contain quotes, commas and non-ASCII
// letters so that the limits are tested in characters on quoted fields.
const (
	nameFiller    = " von Hohenzollern-Sigmaringen zu Württemberg und Öttingen"
	customFiller  = `Megjegyzés: "fontos", lásd; kérdés esetén hívja a csoportvezetőt. `
	messageFiller = "This meeting is being recorded. Ez a beszélgetés rögzítésre kerül. "
)

// spoil gives the current record the next defect kind in the cycle and
// reports it (without Line, which the caller knows). It draws only from
// g.defects.
func (g *generator) spoil() Defect {
	k := g.nextKind % numKinds
	g.nextKind++
	if k == kindDuplicateLogin && len(g.earlier) == 0 {
		k++ // no earlier valid record to repeat yet
	}
	r, p, n := g.defects, &g.id, int64(g.n)
	col := userrow.Column(-1)

	switch k {
	case kindMissingUserName:
		col = userrow.UserName
		g.f[col] = g.f[col][:0]

	case kindUserNameTooLong:
		col = userrow.UserName
		g.f[col] = appendLong(p.appendName(g.f[col][:0]), nameFiller, 65+r.IntN(26))

	case kindMissingLogin:
		col = userrow.LoginID
		g.f[col] = g.f[col][:0]

	case kindLoginBadChar:
		col = userrow.LoginID
		b := g.f[col][:0]
		v := r.IntN(5)
		if v == 2 && len(p.given.ascii)+1+len(p.family.ascii)+numDigits(g.n) > 32 {
			v = 0
		}
		switch v {
		case 0, 1, 3: // "user_12", "user 12", "user-12"
			sep := byte('_')
			switch v {
			case 1:
				sep = ' '
			case 3:
				sep = '-'
			}
			b = append(b, g.prefix...)
			b = append(b, sep)
			b = strconv.AppendInt(b, n, 10)
		case 2: // "john_doe12"
			b = append(b, p.given.ascii...)
			b = append(b, '_')
			b = append(b, p.family.ascii...)
			b = strconv.AppendInt(b, n, 10)
		default: // a letter, but not ASCII
			b = append(b, g.prefix...)
			b = strconv.AppendInt(b, n, 10)
			b = append(b, "ü"...)
		}
		g.f[col] = b

	case kindLoginTooLong:
		// At least 39 characters; the '.' after the number keeps it unique.
		col = userrow.LoginID
		b := g.f[col][:0]
		b = append(b, g.prefix...)
		b = strconv.AppendInt(b, n, 10)
		b = append(b, '.')
		b = append(b, p.given.ascii...)
		b = append(b, '.')
		b = append(b, p.family.ascii...)
		g.f[col] = append(b, "@contactcenter.example.com"...)

	case kindDuplicateLogin:
		// An earlier valid record's ID in swapped case: the importer compares
		// case-insensitively and must reject this later record.
		col = userrow.LoginID
		b := g.f[col][:0]
		b = append(b, g.earlier[r.IntN(len(g.earlier))]...)
		for i, c := range b {
			if isASCIILetter(c) {
				b[i] = c ^ 0x20
			}
		}
		g.f[col] = b

	case kindBadLanguage:
		col = userrow.Language
		g.f[col] = append(g.f[col][:0], badLanguages[r.IntN(len(badLanguages))]...)

	case kindBadEmail:
		col = userrow.Email
		b := g.f[col][:0]
		switch r.IntN(3) {
		case 0:
			b = append(b, "not-an-email"...)
		case 1: // two @
			b = append(b, p.given.ascii...)
			b = append(b, '@')
			b = append(b, p.family.ascii...)
			b = append(b, "@example.com"...)
		default: // no domain
			b = append(b, p.given.ascii...)
			b = append(b, '.')
			b = append(b, p.family.ascii...)
			b = append(b, '@')
		}
		g.f[col] = b

	case kindBadDate:
		col = userrow.ValidFrom
		g.f[col] = append(g.f[col][:0], badDates[r.IntN(len(badDates))]...)

	case kindBadPhone:
		col = userrow.PhoneMapping
		switch r.IntN(3) {
		case 0:
			g.f[col] = append(g.f[col][:0], "12ab34"...)
		case 1: // a bad entry after the record's good ones
			trimmed := bytes.Trim(g.f[col], " ")
			b := g.f[col][:0]
			b = append(b, trimmed...)
			g.f[col] = append(b, ";12ab34"...)
		default:
			g.f[col] = append(g.f[col][:0], "+36 (1) 234-56x8"...)
		}

	case kindBadPassword:
		col = userrow.Password
		b := g.f[col][:0]
		switch r.IntN(3) {
		case 0: // 31 hex digits
			b = appendHex(b, r.Uint64(), 15, false)
			b = appendHex(b, r.Uint64(), 16, false)
		case 1: // 32 characters, one of them not hex
			b = appendHex(b, r.Uint64(), 16, false)
			b = appendHex(b, r.Uint64(), 16, false)
			b[r.IntN(32)] = 'g'
		default:
			b = append(b, "not-a-hash"...)
		}
		g.f[col] = b

	case kindBadFlag:
		col = flagColumns[r.IntN(len(flagColumns))]
		g.f[col] = append(g.f[col][:0], badFlags[r.IntN(len(badFlags))]...)

	case kindUnknownRole:
		col = userrow.Roles
		g.f[col] = append(g.f[col][:0], badRoles[r.IntN(len(badRoles))]...)

	case kindBadRecordingMode:
		col = userrow.RecordingMode
		g.f[col] = append(g.f[col][:0], badRecordingModes[r.IntN(len(badRecordingModes))]...)

	case kindBadTimeZone:
		col = userrow.TimeZone
		g.f[col] = append(g.f[col][:0], badTimeZones[r.IntN(len(badTimeZones))]...)

	case kindBadFileName:
		col = userrow.InboundFile
		if r.IntN(2) == 1 {
			col = userrow.ConferenceFile
		}
		g.f[col] = append(g.f[col][:0], badFileNames[r.IntN(len(badFileNames))]...)

	case kindCustomTooLong:
		col = userrow.Custom0 + userrow.Column(r.IntN(5))
		g.f[col] = appendLong(g.f[col][:0], customFiller, 257+r.IntN(44))

	case kindMessageTooLong:
		col = userrow.ConferenceMessage
		g.f[col] = appendLong(g.f[col][:0], messageFiller, 513+r.IntN(88))

	case kindFieldCount:
		// 26 fields: the last one left off; 28: a trailing delimiter or note.
		if r.IntN(2) == 0 {
			g.nf = userrow.NumColumns - 1
		} else {
			g.nf = userrow.NumColumns + 1
			g.extra = g.extra[:0]
			if r.IntN(2) == 0 {
				g.extra = append(g.extra, "see notes"...)
			}
		}
	}
	return Defect{Column: col.String(), Kind: defectKinds[k]}
}

// appendLong appends runes of the repeated filler until b holds want
// characters. The last one is never a space, so trimming cannot bring the
// value back under its limit.
func appendLong(b []byte, filler string, want int) []byte {
	have := utf8.RuneCount(b)
	for have < want {
		for _, c := range filler {
			if have == want {
				break
			}
			if have == want-1 && c == ' ' {
				c = '.'
			}
			b = utf8.AppendRune(b, c)
			have++
		}
	}
	return b
}
