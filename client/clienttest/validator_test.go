package clienttest_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/evolution-todo/todo/client/clienttest"
)

const spec = `
openapi: 3.0.3
info: {title: t, version: "1"}
servers: [{url: "http://example.com"}]
security: [{bearer: []}]
paths:
  /things/{id}:
    parameters:
      - {name: id, in: path, required: true, schema: {type: integer, minimum: 1}}
    get:
      responses:
        "200":
          description: ok
          headers:
            X-Thing: {required: true, schema: {type: string}}
          content:
            application/json:
              schema:
                type: object
                required: [id, name]
                properties:
                  id: {type: integer}
                  name: {type: string, nullable: true}
                  note: {type: object}
        "400": {description: bad, content: {application/json: {schema: {type: object, properties: {error: {type: string}}}}}}
  /open:
    get:
      security: []
      responses:
        "204": {description: nothing}
components:
  securitySchemes:
    bearer: {type: http, scheme: bearer}
`

// exchange sends method target through the validator to a server that
// answers status, headers and body.
func exchange(t *testing.T, v *clienttest.Validator, target string, auth bool, status int, header map[string]string, body string) error {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		for k, val := range header {
			w.Header().Set(k, val)
		}
		if body != "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	defer srv.Close()
	req, err := http.NewRequest(http.MethodGet, srv.URL+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth {
		req.Header.Set("Authorization", "Bearer x")
	}
	resp, err := (&http.Client{Transport: v.Transport(nil)}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if string(got) != body {
		t.Errorf("the body passed on is %q, want %q", got, body)
	}
	return nil
}

func TestValidator(t *testing.T) {
	thing := map[string]string{"X-Thing": "1"}
	cases := []struct {
		name   string
		target string
		auth   bool
		status int
		header map[string]string
		body   string
		reason string // "" when the exchange is valid
	}{
		{"valid", "/things/1", true, 200, thing, `{"id":1,"name":null,"note":{"any":1}}`, ""},
		{"a refused request refused", "/things/0", true, 400, nil, `{"error":"id"}`, ""},
		{"no token, refused", "/things/1", false, 400, nil, `{"error":"token"}`, ""},
		{"no auth needed", "/open", false, 204, nil, "", ""},
		{"a required member missing", "/things/1", true, 200, thing, `{"id":1}`, "does not match"},
		{"a member not described", "/things/1", true, 200, thing, `{"id":1,"name":"n","extra":true}`, "does not match"},
		{"a wrong type", "/things/1", true, 200, thing, `{"id":"1","name":"n"}`, "does not match"},
		{"a required header missing", "/things/1", true, 200, nil, `{"id":1,"name":"n"}`, "does not match"},
		{"a status not described", "/things/1", true, 404, nil, `{"error":"x"}`, "does not match"},
		{"not JSON", "/things/1", true, 200, thing, `{"id":`, "does not match"},
		{"a refused request accepted", "/things/0", true, 200, thing, `{"id":1,"name":"n"}`, "did not refuse"},
		{"no token, accepted", "/things/1", false, 200, thing, `{"id":1,"name":"n"}`, "did not refuse"},
		{"no such operation", "/nothing", true, 200, nil, `{}`, "no documented operation"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := clienttest.NewValidator([]byte(spec))
			if err != nil {
				t.Fatal(err)
			}
			err = exchange(t, v, tc.target, tc.auth, tc.status, tc.header, tc.body)
			var ve *clienttest.Error
			if tc.reason == "" {
				if err != nil || len(v.Errors()) != 0 {
					t.Fatalf("a valid exchange failed: %v", err)
				}
				return
			}
			if !errors.As(err, &ve) || !strings.Contains(ve.Reason, tc.reason) {
				t.Fatalf("err = %v, want an *Error saying %q", err, tc.reason)
			}
			if len(v.Errors()) != 1 {
				t.Errorf("%d errors kept, want 1", len(v.Errors()))
			}
		})
	}
}

func TestValidatorCoverage(t *testing.T) {
	v, err := clienttest.NewValidator([]byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	want := []clienttest.Outcome{{"GET", "/open", 204}, {"GET", "/things/{id}", 200}, {"GET", "/things/{id}", 400}}
	if got := v.Documented(); !slices.Equal(got, want) {
		t.Fatalf("documented %v, want %v", got, want)
	}
	if err := exchange(t, v, "/things/2", true, 200, map[string]string{"X-Thing": "a"}, `{"id":2,"name":"n"}`); err != nil {
		t.Fatal(err)
	}
	if err := exchange(t, v, "/things/3", true, 200, map[string]string{"X-Thing": "a"}, `{"id":3,"name":"n"}`); err != nil {
		t.Fatal(err)
	}
	if got := v.Seen(); len(got) != 1 || got[clienttest.Outcome{Method: "GET", Path: "/things/{id}", Status: 200}] != 2 {
		t.Errorf("seen %v", got)
	}
	if got := v.Missing(); !slices.Equal(got, []clienttest.Outcome{want[0], want[2]}) {
		t.Errorf("missing %v", got)
	}
}

func TestNewValidatorRefusesABadDocument(t *testing.T) {
	for _, doc := range []string{"not: [yaml", "openapi: 3.0.3\ninfo: {title: t}\npaths: {}\n"} {
		if _, err := clienttest.NewValidator([]byte(doc)); err == nil {
			t.Errorf("%q loaded", doc)
		}
	}
}
