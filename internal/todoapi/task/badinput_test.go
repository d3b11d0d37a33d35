package task

import (
	"archive/zip"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// What PostgreSQL text cannot hold (NUL, invalid UTF-8) and times outside
// the years 1..9999 are refused with the field they came in.
func TestApplyRefusesBadBytesAndTimes(t *testing.T) {
	at := func(s string) *time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return &v
	}
	tests := []struct {
		name      string
		patch     Patch
		wantField string // "" means valid
	}{
		{"NUL in title", Patch{Title: Some("a\x00b")}, "title"},
		{"invalid UTF-8 in title", Patch{Title: Some("a\xffb")}, "title"},
		{"NUL in description", Patch{Title: Some("x"), Description: Some("\x00")}, "description"},
		{"invalid UTF-8 in description", Patch{Title: Some("x"), Description: Some("\xc3")}, "description"},
		{"NUL in a tag", Patch{Title: Some("x"), Tags: Some([]string{"ok", "a\x00"})}, "tags"},
		{"invalid UTF-8 in a tag", Patch{Title: Some("x"), Tags: Some([]string{"\xed\xa0\x80"})}, "tags"},
		{"NUL in timezone", Patch{Title: Some("x"), Timezone: Some("UTC\x00")}, "timezone"},
		{"due_at in year 10000 UTC", Patch{Title: Some("x"), DueAt: Some(at("9999-12-31T23:59:59-23:59"))}, "due_at"},
		{"reminder_at in year 0 UTC", Patch{Title: Some("x"), ReminderAt: Some(at("0000-01-01T00:00:00+01:00"))}, "reminder_at"},
		{"due_at in year 0", Patch{Title: Some("x"), DueAt: Some(at("0000-06-01T00:00:00Z"))}, "due_at"},
		{"first instant of year 1", Patch{Title: Some("x"), DueAt: Some(at("0001-01-01T00:00:00Z"))}, ""},
		{"year 1 through an offset", Patch{Title: Some("x"), ReminderAt: Some(at("0001-01-01T00:59:00+00:59"))}, ""},
		{"last microsecond of 9999", Patch{Title: Some("x"), DueAt: Some(at("9999-12-31T23:59:59.999999999Z"))}, ""},
		{"unicode is fine", Patch{Title: Some("Tee ☕ 🫖"), Description: Some("é\u2028\ufeff"), Tags: Some([]string{"日本"})}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.patch.Apply(Defaults())
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Field != tt.wantField {
				t.Fatalf("error = %v, want a ValidationError on %s", err, tt.wantField)
			}
		})
	}
}

// Time zones: the names of the IANA database embedded in every binary
// (time/tzdata), whatever the host has in /usr/share/zoneinfo.
func TestTimezoneNames(t *testing.T) {
	refused := []string{"posixrules", "Factory", "right/UTC", "right/Europe/Berlin", "posix/Europe/Berlin",
		"posix/UTC", "localtime", "Local", "", "utc", "europe/berlin", "Europe/Berlin/", "/Europe/Berlin",
		"Europe//Berlin", "../zoneinfo/UTC", "Europe/../UTC", "zone.tab", "tzdata.zi", "leapseconds", "SystemV/EST5",
		"Etc/GMT+13", "Europe/Berlin\x00", "Mars/Olympus"}
	for _, name := range refused {
		if err := checkTimezone(name); err == nil {
			host := ""
			if _, serr := os.Stat(filepath.Join("/usr/share/zoneinfo", name)); serr == nil && name != "" {
				host = " (this host has it in /usr/share/zoneinfo)"
			}
			t.Errorf("timezone %q accepted%s", name, host)
		}
	}
	accepted := []string{"UTC", "Etc/UTC", "Europe/Berlin", "America/New_York", "America/Santiago",
		"Asia/Kolkata", "Pacific/Kiritimati", "Etc/GMT-14", "Etc/GMT+12",
		// Backward-compatible links, kept by IANA for good and reported by
		// some browsers' Intl API.
		"US/Eastern", "Asia/Calcutta", "Europe/Kiev", "GMT"}
	for _, name := range accepted {
		if err := checkTimezone(name); err != nil {
			t.Errorf("timezone %q refused: %v", name, err)
		}
	}
}

