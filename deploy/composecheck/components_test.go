package composecheck

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"io"
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/evolution-todo/todo/deploy/registry"
)

// overridable parses internal/devstack/components.go's overridable map: the
// only (component, metadata key) pairs that may differ between environments
// (addresses and the cron period).
func overridable(t testing.TB) map[string]string {
	t.Helper()
	f := parseGo(t, filepath.Join(root(t), "internal", "devstack", "components.go"))
	out := map[string]string{}
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || vs.Names[0].Name != "overridable" || len(vs.Values) != 1 {
			return true
		}
		for _, el := range vs.Values[0].(*ast.CompositeLit).Elts {
			kv := el.(*ast.KeyValueExpr)
			k, _ := stringLit(kv.Key)
			v, _ := stringLit(kv.Value)
			out[k] = v
		}
		return false
	})
	if len(out) == 0 {
		t.Fatal("overridable not found in internal/devstack/components.go")
	}
	return out
}

// yamlDocs reads every YAML document of every *.yaml file of dir.
func yamlDocs(t testing.TB, dir string) map[string][]map[string]any {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]map[string]any{}
	for _, f := range files {
		dec := yaml.NewDecoder(bytes.NewReader(readFile(t, f)))
		var docs []map[string]any
		for {
			var doc map[string]any
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if doc != nil {
				docs = append(docs, doc)
			}
		}
		out[filepath.Base(f)] = docs
	}
	if len(out) == 0 {
		t.Fatalf("no YAML files in %s", dir)
	}
	return out
}

func docName(doc map[string]any) string {
	md, _ := doc["metadata"].(map[string]any)
	name, _ := md["name"].(string)
	return name
}

// metadataItem returns the spec.metadata item named key of a component.
func metadataItem(doc map[string]any, key string) map[string]any {
	spec, _ := doc["spec"].(map[string]any)
	items, _ := spec["metadata"].([]any)
	for _, it := range items {
		if m, ok := it.(map[string]any); ok && m["name"] == key {
			return m
		}
	}
	return nil
}

// componentValue returns the value of a component's metadata key in dir.
func componentValue(t testing.TB, dir, component, key string) string {
	t.Helper()
	for _, docs := range yamlDocs(t, dir) {
		for _, doc := range docs {
			if doc["kind"] == "Component" && docName(doc) == component {
				if it := metadataItem(doc, key); it != nil {
					return fmt.Sprint(it["value"])
				}
				t.Fatalf("%s: component %s has no metadata %s", dir, component, key)
			}
		}
	}
	t.Fatalf("%s: no component %s", dir, component)
	return ""
}

// diff lists the differences between a and b, one path each.
func diff(path string, a, b any) []string {
	switch a := a.(type) {
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: %v vs %v", path, a, b)}
		}
		keys := map[string]bool{}
		for k := range a {
			keys[k] = true
		}
		for k := range bm {
			keys[k] = true
		}
		var sorted []string
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		var out []string
		for _, k := range sorted {
			out = append(out, diff(path+"."+k, a[k], bm[k])...)
		}
		return out
	case []any:
		bs, ok := b.([]any)
		if !ok || len(a) != len(bs) {
			return []string{fmt.Sprintf("%s: %v vs %v", path, a, b)}
		}
		var out []string
		for i := range a {
			label := fmt.Sprintf("[%d]", i)
			if m, ok := a[i].(map[string]any); ok && m["name"] != nil {
				label = fmt.Sprintf("[name=%v]", m["name"])
			}
			out = append(out, diff(path+label, a[i], bs[i])...)
		}
		return out
	default:
		if !reflect.DeepEqual(a, b) {
			return []string{fmt.Sprintf("%s: %v vs %v", path, a, b)}
		}
		return nil
	}
}

