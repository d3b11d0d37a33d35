package api_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// Bytes PostgreSQL cannot store, times it or JSON cannot hold, duplicate
// keys and broken query encodings: each answers 400 with the API's JSON
// error naming the field, through the real server and real PostgreSQL.
func TestBadBytesAnswer400(t *testing.T) {
	c := newServer(t)
	tok := token(t, "alice")
	r := c.do("POST", "/api/tasks", tok, `{"title":"existing","due_at":"2026-01-01T00:00:00Z"}`)
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	task := "/api/tasks/" + itoa(int64(r.json(t)["id"].(float64)))
	cur := func(js string) string { return url.QueryEscape(base64.RawURLEncoding.EncodeToString([]byte(js))) }

	tests := []struct {
		name, method, path, body string
		status                   int
		code, field              string
	}{
		{"NUL in title", "POST", "/api/tasks", `{"title":"a\u0000b"}`, 400, "invalid_field", "title"},
		{"NUL in description", "POST", "/api/tasks", `{"title":"x","description":"\u0000"}`, 400, "invalid_field", "description"},
		{"NUL in a tag", "POST", "/api/tasks", `{"title":"x","tags":["ok","\u0000"]}`, 400, "invalid_field", "tags"},
		{"NUL in title, PATCH", "PATCH", task, `{"title":"\u0000"}`, 400, "invalid_field", "title"},
		{"NUL in timezone", "PATCH", task, `{"timezone":"UTC\u0000"}`, 400, "invalid_field", "timezone"},
		{"raw invalid UTF-8 in title", "POST", "/api/tasks", "{\"title\":\"a\xffb\"}", 400, "invalid_field", "title"},
		{"raw invalid UTF-8 in description", "PATCH", task, "{\"description\":\"\xc3(\"}", 400, "invalid_field", "description"},
		{"raw invalid UTF-8 in a tag", "POST", "/api/tasks", "{\"title\":\"x\",\"tags\":[\"\xed\xa0\x80\"]}", 400, "invalid_field", "tags"},
		{"raw invalid UTF-8 in a key", "POST", "/api/tasks", "{\"title\":\"x\",\"\xff\":1}", 400, "invalid_json", ""},
		{"due_at in year 10000 UTC", "POST", "/api/tasks", `{"title":"x","due_at":"9999-12-31T23:59:59-23:59"}`, 400, "invalid_field", "due_at"},
		{"reminder_at in year 0 UTC", "POST", "/api/tasks", `{"title":"x","reminder_at":"0000-01-01T00:00:00+01:00"}`, 400, "invalid_field", "reminder_at"},
		{"due_at in year 10000 UTC, PATCH", "PATCH", task, `{"due_at":"9999-12-31T23:59:59-23:59"}`, 400, "invalid_field", "due_at"},
		{"reminder_at in year 0, PATCH", "PATCH", task, `{"reminder_at":"0000-12-31T23:00:00Z"}`, 400, "invalid_field", "reminder_at"},
		{"duplicate key", "POST", "/api/tasks", `{"title":"x","title":"y"}`, 400, "invalid_json", "title"},
		{"duplicate key, PATCH", "PATCH", task, `{"description":"a","priority":"low","description":"b"}`, 400, "invalid_json", "description"},
		{"duplicate key, nested", "POST", "/api/tasks", `{"title":"x","tags":[{"a":1,"a":2}]}`, 400, "invalid_json", "a"},
		{"deep nesting", "POST", "/api/tasks", `{"title":"x","tags":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `}`, 400, "invalid_json", ""},
		{"malformed percent-encoding", "GET", "/api/tasks?limit=%zz", "", 400, "invalid_query", ""},
		{"malformed percent-encoding in a name", "GET", "/api/tasks?%zz=1", "", 400, "invalid_query", ""},
		{"semicolon separator", "GET", "/api/tasks?limit=5;status=open", "", 400, "invalid_query", ""},
		{"NUL in q", "GET", "/api/tasks?q=a%00b", "", 400, "invalid_query", "q"},
		{"invalid UTF-8 in q", "GET", "/api/tasks?q=%ff", "", 400, "invalid_query", "q"},
		{"NUL in tag", "GET", "/api/tasks?tag=%00", "", 400, "invalid_query", "tag"},
		{"invalid UTF-8 in tag", "GET", "/api/tasks?tag=a%c3", "", 400, "invalid_query", "tag"},
		{"due_before in year 10000 UTC", "GET", "/api/tasks?due_before=9999-12-31T23:59:59-23:59", "", 400, "invalid_query", "due_before"},
		{"due_after in year 0", "GET", "/api/tasks?due_after=0000-01-01T00:00:00%2B01:00", "", 400, "invalid_query", "due_after"},
		{"NUL in a title cursor", "GET", "/api/tasks?sort=title&cursor=" + cur(`{"s":"title","v":"a\u0000","i":1}`), "", 400, "invalid_cursor", "cursor"},
		{"invalid UTF-8 in a title cursor", "GET", "/api/tasks?sort=title&cursor=" + cur("{\"s\":\"title\",\"v\":\"\xff\",\"i\":1}"), "", 400, "invalid_cursor", "cursor"},
		{"year 0 in a created_at cursor", "GET", "/api/tasks?cursor=" + cur(`{"s":"created_at","v":"0000-01-01T00:00:00+01:00","i":1}`), "", 400, "invalid_cursor", "cursor"},
		{"year 10000 in a due_at cursor", "GET", "/api/tasks?sort=due_at&cursor=" + cur(`{"s":"due_at","v":"9999-12-31T23:59:59-23:59","i":1}`), "", 400, "invalid_cursor", "cursor"},
		{"cursor with raw NUL", "GET", "/api/tasks?cursor=%00", "", 400, "invalid_cursor", "cursor"},
		{"cursor with invalid UTF-8", "GET", "/api/tasks?cursor=%ff%fe", "", 400, "invalid_cursor", "cursor"},
		{"timezone posixrules", "POST", "/api/tasks", `{"title":"x","timezone":"posixrules"}`, 400, "invalid_field", "timezone"},
		{"timezone Factory", "POST", "/api/tasks", `{"title":"x","timezone":"Factory"}`, 400, "invalid_field", "timezone"},
		{"timezone right/UTC", "PATCH", task, `{"timezone":"right/UTC"}`, 400, "invalid_field", "timezone"},
		{"timezone posix/Europe/Berlin", "PATCH", task, `{"timezone":"posix/Europe/Berlin"}`, 400, "invalid_field", "timezone"},
		{"timezone localtime", "POST", "/api/tasks", `{"title":"x","timezone":"localtime"}`, 400, "invalid_field", "timezone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.do(tt.method, tt.path, tok, tt.body)
			var e struct {
				Error struct{ Code, Message, Field string } `json:"error"`
			}
			if err := json.Unmarshal(r.Body, &e); err != nil || e.Error.Message == "" {
				t.Fatalf("%d without a JSON error body: %q", r.Status, r.Body)
			}
			if r.Status != tt.status || e.Error.Code != tt.code || e.Error.Field != tt.field {
				t.Errorf("got %d %s field %q, want %d %s field %q (%s)", r.Status, e.Error.Code, e.Error.Field,
					tt.status, tt.code, tt.field, e.Error.Message)
			}
		})
	}
	if r := c.do("GET", task, tok, ""); r.Status != 200 || r.json(t)["title"] != "existing" || r.json(t)["due_at"] != "2026-01-01T00:00:00Z" {
		t.Errorf("task changed by bad requests: %d %s", r.Status, r.Body)
	}
}

// Every time the API accepts is stored and read back as it was, and pages
// with its cursor: the extremes of the years 1..9999 in UTC, reached through
// offsets too. PostgreSQL's timestamptz holds 4713 BC to 294276 AD; JSON and
// RFC 3339 answers hold 0000..9999, and PostgreSQL has no year 0, so the API
// takes 0001..9999 UTC.
func TestExtremeTimesRoundTrip(t *testing.T) {
	c := newServer(t)
	tok := token(t, "alice")
	times := map[string]string{
		"0001-01-01T00:00:00Z":             "0001-01-01T00:00:00Z",
		"0001-01-02T00:00:00+23:59":        "0001-01-01T00:01:00Z",
		"0001-01-01T00:00:00.000001Z":      "0001-01-01T00:00:00.000001Z",
		"9999-12-31T23:59:59.999999Z":      "9999-12-31T23:59:59.999999Z",
		"9999-12-31T23:59:59.9999999Z":     "9999-12-31T23:59:59.999999Z", // microseconds kept
		"9999-12-31T00:00:00-23:59":        "9999-12-31T23:59:00Z",
		"1969-12-31T23:59:59.999999-00:00": "1969-12-31T23:59:59.999999Z",
		"2000-02-29T12:00:00+05:45":        "2000-02-29T06:15:00Z",
	}
	for in, want := range times {
		r := c.do("POST", "/api/tasks", tok, `{"title":"t `+in+`","due_at":"`+in+`","reminder_at":"`+in+`"}`)
		if r.Status != http.StatusCreated {
			t.Fatalf("create with %s: %d %s", in, r.Status, r.Body)
		}
		id := itoa(int64(r.json(t)["id"].(float64)))
		for _, r := range []response{r, c.do("GET", "/api/tasks/"+id, tok, ""),
			c.do("PATCH", "/api/tasks/"+id, tok, `{"due_at":"`+in+`","description":"again"}`)} {
			// reminder_at reads the next pending reminder: a time in the
			// past when set is not one; the reminder itself is kept.
			got := r.json(t)
			reminders, _ := got["reminders"].([]any)
			var at any
			if len(reminders) == 1 {
				at = reminders[0].(map[string]any)["at"]
			}
			if got["due_at"] != want || at != want {
				t.Errorf("%s: answered due_at %v reminders %v, want %s", in, got["due_at"], got["reminders"], want)
			}
			if future := want > "2100"; (got["reminder_at"] == want) != future {
				t.Errorf("%s: reminder_at %v: pending only when in the future", in, got["reminder_at"])
			}
		}
	}
	// Page through them by due date, one per page, in both orders.
	for _, order := range []string{"asc", "desc"} {
		seen, path := 0, "/api/tasks?sort=due_at&limit=1&order="+order
		for path != "" && seen <= len(times) {
			r := c.do("GET", path, tok, "")
			if r.Status != http.StatusOK {
				t.Fatalf("%s: %d %s", path, r.Status, r.Body)
			}
			body := r.json(t)
			seen += len(body["tasks"].([]any))
			next, _ := body["next_cursor"].(string)
			path = ""
			if next != "" {
				path = "/api/tasks?sort=due_at&limit=1&order=" + order + "&cursor=" + next
			}
		}
		if seen != len(times) {
			t.Errorf("order %s: paged through %d tasks, want %d", order, seen, len(times))
		}
	}
}

// The sidecar-only routes refuse the same bytes (their caller is trusted,
// but what it relays came from a user).
func TestInternalRoutesRefuseBadBytes(t *testing.T) {
	c := newServer(t)
	c = &client{t: t, url: c.app}
	for _, tt := range []struct{ name, method, path, body string }{
		{"NUL in user_id", "POST", "/internal/tasks/1/next-occurrence", `{"user_id":"a\u0000","title":"x"}`},
		{"invalid UTF-8 in user_id", "POST", "/internal/tasks/1/next-occurrence", "{\"user_id\":\"\xff\",\"title\":\"x\"}"},
		{"NUL in title", "POST", "/internal/tasks/1/next-occurrence", `{"user_id":"alice","title":"\u0000"}`},
		{"anchor in year 10000", "POST", "/internal/tasks/1/next-occurrence", `{"user_id":"alice","title":"x","recurrence_anchor":"9999-12-31T23:59:59-23:59"}`},
		{"duplicate key", "POST", "/internal/reminders/sent", `{"reminders":[],"reminders":[]}`},
		{"bad encoding", "GET", "/internal/reminders/due?limit=%zz", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := c.do(tt.method, tt.path, "", tt.body)
			if r.Status < 400 || r.Status >= 500 || strings.HasPrefix(r.errorCode(), "<") {
				t.Errorf("got %d %s, want a 4xx with a JSON error", r.Status, r.Body)
			}
		})
	}
}
