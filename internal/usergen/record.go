package usergen

import (
	"strconv"

	"github.com/userimport/userimport/internal/userrow"
)

// person is the part of a record that follows from the Login prefix and the
// record number alone (see the package doc).
type person struct {
	given, family name
	familyFirst   bool // Hungarian order: "Kovács Péter"
	comma         bool // "Kovács, Péter" — the field gets quoted
	emailLogin    bool // Login ID in e-mail style instead of prefix + number
	capitalLogin  bool // "Peter.Kovacs12@…", to exercise case-insensitive uniqueness
}

// idRand is SplitMix64: a stateless-per-record generator, so an identity can
// be derived from (prefix, record number) without touching the seeded streams.
type idRand uint64

func (s *idRand) next() uint64 {
	*s += 0x9e3779b97f4a7c15
	z := uint64(*s)
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

func (s *idRand) intn(n int) int { return int(s.next() % uint64(n)) }

func (g *generator) identify(n int) {
	s := idRand(g.prefixSeed ^ uint64(n)*0xd1342543de82ef95)
	nat := &nationalities[s.intn(len(nationalities))]
	g.id = person{
		given:        nat.given[s.intn(len(nat.given))],
		family:       nat.family[s.intn(len(nat.family))],
		familyFirst:  nat.familyFirst,
		comma:        s.intn(8) == 0,
		emailLogin:   s.intn(5) < 2,
		capitalLogin: s.intn(6) == 0,
	}
}

// record fills g.f with a valid record number n. The draws from g.content do
// not depend on whether the record later gets a defect.
func (g *generator) record(n int) {
	g.n = n
	g.nf = userrow.NumColumns
	for i := range g.f {
		g.f[i] = g.f[i][:0]
	}
	g.identify(n)
	r := g.content
	f := &g.f

	f[userrow.UserName] = g.id.appendName(f[userrow.UserName])
	f[userrow.LoginID] = g.appendLogin(f[userrow.LoginID])

	switch x := r.IntN(20); {
	case x < 4: // empty: the tenant default applies
	case x < 17:
		f[userrow.Language] = append(f[userrow.Language], languages[r.IntN(len(languages))]...)
	default:
		f[userrow.Language] = append(f[userrow.Language], languageVariants[r.IntN(len(languageVariants))]...)
	}
	if r.IntN(20) < 13 {
		f[userrow.Email] = g.appendEmail(f[userrow.Email])
	}
	if r.IntN(5) < 3 {
		f[userrow.ValidFrom] = g.appendDate(f[userrow.ValidFrom])
	}
	f[userrow.PhoneMapping] = g.appendPhones(f[userrow.PhoneMapping])
	if r.IntN(10) < 7 {
		upper := r.IntN(5) == 0 // the importer stores hashes lower-case
		f[userrow.Password] = appendHex(f[userrow.Password], r.Uint64(), 16, upper)
		f[userrow.Password] = appendHex(f[userrow.Password], r.Uint64(), 16, upper)
	}
	f[userrow.ChangePassword] = g.appendFlag(f[userrow.ChangePassword])
	f[userrow.Groups] = g.appendGroups(f[userrow.Groups])
	f[userrow.Roles] = g.appendRoles(f[userrow.Roles])
	if x := r.IntN(len(recordingModes) + 1); x < len(recordingModes) {
		f[userrow.RecordingMode] = append(f[userrow.RecordingMode], recordingModes[x]...)
	}
	if r.IntN(4) > 0 {
		f[userrow.TimeZone] = append(f[userrow.TimeZone], timeZones[r.IntN(len(timeZones))]...)
	}
	if r.IntN(20) < 3 {
		f[userrow.CRMUserID] = g.appendCRM(f[userrow.CRMUserID])
	}
	for c := userrow.Voice; c <= userrow.DesktopScreen; c++ {
		f[c] = g.appendFlag(f[c])
	}
	for c := userrow.Custom0; c <= userrow.Custom4; c++ {
		if r.IntN(100) < 15 {
			f[c] = append(f[c], customTexts[r.IntN(len(customTexts))]...)
		}
	}
	f[userrow.PromptInbound] = g.appendFlag(f[userrow.PromptInbound])
	f[userrow.PromptConference] = g.appendFlag(f[userrow.PromptConference])
	if r.IntN(5) < 2 {
		f[userrow.InboundFile] = append(f[userrow.InboundFile], promptFiles[r.IntN(len(promptFiles))]...)
	}
	if r.IntN(10) < 3 {
		f[userrow.ConferenceFile] = append(f[userrow.ConferenceFile], promptFiles[r.IntN(len(promptFiles))]...)
	}
	if r.IntN(10) < 3 {
		f[userrow.ConferenceMessage] = append(f[userrow.ConferenceMessage], conferenceMessages[r.IntN(len(conferenceMessages))]...)
	}

	// Spreadsheets and hand edits leave stray spaces; the importer trims them.
	if r.IntN(4) == 0 {
		g.pad(r.IntN(userrow.NumColumns), r.IntN(3))
	}
}

// pad surrounds field c with spaces: style 0 leading, 1 trailing, 2 both.
func (g *generator) pad(c, style int) {
	v := g.f[c]
	if len(v) == 0 {
		return // "   " would still mean empty, but keep empty fields empty
	}
	t := g.tmp[:0]
	if style != 1 {
		t = append(t, ' ')
	}
	if style == 2 {
		t = append(t, ' ')
	}
	t = append(t, v...)
	if style != 0 {
		t = append(t, ' ')
	}
	g.f[c], g.tmp = t, v[:0] // swap buffers: both stay reusable
}

func (p *person) appendName(b []byte) []byte {
	switch {
	case p.comma:
		b = append(b, p.family.text...)
		b = append(b, ", "...)
		return append(b, p.given.text...)
	case p.familyFirst:
		b = append(b, p.family.text...)
		b = append(b, ' ')
		return append(b, p.given.text...)
	default:
		b = append(b, p.given.text...)
		b = append(b, ' ')
		return append(b, p.family.text...)
	}
}

// appendLogin writes prefix + record number, or an e-mail style ID
// given.family<number>@<prefix>.example when it fits in 32 characters. Both are
// unique case-insensitively: the number is unique, and the letters-only name
// part cannot absorb digits; only the e-mail style contains '@'.
func (g *generator) appendLogin(b []byte) []byte {
	p := &g.id
	if p.emailLogin {
		const maxLogin = 32
		tail := numDigits(g.n) + 1 + len(g.prefixLower) + len(".example")
		given := p.given.ascii
		if len(given)+1+len(p.family.ascii)+tail > maxLogin {
			given = given[:1]
		}
		if len(given)+1+len(p.family.ascii)+tail <= maxLogin {
			start := len(b)
			b = append(b, given...)
			b = append(b, '.')
			fam := len(b)
			b = append(b, p.family.ascii...)
			if p.capitalLogin {
				b[start] = toUpper(b[start])
				b[fam] = toUpper(b[fam])
			}
			b = strconv.AppendInt(b, int64(g.n), 10)
			b = append(b, '@')
			b = append(b, g.prefixLower...)
			return append(b, ".example"...)
		}
	}
	b = append(b, g.prefix...)
	return strconv.AppendInt(b, int64(g.n), 10)
}

func numDigits(n int) int {
	d := 1
	for n >= 10 {
		n /= 10
		d++
	}
	return d
}

func (g *generator) appendEmail(b []byte) []byte {
	r, p := g.content, &g.id
	start := len(b)
	if r.IntN(4) == 0 {
		b = append(b, p.given.ascii[0])
	} else {
		b = append(b, p.given.ascii...)
	}
	b = append(b, '.')
	b = append(b, p.family.ascii...)
	b = append(b, '@')
	b = append(b, emailDomains[r.IntN(len(emailDomains))]...)
	if r.IntN(10) == 0 {
		b[start] = toUpper(b[start])
	}
	return b
}

// appendDate writes a real calendar date in one of the accepted spellings.
func (g *generator) appendDate(b []byte) []byte {
	r := g.content
	y := 2020 + r.IntN(8)
	m := 1 + r.IntN(12)
	d := 1 + r.IntN(daysIn(y, m))
	sep := byte('.')
	style := r.IntN(4)
	switch style {
	case 2:
		sep = '-'
	case 3:
		sep = '/'
	}
	b = strconv.AppendInt(b, int64(y), 10)
	b = append(b, sep)
	b = appendPadded(b, uint64(m), 2)
	b = append(b, sep)
	b = appendPadded(b, uint64(d), 2)
	if style == 1 {
		b = append(b, '.') // the Hungarian trailing dot
	}
	return b
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// appendPhones writes 1–3 entries of different kinds. Every number is derived
// from the record number through a bijection keyed by the Login prefix, so no
// two records of a file share an extension (the later record would override
// the earlier one's settings), files with the same prefix give a user the same
// numbers, and the numbers still look random.
func (g *generator) appendPhones(b []byte) []byte {
	r := g.content
	count := 1
	switch x := r.IntN(20); {
	case x >= 17:
		count = 3
	case x >= 10:
		count = 2
	}
	kinds := [3]int{0, 1, 2}
	for i := 2; i > 0; i-- {
		j := r.IntN(i + 1)
		kinds[i], kinds[j] = kinds[j], kinds[i]
	}
	n := uint64(g.n)
	for i := range count {
		if i > 0 {
			b = append(b, ';')
		}
		switch kinds[i] {
		case 0:
			b = appendBudapest(b, n, g.prefixSeed, r.IntN(3))
		case 1:
			b = appendBerlin(b, n, g.prefixSeed>>32, r.IntN(3))
		default:
			if r.IntN(10) == 0 {
				b = append(b, "sips:"...)
			} else {
				b = append(b, "sip:"...)
			}
			b = append(b, g.prefixLower...)
			b = strconv.AppendUint(b, n, 10)
			b = append(b, "@pbx.example.com"...)
		}
	}
	return b
}

// appendBudapest writes a Budapest number, +36 1 and 7 digits. Beyond 10⁷
// records the permutation runs out and the plain record number (8+ digits, so
// distinct from every 7-digit one) takes over.
func appendBudapest(b []byte, n, key uint64, style int) []byte {
	const space = 10_000_000
	if n >= space {
		b = append(b, "+36 1 "...)
		return strconv.AppendUint(b, n, 10)
	}
	d := permute(n, space, 24, key)
	switch style {
	case 0:
		b = append(b, "+36 (1) "...)
		b = appendPadded(b, d/10000, 3)
		b = append(b, '-')
		return appendPadded(b, d%10000, 4)
	case 1:
		b = append(b, "+36 1 "...)
		b = appendPadded(b, d/10000, 3)
		b = append(b, ' ')
		return appendPadded(b, d%10000, 4)
	default:
		b = append(b, "+361"...)
		return appendPadded(b, d, 7)
	}
}

// appendBerlin writes a Berlin number, +49 30 and 8 digits, like appendBudapest.
func appendBerlin(b []byte, n, key uint64, style int) []byte {
	const space = 100_000_000
	if n >= space {
		b = append(b, "+49 30 "...)
		return strconv.AppendUint(b, n, 10)
	}
	d := permute(n, space, 27, key)
	switch style {
	case 0:
		b = append(b, "+4930"...)
		return appendPadded(b, d, 8)
	case 1:
		b = append(b, "+49 30 "...)
		b = appendPadded(b, d/10000, 4)
		b = append(b, ' ')
		return appendPadded(b, d%10000, 4)
	default:
		b = append(b, "+49 (30) "...)
		return appendPadded(b, d, 8)
	}
}

// permute maps n < space to a distinct, random-looking number < space: an
// invertible mix of the low bits bits (xor, xorshift, odd multiply), repeated
// ("cycle walking") until the result falls inside space ≤ 2^bits, which keeps
// it a bijection on [0, space). It is cheaper and less patterned than n·a+b.
func permute(n, space uint64, bits uint, key uint64) uint64 {
	mask := uint64(1)<<bits - 1
	x := n
	for {
		x = (x ^ key) & mask
		x ^= x >> (bits / 2)
		x = x * 0x9e3779b1 & mask
		x ^= x >> (bits/2 + 1)
		x = x * 0x85ebca6b & mask
		x ^= x >> (bits / 2)
		if x < space {
			return x
		}
	}
}

func (g *generator) appendFlag(b []byte) []byte {
	switch g.content.IntN(3) {
	case 0:
		return append(b, '0')
	case 1:
		return append(b, '1')
	}
	return b
}

// listLen draws how many entries a Groups or Roles field has: 0–3.
func (g *generator) listLen() int {
	switch x := g.content.IntN(20); {
	case x < 4:
		return 0
	case x < 12:
		return 1
	case x < 17:
		return 2
	}
	return 3
}

func (g *generator) appendGroups(b []byte) []byte {
	const pool = len(departments) * len(sites)
	r := g.content
	var picked [3]int
	count := g.listLen()
	for i := 0; i < count; {
		k := r.IntN(pool)
		if i > 0 && (picked[0] == k || i > 1 && picked[1] == k) {
			continue // draw again: a group is listed once
		}
		picked[i] = k
		if i > 0 {
			b = append(b, ';')
		}
		b = append(b, departments[k/len(sites)]...)
		b = append(b, ' ')
		b = append(b, sites[k%len(sites)]...)
		i++
	}
	return b
}

// appendRoles writes distinct role names one per line: with two or more the
// field spans lines and gets quoted, like Excel's Alt+Enter.
func (g *generator) appendRoles(b []byte) []byte {
	r := g.content
	order := [len(roles)]int{0, 1, 2, 3}
	count := g.listLen()
	for i := range count {
		j := i + r.IntN(len(order)-i)
		order[i], order[j] = order[j], order[i]
		if i > 0 {
			b = append(b, '\n')
		}
		b = append(b, roles[order[i]]...)
	}
	return b
}

// appendCRM writes an external CRM key: a numbered one or a Salesforce-like
// 15-character ID.
func (g *generator) appendCRM(b []byte) []byte {
	const alnum = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	r := g.content
	if r.IntN(2) == 0 {
		b = append(b, "CRM-"...)
		return appendPadded(b, r.Uint64N(100_000_000), 8)
	}
	b = append(b, "003"...)
	for range 12 {
		b = append(b, alnum[r.IntN(len(alnum))])
	}
	return b
}

// appendHex appends the low digits hex digits of v.
func appendHex(b []byte, v uint64, digits int, upper bool) []byte {
	hex := "0123456789abcdef"
	if upper {
		hex = "0123456789ABCDEF"
	}
	for i := digits - 1; i >= 0; i-- {
		b = append(b, hex[v>>(4*uint(i))&0xf])
	}
	return b
}