// TestComposeComponentsMatchRoot: deploy/compose/components is a copy of
// components/ (the single source) except for the broker address, the state
// store connection string and the cron period. Everything else (names, types,
// versions, every other metadata key and value, scopes, the Resiliency
// policy) must be identical.
func TestComposeComponentsMatchRoot(t *testing.T) {
	srcDir := filepath.Join(root(t), "components")
	dstDir := filepath.Join(root(t), composeDir, "components")
	src, dst := yamlDocs(t, srcDir), yamlDocs(t, dstDir)
	allowed := overridable(t)

	var srcFiles, dstFiles []string
	for f := range src {
		srcFiles = append(srcFiles, f)
	}
	for f := range dst {
		dstFiles = append(dstFiles, f)
	}
	slices.Sort(srcFiles)
	slices.Sort(dstFiles)
	if !slices.Equal(srcFiles, dstFiles) {
		t.Errorf("files differ: components/ has %v, %s/components has %v", srcFiles, composeDir, dstFiles)
	}

	seen := map[string]bool{}
	for _, f := range srcFiles {
		a, b := src[f], dst[f]
		if len(a) != len(b) {
			t.Errorf("%s: %d documents in components/, %d in the compose copy", f, len(a), len(b))
			continue
		}
		for i := range a {
			name := docName(a[i])
			if a[i]["kind"] == "Component" {
				if key, ok := allowed[name]; ok {
					ia, ib := metadataItem(a[i], key), metadataItem(b[i], key)
					if ia == nil || ib == nil {
						t.Errorf("%s: component %s: metadata %s missing (components/: %v, copy: %v)", f, name, key, ia != nil, ib != nil)
						continue
					}
					seen[name] = true
					// Compare everything else: mask the allowed value on both
					// sides (copies, so that later checks read the originals).
					a[i], b[i] = maskValue(a[i], key), maskValue(b[i], key)
				}
			}
			for _, d := range diff(fmt.Sprintf("%s/%s", f, name), a[i], b[i]) {
				t.Errorf("compose component differs from components/ (only %v may): %s", allowedList(allowed), d)
			}
		}
	}
	for name, key := range allowed {
		if !seen[name] {
			t.Errorf("component %s (metadata %s, which environments override) not found in both folders", name, key)
		}
	}

	// The compose sweep period: one minute up to production's five.
	sched := componentValue(t, dstDir, "reminder-cron", "schedule")
	d, err := time.ParseDuration(strings.TrimPrefix(sched, "@every "))
	if !strings.HasPrefix(sched, "@every ") || err != nil || d < time.Minute || d > 5*time.Minute {
		t.Errorf("compose reminder-cron schedule %q: want @every 1m .. @every 5m", sched)
	}
	if got := componentValue(t, dstDir, "kafka-pubsub", "consumerGroup"); got != "{appID}" {
		t.Errorf("kafka-pubsub consumerGroup %q: want {appID} (one group per app)", got)
	}
}

func allowedList(m map[string]string) []string {
	var out []string
	for c, k := range m {
		out = append(out, c+"."+k)
	}
	sort.Strings(out)
	return out
}

// maskValue returns a deep copy of doc with the metadata value of key replaced.
func maskValue(doc map[string]any, key string) map[string]any {
	var cp map[string]any
	b, _ := yaml.Marshal(doc)
	_ = yaml.Unmarshal(b, &cp)
	metadataItem(cp, key)["value"] = "<environment-specific>"
	return cp
}

// scopeValue parses a Dapr topic scoping value: "app=t1,t2;app2=" into
// app id -> topics (app2 listed with none: an empty, non-nil list). A part
// without "=", an empty app id or topic, or an app listed twice is an
// error.
func scopeValue(v string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, part := range strings.Split(v, ";") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		id, list, ok := strings.Cut(part, "=")
		id = strings.TrimSpace(id)
		if !ok || id == "" {
			return nil, fmt.Errorf("%q is not app=topic,...", part)
		}
		if _, dup := out[id]; dup {
			return nil, fmt.Errorf("app %s listed twice", id)
		}
		topics := []string{}
		if strings.TrimSpace(list) != "" {
			var err error
			if topics, err = topicList(list); err != nil {
				return nil, fmt.Errorf("app %s: %w", id, err)
			}
		}
		out[id] = topics
	}
	return out, nil
}

// topicList parses "t1,t2" into its sorted topics; an empty one is an error.
func topicList(v string) ([]string, error) {
	var out []string
	for _, tp := range strings.Split(v, ",") {
		if tp = strings.TrimSpace(tp); tp == "" {
			return nil, fmt.Errorf("empty topic in %q", v)
		}
		out = append(out, tp)
	}
	slices.Sort(out)
	return out, nil
}

