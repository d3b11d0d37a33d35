package api_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/evolution-todo/todo/internal/todoapi/api"
)

func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(api.OpenAPIYAML)
	if err != nil {
		t.Fatalf("openapi.yaml does not load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not a valid OpenAPI 3 document: %v", err)
	}
	return doc
}

// Every public route is described, and every described operation is served.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := loadSpec(t)
	described := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			described[method+" "+path] = true
		}
	}
	served := map[string]bool{}
	for _, rt := range api.New(nil, nil, nil, nil, nil, api.Config{}).Routes() {
		if !rt.Internal {
			served[rt.Method+" "+rt.Path] = true
		}
	}
	for k := range served {
		if !described[k] {
			t.Errorf("route %s is served but not in openapi.yaml", k)
		}
	}
	for k := range described {
		if !served[k] {
			t.Errorf("openapi.yaml describes %s, which is not served", k)
		}
	}
	// Auth in the description agrees with the routes.
	for _, rt := range api.New(nil, nil, nil, nil, nil, api.Config{}).Routes() {
		if rt.Internal {
			continue
		}
		item := doc.Paths.Find(rt.Path)
		if item == nil || item.GetOperation(rt.Method) == nil {
			continue // reported above
		}
		op := item.GetOperation(rt.Method)
		secured := op.Security == nil || len(*op.Security) > 0 // nil: the document's default (bearer)
		if secured != rt.Auth {
			t.Errorf("%s %s: described auth %v, route auth %v", rt.Method, rt.Path, secured, rt.Auth)
		}
	}
}

// Real answers of the server match the schemas of the description.
func TestResponsesMatchSchemas(t *testing.T) {
	doc := loadSpec(t)
	c := newServer(t)
	tok := token(t, "alice")
	schema := func(name string) *openapi3.Schema { return doc.Components.Schemas[name].Value }
	check := func(what string, s *openapi3.Schema, body []byte) {
		t.Helper()
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if err := s.VisitJSON(v); err != nil {
			t.Errorf("%s does not match its schema: %v\nbody: %s", what, err, body)
		}
	}
	r := c.do("POST", "/api/tasks", tok, `{"title":"x","due_at":"2026-01-01T00:00:00Z","tags":["a"]}`)
	check("created task", schema("Task"), r.Body)
	r = c.do("GET", "/api/tasks", tok, "")
	check("task list", schema("TaskList"), r.Body)
	r = c.do("POST", "/api/tasks", tok, `{"nope":1}`)
	check("error", schema("Error"), r.Body)
	r = c.do("GET", "/readyz", "", "")
	check("readiness", schema("Readiness"), r.Body)

	// The served JSON form is the same document.
	r = c.do("GET", "/api/openapi.json", "", "")
	if r.Status != http.StatusOK {
		t.Fatalf("openapi.json: %d", r.Status)
	}
	served, err := openapi3.NewLoader().LoadFromData(r.Body)
	if err != nil {
		t.Fatalf("served openapi.json does not load: %v", err)
	}
	if got, want := keys(served), keys(doc); got != want {
		t.Errorf("served paths %s, want %s", got, want)
	}
}

func keys(doc *openapi3.T) string {
	var ks []string
	for k := range doc.Paths.Map() {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return strings.Join(ks, ",")
}
