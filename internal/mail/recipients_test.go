package mail

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRecipients(t *testing.T) {
	t.Parallel()
	many := make([]string, 21)
	for i := range many {
		many[i] = fmt.Sprintf("u%d@acme.example", i)
	}
	tests := []struct {
		name    string
		addrs   []string
		max     int
		domains []string
		want    []string
		wantErr string // in the error's text; "" for none
		address string // RecipientError.Address
	}{
		{name: "none", addrs: nil, max: 20, want: nil},
		{name: "plain", addrs: []string{"hr@acme.example", " ops@Corp.Example "}, max: 20,
			want: []string{"hr@acme.example", "ops@corp.example"}},
		{name: "a repeated address counts once", addrs: []string{"hr@acme.example", "HR@ACME.example", "hr@acme.example"}, max: 1,
			want: []string{"hr@acme.example"}},
		{name: "empty entries skipped", addrs: []string{"", "  ", "hr@acme.example"}, max: 20, want: []string{"hr@acme.example"}},
		{name: "exactly the limit", addrs: many[:20], max: 20, want: many[:20]},
		{name: "over the limit", addrs: many, max: 20, wantErr: "21 addresses, more than the 20 an import may notify"},
		{name: "default limit", addrs: many, max: 0, wantErr: "more than the 20"},
		{name: "display name", addrs: []string{"Bob <bob@acme.example>"}, max: 20, wantErr: "a bare address", address: "Bob <bob@acme.example>"},
		{name: "angle brackets", addrs: []string{"<bob@acme.example>"}, max: 20, wantErr: "a bare address"},
		{name: "two in one", addrs: []string{"a@acme.example,b@acme.example"}, max: 20, wantErr: "one address per entry"},
		{name: "crlf", addrs: []string{"a@acme.example\r\nBcc: x@evil.example"}, max: 20, wantErr: "control character"},
		{name: "no at", addrs: []string{"acme.example"}, max: 20, wantErr: "not an e-mail address"},
		{name: "quoted local part", addrs: []string{`"a b"@acme.example`}, max: 20, wantErr: "letters, digits"},
		{name: "domain literal", addrs: []string{"a@[10.0.0.1]"}, max: 20, wantErr: "not an e-mail address"},
		{name: "no dot in the domain", addrs: []string{"root@localhost"}, max: 20, wantErr: "domain"},
		{name: "too long", addrs: []string{strings.Repeat("a", 65) + "@acme.example"}, max: 20, wantErr: "64 characters"},
		{name: "too long overall", addrs: []string{"a@" + strings.Repeat("b", 250) + ".example"}, max: 20, wantErr: "254 characters"},
		{name: "allowed domain", addrs: []string{"hr@acme.example", "x@Corp.Example"}, max: 20, domains: []string{"acme.example", "corp.example"},
			want: []string{"hr@acme.example", "x@corp.example"}},
		{name: "refused domain", addrs: []string{"hr@acme.example", "spam@evil.example"}, max: 20, domains: []string{"acme.example"},
			wantErr: `"spam@evil.example": the tenant allows notifications to acme.example only`, address: "spam@evil.example"},
		{name: "subdomains are not included", addrs: []string{"hr@mail.acme.example"}, max: 20, domains: []string{"acme.example"},
			wantErr: "allows notifications to acme.example only"},
		{name: "look-alike suffix", addrs: []string{"hr@evilacme.example"}, max: 20, domains: []string{"acme.example"},
			wantErr: "allows notifications to acme.example only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Recipients(tt.addrs, tt.max, tt.domains)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Recipients(%q): %v", tt.addrs, err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("Recipients(%q) (-want +got):\n%s", tt.addrs, diff)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Recipients(%q): error %v, want one saying %q", tt.addrs, err, tt.wantErr)
			}
			var re *RecipientError
			if !errors.As(err, &re) {
				t.Fatalf("error %T is not a *RecipientError", err)
			}
			if tt.address != "" && re.Address != tt.address {
				t.Errorf("RecipientError.Address = %q, want %q", re.Address, tt.address)
			}
		})
	}
}

func TestDomains(t *testing.T) {
	t.Parallel()
	got, err := Domains([]string{" Acme.Example ", "corp.example", "acme.example", ""})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"acme.example", "corp.example"}, got); diff != "" {
		t.Errorf("Domains (-want +got):\n%s", diff)
	}
	for _, bad := range []string{"@acme.example", "acme", "-acme.example", "acme..example", "a b.example", "*.acme.example", strings.Repeat("a", 64) + ".example"} {
		if _, err := Domains([]string{bad}); err == nil {
			t.Errorf("Domains(%q): no error", bad)
		}
	}
}
