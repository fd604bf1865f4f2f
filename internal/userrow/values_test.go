package userrow_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/userimport/userimport/internal/userrow"
)

func TestValuesAndHashes(t *testing.T) {
	t.Parallel()
	v := userrow.NewValidator(userrow.Options{})
	u, probs := v.Validate(userrow.Positional(), record(map[userrow.Column]string{
		userrow.PhoneMapping: "sip:b@pbx;+36 1 234", userrow.Groups: "Sales;budapest;Észak", userrow.Roles: "supervisor\nAgent",
		userrow.ValidFrom: "2025-03-01", userrow.Voice: "1",
	}))
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	got := u.Values()
	for c, want := range map[userrow.Column]string{
		userrow.PhoneMapping: "+361234;sip:b@pbx", userrow.Groups: "budapest;Sales;Észak", userrow.Roles: "Agent\nsupervisor",
		userrow.ValidFrom: "2025.03.01", userrow.Voice: "1", userrow.Video: "0", userrow.Email: "",
	} {
		if got[c] != want {
			t.Errorf("%s = %q, want %q", c, got[c], want)
		}
	}
	// ColumnHashes agrees with HashValue on the written values.
	h := u.ColumnHashes()
	for c := range userrow.Column(userrow.NumColumns) {
		if want := userrow.HashValue(c, got[c]); h[c] != want {
			t.Errorf("%s: ColumnHashes %x, HashValue %x", c, h[c], want)
		}
	}
	// The same sets in another order and case hash the same.
	u2, _ := v.Validate(userrow.Positional(), record(map[userrow.Column]string{
		userrow.PhoneMapping: "+361234;sip:b@pbx", userrow.Groups: "ÉSZAK;SALES;Budapest", userrow.Roles: "agent\nSupervisor",
		userrow.ValidFrom: "2025.03.01", userrow.Voice: "1",
	}))
	if diff := cmp.Diff(h, u2.ColumnHashes()); diff != "" {
		t.Errorf("hashes differ for the same sets:\n%s", diff)
	}
}