// The list of accepted names is the embedded database's, minus Factory, and
// every accepted name loads from the embedded data itself (not from the
// host's). time/tzdata embeds $GOROOT/lib/time/zoneinfo.zip.
func TestTimezoneListIsTheEmbeddedDatabase(t *testing.T) {
	zipPath := filepath.Join(goroot(), "lib", "time", "zoneinfo.zip")
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		t.Skipf("toolchain's zoneinfo.zip not readable: %v", err)
	}
	defer zr.Close()
	var inZip []string
	for _, f := range zr.File {
		if f.FileInfo().IsDir() || f.Name == "Factory" {
			continue
		}
		inZip = append(inZip, f.Name)
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		_ = rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := time.LoadLocationFromTZData(f.Name, data); err != nil {
			t.Errorf("%s does not load from the embedded data: %v", f.Name, err)
		}
	}
	slices.Sort(inZip)
	if !slices.Equal(inZip, zoneNames[:]) {
		t.Fatalf("zones.go is out of date with %s (%d names there, %d in zones.go): run go generate ./internal/task",
			zipPath, len(inZip), len(zoneNames))
	}
	for _, name := range zoneNames {
		if strings.HasPrefix(name, "posix") || strings.HasPrefix(name, "right/") || name == "localtime" {
			t.Errorf("non-IANA name %q in the list", name)
		}
	}
}

// A cursor is what Encode made, nothing else: no NUL, invalid UTF-8 or
// times PostgreSQL would refuse, no duplicate or unknown keys.
func TestDecodeCursorRejectsHostileValues(t *testing.T) {
	tests := []struct {
		name   string
		cursor string
		sort   string
	}{
		{"NUL in title", Cursor{Sort: SortTitle, Value: "a\x00", ID: 1}.Encode(), SortTitle},
		{"invalid UTF-8 in title", b64(`{"s":"title","v":"a` + "\xff" + `","i":1}`), SortTitle},
		{"year 0 created_at", Cursor{Sort: SortCreatedAt, Value: "0000-01-01T00:00:00+01:00", ID: 1}.Encode(), SortCreatedAt},
		{"year 10000 due_at", Cursor{Sort: SortDueAt, Value: "9999-12-31T23:59:59-23:59", ID: 1}.Encode(), SortDueAt},
		{"year 0 due_at", Cursor{Sort: SortDueAt, Value: "0000-12-31T23:59:59Z", ID: 1}.Encode(), SortDueAt},
		{"duplicate key", b64(`{"s":"created_at","v":"2026-01-01T00:00:00Z","i":1,"i":2}`), SortCreatedAt},
		{"unknown key", b64(`{"s":"created_at","v":"2026-01-01T00:00:00Z","i":1,"x":0}`), SortCreatedAt},
		{"id too big", b64(`{"s":"created_at","v":"2026-01-01T00:00:00Z","i":9223372036854775808}`), SortCreatedAt},
		{"id as float", b64(`{"s":"created_at","v":"2026-01-01T00:00:00Z","i":1.5}`), SortCreatedAt},
		{"trailing data", b64(`{"s":"created_at","v":"2026-01-01T00:00:00Z","i":1} `), SortCreatedAt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := DecodeCursor(tt.cursor, tt.sort, false); !errors.Is(err, ErrBadCursor) {
				t.Errorf("err = %v, want ErrBadCursor", err)
			}
		})
	}
	// The extremes that can be stored still page.
	for _, c := range []Cursor{
		{Sort: SortDueAt, Value: "0001-01-01T00:00:00Z", ID: 1},
		{Sort: SortDueAt, Value: "9999-12-31T23:59:59.999999Z", ID: 1},
		{Sort: SortCreatedAt, Value: "2026-01-01T00:00:00.5Z", ID: 9},
	} {
		if _, err := DecodeCursor(c.Encode(), c.Sort, false); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// goroot is the GOROOT of the go command that runs the tests, whose
// lib/time/zoneinfo.zip is what time/tzdata embeds.
func goroot() string {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