func sortedCopy(l []string) []string { return slices.Sorted(slices.Values(l)) }

// pubsubFiles are the files that define the pub/sub components: components/
// (what the launcher and daprd load), the other brokers' pairs and the
// compose copy.
func pubsubFiles(t testing.TB) []string {
	t.Helper()
	var files []string
	for _, pattern := range []string{"components/*.yaml", "components/brokers/*/*.yaml", composeDir + "/components/*.yaml"} {
		m, err := filepath.Glob(filepath.Join(root(t), filepath.FromSlash(pattern)))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	return files
}

// pubsubComponents reads every pub/sub Component (spec.type pubsub.*) of
// file.
func pubsubComponents(t testing.TB, file string) []map[string]any {
	t.Helper()
	var out []map[string]any
	dec := yaml.NewDecoder(bytes.NewReader(readFile(t, file)))
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		spec, _ := doc["spec"].(map[string]any)
		if typ, _ := spec["type"].(string); doc["kind"] == "Component" && strings.HasPrefix(typ, "pubsub.") {
			out = append(out, doc)
		}
	}
}

// scopeProblems compares the topic scoping of pub/sub component doc with
// apps.json's (order-insensitive): protectedTopics, publishingScopes,
// subscriptionScopes and, when the component lists them, its scopes (the
// apps and readers that publish or subscribe through it).
func scopeProblems(reg registry.Registry, doc map[string]any) []string {
	name := docName(doc)
	want, ok := reg.ScopesOf(name)
	if !ok {
		return []string{fmt.Sprintf("component %s: no pub/sub component of that name in %s (pubsubs)", name, registry.File)}
	}
	var problems []string
	value := func(key string) (string, bool) {
		it := metadataItem(doc, key)
		if it == nil {
			problems = append(problems, fmt.Sprintf("component %s: no metadata %s (%s scopes its topics)", name, key, registry.File))
			return "", false
		}
		if it["value"] == nil {
			return "", true
		}
		return fmt.Sprint(it["value"]), true
	}
	if v, ok := value("protectedTopics"); ok {
		got, err := topicList(v)
		if strings.TrimSpace(v) == "" {
			got, err = nil, nil
		}
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("component %s: protectedTopics: %v", name, err))
		case !slices.Equal(got, sortedCopy(want.Protected)):
			problems = append(problems, fmt.Sprintf("component %s: protectedTopics %v, %s says %v", name, got, registry.File, sortedCopy(want.Protected)))
		}
	}
	for _, c := range []struct {
		key  string
		want map[string][]string
	}{{"publishingScopes", want.Publishing}, {"subscriptionScopes", want.Subscription}} {
		v, ok := value(c.key)
		if !ok {
			continue
		}
		got, err := scopeValue(v)
		if err != nil {
			problems = append(problems, fmt.Sprintf("component %s: %s: %v", name, c.key, err))
			continue
		}
		ids := map[string]bool{}
		for id := range got {
			ids[id] = true
		}
		for id := range c.want {
			ids[id] = true
		}
		for _, id := range slices.Sorted(maps.Keys(ids)) {
			g, inGot := got[id]
			w, inWant := c.want[id]
			switch {
			case !inGot:
				problems = append(problems, fmt.Sprintf("component %s: %s lacks %s=%s, which %s says", name, c.key, id, strings.Join(w, ","), registry.File))
			case !inWant:
				problems = append(problems, fmt.Sprintf("component %s: %s lists %s=%s, which %s does not", name, c.key, id, strings.Join(g, ","), registry.File))
			case !slices.Equal(g, sortedCopy(w)):
				problems = append(problems, fmt.Sprintf("component %s: %s: %s=%v, %s says %v", name, c.key, id, g, registry.File, sortedCopy(w)))
			}
		}
	}
	if raw, ok := doc["scopes"]; ok {
		list, _ := raw.([]any)
		var got []string
		for _, s := range list {
			got = append(got, fmt.Sprint(s))
		}
		if slices.Sort(got); !slices.Equal(got, sortedCopy(want.Users)) {
			problems = append(problems, fmt.Sprintf("component %s: scopes %v, but the app ids of %s that use it are %v", name, got, registry.File, sortedCopy(want.Users)))
		}
	}
	return problems
}

