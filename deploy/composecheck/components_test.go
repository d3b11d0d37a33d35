package composecheck

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"io"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
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

// viewerAppID is the read-only app id of the topic scopes (dashboards, tools,
// the end-to-end tests): components/pubsub.yaml lets it subscribe, and it is
// no app of the registry.
const viewerAppID = "event-viewer"

// parseScopes parses a Dapr scopes value ("app=t1,t2;app2=t3").
func parseScopes(t testing.TB, key, v string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, part := range strings.Split(v, ";") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		id, topics, ok := strings.Cut(part, "=")
		if !ok || strings.TrimSpace(id) == "" {
			t.Errorf("kafka-pubsub %s: %q is not app=topic,...", key, part)
			continue
		}
		if _, dup := out[id]; dup {
			t.Errorf("kafka-pubsub %s: app %s listed twice", key, id)
		}
		out[id] = strings.Split(topics, ",")
	}
	return out
}

// TestPubsubScopesNameRegistryApps: the topic scoping of kafka-pubsub
// (components/, and so the compose copy) names only apps of the registry,
// and the read-only viewer. A protected topic refuses every app that the
// scopes do not list, so a consumer of one must be listed: a misspelt or
// stale app id here would leave the real app refused.
func TestPubsubScopesNameRegistryApps(t *testing.T) {
	dir := filepath.Join(root(t), "components")
	apps := byIDOf(devstackApps(t))
	protected := strings.Split(componentValue(t, dir, "kafka-pubsub", "protectedTopics"), ",")
	published := map[string]bool{}
	for _, key := range []string{"publishingScopes", "subscriptionScopes"} {
		for id, topics := range parseScopes(t, key, componentValue(t, dir, "kafka-pubsub", key)) {
			if _, ok := apps[id]; !ok && (id != viewerAppID || key != "subscriptionScopes") {
				t.Errorf("kafka-pubsub %s names %q, which is not an app of internal/devstack (nor the read-only %s)", key, id, viewerAppID)
			}
			for _, tp := range topics {
				if strings.TrimSpace(tp) == "" {
					t.Errorf("kafka-pubsub %s: app %s has an empty topic", key, id)
				}
				if key == "publishingScopes" {
					published[tp] = true
				}
			}
		}
	}
	for _, tp := range protected {
		if !published[tp] {
			t.Errorf("kafka-pubsub: protected topic %s has no publisher in publishingScopes: no app could publish it", tp)
		}
	}
}
