package task

import (
	"errors"
	"testing"
	"time"
)

func TestCursorRoundTrip(t *testing.T) {
	due := time.Date(2026, 5, 1, 12, 30, 0, 123000, time.UTC)
	tk := Task{ID: 42, Title: "Write ✓ tests", Priority: PriorityMedium, DueAt: &due,
		CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)}
	for _, sort := range []string{SortCreatedAt, SortDueAt, SortPriority, SortTitle} {
		for _, desc := range []bool{false, true} {
			c := CursorAfter(tk, sort, desc)
			got, err := DecodeCursor(c.Encode(), sort, desc)
			if err != nil {
				t.Fatalf("%s desc=%v: %v", sort, desc, err)
			}
			if got != c {
				t.Errorf("%s desc=%v: round trip %+v != %+v", sort, desc, got, c)
			}
		}
	}
	noDue := CursorAfter(Task{ID: 1}, SortDueAt, false)
	if noDue.Value != "infinity" {
		t.Errorf("task without due date: cursor value %q, want infinity", noDue.Value)
	}
	if _, err := DecodeCursor(noDue.Encode(), SortDueAt, false); err != nil {
		t.Errorf("infinity cursor refused: %v", err)
	}
}

func TestDecodeCursorRejects(t *testing.T) {
	valid := Cursor{Sort: SortCreatedAt, Value: "2026-01-01T00:00:00Z", ID: 5}
	tests := []struct {
		name   string
		cursor string
		sort   string
		desc   bool
	}{
		{"not base64", "%%%", SortCreatedAt, false},
		{"not json", "bm90IGpzb24", SortCreatedAt, false},
		{"other sort", valid.Encode(), SortTitle, false},
		{"other order", valid.Encode(), SortCreatedAt, true},
		{"zero id", Cursor{Sort: SortCreatedAt, Value: "2026-01-01T00:00:00Z"}.Encode(), SortCreatedAt, false},
		{"bad time", Cursor{Sort: SortCreatedAt, Value: "yesterday", ID: 1}.Encode(), SortCreatedAt, false},
		{"bad priority", Cursor{Sort: SortPriority, Value: "urgent", ID: 1}.Encode(), SortPriority, false},
		{"unknown sort", Cursor{Sort: "id", Value: "1", ID: 1}.Encode(), "id", false},
		{"huge", string(make([]byte, 600)), SortCreatedAt, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodeCursor(tt.cursor, tt.sort, tt.desc); !errors.Is(err, ErrBadCursor) {
				t.Errorf("err = %v, want ErrBadCursor", err)
			}
		})
	}
}