// TestPubsubScopesMatchAppsJSON: the topic scoping of every pub/sub
// component file (components/, components/brokers/*, the compose copy) is
// what apps.json says: its protected topics, who may publish what, who may
// subscribe to what. apps.json is where each app's topics are written
// (and internal/devstack checks them against each app's GET
// /dapr/subscribe); a protected topic refuses every app that the scopes do
// not list, so a scope out of step leaves an app's events unsent or
// unread at run time.
func TestPubsubScopesMatchAppsJSON(t *testing.T) {
	reg := devstackRegistry(t)
	inRoot := map[string]bool{}
	checked := 0
	for _, f := range pubsubFiles(t) {
		rel, _ := filepath.Rel(root(t), f)
		for _, doc := range pubsubComponents(t, f) {
			checked++
			if filepath.Dir(rel) == "components" {
				inRoot[docName(doc)] = true
			}
			for _, p := range scopeProblems(reg, doc) {
				t.Errorf("%s: %s", rel, p)
			}
		}
	}
	for name := range reg.PubSubs {
		if !inRoot[name] {
			t.Errorf("%s names pub/sub component %s, which components/ does not define", registry.File, name)
		}
	}
	if checked < 8 {
		t.Fatalf("only %d pub/sub components found", checked)
	}
}

// The comparison notices each kind of difference.
func TestPubsubScopeDriftIsDetected(t *testing.T) {
	reg := devstackRegistry(t)
	orig := pubsubComponents(t, filepath.Join(root(t), "components", "pubsub.yaml"))
	if len(orig) != 1 {
		t.Fatalf("components/pubsub.yaml: %d pub/sub components, want 1", len(orig))
	}
	if p := scopeProblems(reg, orig[0]); len(p) > 0 {
		t.Fatalf("components/pubsub.yaml as it is: %v", p)
	}
	set := func(key, v string) func(map[string]any) {
		return func(doc map[string]any) { metadataItem(doc, key)["value"] = v }
	}
	mutations := map[string]func(map[string]any){
		"another name":                func(doc map[string]any) { doc["metadata"].(map[string]any)["name"] = "other-pubsub" },
		"a topic no longer protected": set("protectedTopics", "task-events"),
		"a publisher missing":         set("publishingScopes", "todo-api=task-events"),
		"a publisher with nothing":    set("publishingScopes", "todo-api=task-events;reminder-service=reminders;audit-service="),
		"a topic moved between apps":  set("publishingScopes", "todo-api=reminders;reminder-service=task-events"),
		"a dead-letter topic missing": set("subscriptionScopes", "audit-service=task-events,task-events-dlq;recurring-service=task-events;notification-service=reminders;event-viewer=task-events,reminders,task-events-dlq,reminders-dlq"),
		"the reader missing":          set("subscriptionScopes", "audit-service=task-events,task-events-dlq,reminders-dlq;recurring-service=task-events;notification-service=reminders"),
		"an app listed twice":         set("subscriptionScopes", "audit-service=task-events;audit-service=task-events-dlq,reminders-dlq;recurring-service=task-events;notification-service=reminders;event-viewer=task-events,reminders,task-events-dlq,reminders-dlq"),
		"no subscriptionScopes": func(doc map[string]any) {
			doc["spec"].(map[string]any)["metadata"] = []any{metadataItem(doc, "protectedTopics")}
		},
		"scopes without the reader": func(doc map[string]any) {
			doc["scopes"] = []any{"todo-api", "audit-service", "recurring-service", "reminder-service", "notification-service"}
		},
		"a stranger in publishingScopes": set("publishingScopes", "todo-api=task-events;reminder-service=reminders;intruder=task-events"),
	}
	for what, mutate := range mutations {
		t.Run(what, func(t *testing.T) {
			doc := pubsubComponents(t, filepath.Join(root(t), "components", "pubsub.yaml"))[0]
			mutate(doc)
			p := scopeProblems(reg, doc)
			if len(p) == 0 {
				t.Fatalf("drift %q went unnoticed", what)
			}
			t.Logf("reported: %s", strings.Join(p, "; "))
		})
	}
}
