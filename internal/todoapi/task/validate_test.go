package task

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestApplyValidates(t *testing.T) {
	due := time.Date(2026, 1, 31, 9, 0, 0, 0, time.FixedZone("CET", 3600))
	tests := []struct {
		name      string
		patch     Patch
		wantField string // "" means valid
		check     func(t *testing.T, got Task)
	}{
		{"title trimmed", Patch{Title: Some("  Buy milk \n")}, "", func(t *testing.T, got Task) {
			if got.Title != "Buy milk" {
				t.Errorf("title = %q", got.Title)
			}
		}},
		{"defaults", Patch{Title: Some("x")}, "", func(t *testing.T, got Task) {
			if got.Priority != PriorityNone || got.Recurrence != RecurrenceNone || got.Timezone != "UTC" || got.Tags == nil {
				t.Errorf("defaults not applied: %+v", got)
			}
		}},
		{"empty title", Patch{Title: Some("   ")}, "title", nil},
		{"missing title", Patch{}, "title", nil},
		{"title 200 runes ok", Patch{Title: Some(strings.Repeat("é", 200))}, "", nil},
		{"title 201 runes", Patch{Title: Some(strings.Repeat("a", 201))}, "title", nil},
		{"description too long", Patch{Title: Some("x"), Description: Some(strings.Repeat("a", MaxDescriptionLen+1))}, "description", nil},
		{"bad priority", Patch{Title: Some("x"), Priority: Some(Priority(7))}, "priority", nil},
		{"bad recurrence", Patch{Title: Some("x"), Recurrence: Some(Recurrence("hourly"))}, "recurrence", nil},
		{"bad timezone", Patch{Title: Some("x"), Timezone: Some("Mars/Olympus")}, "timezone", nil},
		{"Local timezone refused", Patch{Title: Some("x"), Timezone: Some("Local")}, "timezone", nil},
		{"empty timezone", Patch{Title: Some("x"), Timezone: Some("")}, "timezone", nil},
		{"good timezone", Patch{Title: Some("x"), Timezone: Some("Europe/Berlin")}, "", nil},
		{"tags trimmed and deduplicated", Patch{Title: Some("x"), Tags: Some([]string{" a", "b", "a "})}, "", func(t *testing.T, got Task) {
			if strings.Join(got.Tags, ",") != "a,b" {
				t.Errorf("tags = %q", got.Tags)
			}
		}},
		{"empty tag", Patch{Title: Some("x"), Tags: Some([]string{"a", " "})}, "tags", nil},
		{"tag too long", Patch{Title: Some("x"), Tags: Some([]string{strings.Repeat("t", MaxTagLen+1)})}, "tags", nil},
		{"too many tags", Patch{Title: Some("x"), Tags: Some(make([]string, MaxTags+1))}, "tags", nil},
		{"times become UTC", Patch{Title: Some("x"), DueAt: Some(&due)}, "", func(t *testing.T, got Task) {
			if got.DueAt.Location() != time.UTC || !got.DueAt.Equal(due) {
				t.Errorf("due_at = %v", got.DueAt)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.patch.Apply(Defaults())
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if tt.check != nil {
					tt.check(t, got)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error = %v, want a ValidationError on %s", err, tt.wantField)
			}
			if ve.Field != tt.wantField {
				t.Errorf("field = %q, want %q (%v)", ve.Field, tt.wantField, err)
			}
		})
	}
}

func TestPatchLeavesUnsetFields(t *testing.T) {
	due := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	base, err := Patch{Title: Some("a"), Description: Some("d"), DueAt: Some(&due), Tags: Some([]string{"x"})}.Apply(Defaults())
	if err != nil {
		t.Fatal(err)
	}
	got, err := Patch{Description: Some("")}.Apply(base)
	if err != nil {
		t.Fatal(err)
	}
	if got.Title != "a" || got.Description != "" || got.DueAt == nil || !got.DueAt.Equal(due) || len(got.Tags) != 1 {
		t.Errorf("patch changed unset fields or missed set ones: %+v", got)
	}
	cleared, err := Patch{DueAt: Some[*time.Time](nil)}.Apply(base)
	if err != nil || cleared.DueAt != nil {
		t.Errorf("null due_at did not clear it: %v, %v", cleared.DueAt, err)
	}
}

func TestPriorityText(t *testing.T) {
	for _, name := range []string{"none", "low", "medium", "high"} {
		p, err := ParsePriority(name)
		if err != nil || p.String() != name {
			t.Errorf("ParsePriority(%q) = %v, %v", name, p, err)
		}
	}
	if _, err := ParsePriority("urgent"); err == nil {
		t.Error("ParsePriority(urgent) succeeded")
	}
	if PriorityHigh <= PriorityMedium || PriorityMedium <= PriorityLow || PriorityLow <= PriorityNone {
		t.Error("priorities must sort none < low < medium < high")
	}
}
