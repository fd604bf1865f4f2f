package mail

import (
	"fmt"
	netmail "net/mail"
	"slices"
	"strings"
	"unicode"
)

// DefaultMaxRecipients is how many addresses one import may notify
// (NOTIFY_MAX_RECIPIENTS). Each gets a message of its own, sent from the
// service's MAIL_FROM: without a cap, one upload could make the service send
// thousands.
const DefaultMaxRecipients = 20

// RecipientError is a notify address, or a list of them, that Recipients
// refuses. Its text names the address and the rule, for the person who typed
// it: it answers a request, and is never logged (STYLE.md §5).
type RecipientError struct {
	Address string // "" when the rule is about the list (too many)
	Rule    string
}

func (e *RecipientError) Error() string {
	if e.Address == "" {
		return "notify: " + e.Rule
	}
	return fmt.Sprintf("notify: %q: %s", e.Address, e.Rule)
}

// Recipients checks the addresses an import, a feed or a web upload is to
// notify and returns them normalised (trimmed, domain in lower case,
// repeated and empty entries dropped, in their order). Every entry point
// that accepts addresses calls it, and the worker again before it sends, so
// that the rules hold for addresses stored before they existed or before the
// tenant's domains changed.
//
// An address must be one bare address, as in hr@acme.example: no display
// name, no <>, no list, no control character, at most 254 characters (64
// before the @), a host name after the @. There may be at most limit of them
// (DefaultMaxRecipients when limit <= 0). When domains is not empty, the
// address's domain must be one of them, exactly: listing acme.example does
// not allow mail.acme.example (list it too), so that a tenant's list means
// what it says.
func Recipients(addrs []string, limit int, domains []string) ([]string, error) {
	if limit <= 0 {
		limit = DefaultMaxRecipients
	}
	var out []string
	seen := map[string]bool{}
	for _, a := range addrs {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		addr, err := recipient(a)
		if err != nil {
			return nil, err
		}
		if key := strings.ToLower(addr); !seen[key] {
			seen[key] = true
			out = append(out, addr)
		}
	}
	if len(out) > limit {
		return nil, &RecipientError{Rule: fmt.Sprintf(
			"%d addresses, more than the %d an import may notify; send the result to a mailing list to reach more people", len(out), limit)}
	}
	if len(domains) == 0 {
		return out, nil
	}
	for _, addr := range out {
		domain := addr[strings.LastIndexByte(addr, '@')+1:]
		if !slices.Contains(domains, domain) {
			return nil, &RecipientError{Address: addr, Rule: fmt.Sprintf(
				"the tenant allows notifications to %s only (an operator changes the list with importctl tenants set --notify-domains)",
				orList(domains))}
		}
	}
	return out, nil
}

// localPartChars are the characters of an unquoted local part (RFC 5322
// atext, and the dots between atoms).
const localPartChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.!#$%&'*+-/=?^_`{|}~"

func recipient(a string) (string, error) {
	bad := func(rule string) error { return &RecipientError{Address: a, Rule: rule} }
	if len(a) > 254 {
		return "", bad("longer than 254 characters")
	}
	if strings.IndexFunc(a, unicode.IsControl) >= 0 {
		return "", bad("holds a control character (a line break?): write one address per entry")
	}
	if strings.ContainsAny(a, ",;") {
		return "", bad("one address per entry: separate addresses with commas in a form, or give a list in JSON")
	}
	p, err := netmail.ParseAddress(a)
	if err != nil {
		return "", bad("not an e-mail address (want one such as hr@example.com)")
	}
	bare := bad("write a bare address such as hr@example.com, without a name or <>")
	if p.Name != "" || strings.ContainsAny(a, "<>") {
		return "", bare
	}
	at := strings.LastIndexByte(a, '@')
	local, domain := a[:at], strings.ToLower(a[at+1:])
	if len(local) > 64 {
		return "", bad("the part before @ is longer than 64 characters")
	}
	if strings.Trim(local, localPartChars) != "" {
		return "", bad("the part before @ may hold letters, digits and . ! # $ % & ' * + - / = ? ^ _ ` { | } ~ only")
	}
	if p.Address != a {
		return "", bare // a comment or other syntax that ParseAddress drops
	}
	if !validDomain(domain) {
		return "", bad(fmt.Sprintf("not an e-mail address: the domain %q is not a host name such as example.com", domain))
	}
	return local + "@" + domain, nil
}

// Domains checks and normalises a tenant's notification domains (lower
// case, repeated and empty entries dropped, in their order).
func Domains(list []string) ([]string, error) {
	var out []string
	for _, d := range list {
		d = strings.ToLower(strings.TrimSpace(d))
		if d == "" || slices.Contains(out, d) {
			continue
		}
		if !validDomain(d) {
			return nil, fmt.Errorf("notify domain %q: want a host name such as example.com (no @, no wildcard; list subdomains one by one)", d)
		}
		out = append(out, d)
	}
	return out, nil
}

// validDomain reports whether d is a lower-case host name of two labels or
// more: letters, digits and inner hyphens, 63 characters a label at most.
// Domain literals ([10.0.0.1]) and single labels (localhost) are refused:
// they address hosts, not organisations. Internationalised names are written
// in their xn-- form.
func validDomain(d string) bool {
	if len(d) > 253 {
		return false
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		if strings.Trim(l, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
			return false
		}
	}
	return true
}

// orList reads "a.example", "a.example or b.example", "a.example, b.example or c.example".
func orList(l []string) string {
	if len(l) == 1 {
		return l[0]
	}
	return strings.Join(l[:len(l)-1], ", ") + " or " + l[len(l)-1]
}
