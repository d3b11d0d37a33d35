package task

import (
	"slices"
	"testing"
)

// The priorities are one ordered list: their values are 0..3 in order (the
// database sorts on them), ParsePriority accepts exactly their names, and its
// error lists them.
func TestPriorities(t *testing.T) {
	want := []Priority{PriorityNone, PriorityLow, PriorityMedium, PriorityHigh}
	if got := Priorities(); !slices.Equal(got, want) {
		t.Fatalf("Priorities() = %v, want %v", got, want)
	}
	for i, p := range Priorities() {
		if int(p) != i || !p.Valid() {
			t.Errorf("priority %v has value %d (valid %v), want %d", p, int(p), p.Valid(), i)
		}
		if got, err := ParsePriority(p.String()); err != nil || got != p {
			t.Errorf("ParsePriority(%q) = %v, %v", p.String(), got, err)
		}
	}
	const msg = "must be one of none, low, medium, high"
	if ExpectedPriority() != msg {
		t.Errorf("ExpectedPriority() = %q, want %q", ExpectedPriority(), msg)
	}
	for _, s := range []string{"", "urgent", "High", "0"} {
		if _, err := ParsePriority(s); err == nil || err.Error() != msg {
			t.Errorf("ParsePriority(%q) err = %v, want %q", s, err, msg)
		}
	}
	for _, p := range []Priority{-1, 4} {
		if p.Valid() {
			t.Errorf("Priority(%d).Valid() = true", int(p))
		}
	}
}
