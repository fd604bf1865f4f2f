package userrow

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// The table must agree with a map on what it has seen, across many growths,
// for both slot widths.
func TestFPTableAgreesWithMap(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	t32 := newFPTable[uint32](0)
	t8 := newFPTable[uint8](0)
	ref := map[uint64]uint32{}
	var keys []uint64
	for i := range 300_000 {
		var h uint64
		if i%3 == 0 && len(keys) > 0 {
			h = keys[rng.IntN(len(keys))] // a repeat
		} else {
			h = rng.Uint64()
			keys = append(keys, h)
		}
		if i%1000 == 7 {
			h = 0 // the one hash stored differently
		}
		want, seen := ref[h]
		if !seen {
			ref[h] = uint32(i)
			want = ref[h]
		}
		got, found := t32.getOrPut(h, uint32(i))
		if found != seen || got != want {
			t.Fatalf("uint32 values, key %d: got %d %v, want %d %v", i, got, found, want, seen)
		}
		got8, found := t8.getOrPut(h, uint8(want))
		if found != seen || got8 != uint8(want) {
			t.Fatalf("uint8 values, key %d: got %d %v, want %d %v", i, got8, found, uint8(want), seen)
		}
	}
	if t32.n != len(ref) || t8.n != len(ref) {
		t.Errorf("sizes %d %d, want %d", t32.n, t8.n, len(ref))
	}
}

func TestFileCheckLogins(t *testing.T) {
	t.Parallel()
	f := NewFileCheck(0, 0)
	for i := range 10_000 {
		if p := f.Login(i+2, fmt.Sprintf("user%d@example.com", i)); p != nil {
			t.Fatalf("line %d: unexpected %v", i+2, p)
		}
	}
	p := f.Login(20_000, "USER42@Example.com")
	if p == nil || p.Column != LoginID || p.Message != "duplicate Login ID, first at line 44" {
		t.Fatalf("duplicate in other case: %+v", p)
	}
}

func TestFileCheckExtensions(t *testing.T) {
	t.Parallel()
	f := NewFileCheck(0, 0)
	a := User{Phones: []string{"+3612345", "sip:a@pbx"}, RecordingMode: "full"}
	b := User{Phones: []string{"+3699999"}, RecordingMode: "full"}
	same := User{Phones: []string{"+3612345"}} // empty mode is full: the same settings
	other := User{Phones: []string{"sip:a@pbx"}, RecordingMode: "full", Voice: true}
	back := User{Phones: []string{"sip:a@pbx"}, RecordingMode: "full"}
	for _, step := range []struct {
		u     User
		warns int
	}{{a, 0}, {b, 0}, {same, 0}, {other, 1}, {back, 1}, {back, 0}} {
		if got := f.Extensions(&step.u); len(got) != step.warns {
			t.Fatalf("%v: %d warnings %v, want %d", step.u.Phones, len(got), got, step.warns)
		}
	}
}
