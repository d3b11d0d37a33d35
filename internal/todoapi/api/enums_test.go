package api_test

import (
	"bytes"
	"fmt"
	"slices"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/evolution-todo/todo/internal/recurrence"
	"github.com/evolution-todo/todo/internal/todoapi/api"
	"github.com/evolution-todo/todo/internal/todoapi/task"
)

// The OpenAPI description's enumerations are the code's lists, in order,
// and every priority and recurrence in it refers to them.
func TestOpenAPIEnumsMatchTheCode(t *testing.T) {
	for _, p := range enumProblems(t, api.OpenAPIYAML) {
		t.Error(p)
	}
}

// The check above notices a description that disagrees with the code.
func TestOpenAPIEnumCheckFindsDisagreements(t *testing.T) {
	mutations := map[string][2]string{
		"recurrence value added": {"enum: [none, daily, weekly, monthly, yearly]", "enum: [none, daily, weekly, monthly, yearly, hourly]"},
		"recurrence reordered":   {"enum: [none, daily, weekly, monthly, yearly]", "enum: [daily, none, weekly, monthly, yearly]"},
		"priority value missing": {"enum: [none, low, medium, high]", "enum: [none, low, high]"},
		"priority restated":      {`priority: {$ref: "#/components/schemas/Priority"}`, `priority: {type: string, enum: [none, low, medium, high]}`},
	}
	for name, m := range mutations {
		t.Run(name, func(t *testing.T) {
			if !bytes.Contains(api.OpenAPIYAML, []byte(m[0])) {
				t.Fatalf("openapi.yaml has no %q to mutate", m[0])
			}
			mutated := bytes.Replace(api.OpenAPIYAML, []byte(m[0]), []byte(m[1]), 1)
			if len(enumProblems(t, mutated)) == 0 {
				t.Error("the mutated description passed the check")
			}
		})
	}
}

func enumProblems(t *testing.T, yaml []byte) []string {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(yaml)
	if err != nil {
		t.Fatalf("openapi.yaml does not load: %v", err)
	}
	var problems []string
	var rules, priorities []string
	for _, r := range recurrence.Rules() {
		rules = append(rules, string(r))
	}
	for _, p := range task.Priorities() {
		priorities = append(priorities, p.String())
	}
	for name, want := range map[string][]string{"Recurrence": rules, "Priority": priorities} {
		s := doc.Components.Schemas[name]
		if s == nil || s.Value == nil {
			problems = append(problems, "components.schemas."+name+" is missing")
			continue
		}
		var got []string
		for _, v := range s.Value.Enum {
			got = append(got, fmt.Sprint(v))
		}
		if !slices.Equal(got, want) {
			problems = append(problems, fmt.Sprintf("components.schemas.%s.enum = %q, want %q (the code's list)", name, got, want))
		}
	}

	// No schema restates the values: a property or parameter called
	// priority or recurrence is a $ref to the component.
	refs := map[string]string{"priority": "#/components/schemas/Priority", "recurrence": "#/components/schemas/Recurrence"}
	checked := 0
	for schemaName, s := range doc.Components.Schemas {
		for prop, ps := range s.Value.Properties {
			if want, ok := refs[prop]; ok {
				checked++
				if !refersTo(ps, want) {
					problems = append(problems, fmt.Sprintf("components.schemas.%s.properties.%s is not a $ref to %s", schemaName, prop, want))
				}
			}
		}
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			for _, p := range op.Parameters {
				if want, ok := refs[p.Value.Name]; ok {
					checked++
					if p.Value.Schema == nil || !refersTo(p.Value.Schema, want) {
						problems = append(problems, fmt.Sprintf("%s %s parameter %s is not a $ref to %s", method, path, p.Value.Name, want))
					}
				}
			}
		}
	}
	if checked < 7 { // Task, TaskCreate and TaskUpdate have both; GET /api/tasks filters on priority
		t.Fatalf("checked %d uses of priority and recurrence, want at least 7; this check may be broken", checked)
	}
	return problems
}

// refersTo reports whether s is the schema ref, or wraps it without
// restating values (allOf: [{$ref: ...}], which makes a ref nullable).
func refersTo(s *openapi3.SchemaRef, ref string) bool {
	if s.Ref == ref {
		return true
	}
	if s.Ref != "" || s.Value == nil || len(s.Value.Enum) > 0 || len(s.Value.AllOf) != 1 {
		return false
	}
	return s.Value.AllOf[0].Ref == ref
}
