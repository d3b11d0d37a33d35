package devstack

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// Overrides are the only component settings that may differ between
// environments: addresses and the cron period. Empty fields keep the file's
// value.
type Overrides struct {
	Brokers         string // brokers of kafka-pubsub and live-pubsub
	StateConnection string // statestore connectionString
	CronSchedule    string // reminder-cron schedule
}

// overridable says which (component, metadata key) pairs an override may
// change.
var overridable = map[string]string{
	"kafka-pubsub":  "brokers",
	"live-pubsub":   "brokers",
	"statestore":    "connectionString",
	"reminder-cron": "schedule",
}

// RenderComponents copies every YAML file of src to dst, replacing the
// overridden metadata values. It fails when an override names a component
// or key that is not in the files, so that a renamed component cannot be
// silently left at its default address.
func RenderComponents(src, dst string, o Overrides) error {
	want := map[string]string{}
	if o.Brokers != "" {
		want["kafka-pubsub"] = o.Brokers
		want["live-pubsub"] = o.Brokers
	}
	if o.StateConnection != "" {
		want["statestore"] = o.StateConnection
	}
	if o.CronSchedule != "" {
		want["reminder-cron"] = o.CronSchedule
	}
	files, err := filepath.Glob(filepath.Join(src, "*.yaml"))
	if err != nil {
		return err
	}
	sort.Strings(files)
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	applied := map[string]bool{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var docs [][]byte
		for _, doc := range splitYAML(raw) {
			var obj map[string]any
			if err := yaml.Unmarshal(doc, &obj); err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
			if obj == nil {
				continue
			}
			name, _ := nested(obj, "metadata", "name").(string)
			if value, ok := want[name]; ok && obj["kind"] == "Component" {
				if err := setMetadata(obj, overridable[name], value); err != nil {
					return fmt.Errorf("%s: component %s: %w", f, name, err)
				}
				applied[name] = true
			}
			out, err := yaml.Marshal(obj)
			if err != nil {
				return err
			}
			docs = append(docs, out)
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(f)), bytes.Join(docs, []byte("---\n")), 0o644); err != nil {
			return err
		}
	}
	for name := range want {
		if !applied[name] {
			return fmt.Errorf("components in %s: no component named %q to override", src, name)
		}
	}
	return nil
}

func splitYAML(b []byte) [][]byte {
	var docs [][]byte
	for _, part := range strings.Split(string(b), "\n---") {
		if strings.TrimSpace(part) != "" {
			docs = append(docs, []byte(part))
		}
	}
	return docs
}

func nested(obj map[string]any, keys ...string) any {
	var cur any = obj
	for _, k := range keys {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

func setMetadata(obj map[string]any, key, value string) error {
	items, _ := nested(obj, "spec", "metadata").([]any)
	for _, it := range items {
		m, ok := it.(map[string]any)
		if ok && m["name"] == key {
			m["value"] = value
			return nil
		}
	}
	return fmt.Errorf("no metadata item %q", key)
}

// ComponentMetadata reads the metadata values of every component in dir:
// component name -> key -> value, plus "type" and "scopes" (comma-joined).
// Used to check that environments agree.
func ComponentMetadata(dir string) (map[string]map[string]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]string{}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		raw, err := io.ReadAll(fh)
		fh.Close()
		if err != nil {
			return nil, err
		}
		for _, doc := range splitYAML(raw) {
			var obj map[string]any
			if err := yaml.Unmarshal(doc, &obj); err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			if obj["kind"] != "Component" {
				continue
			}
			name, _ := nested(obj, "metadata", "name").(string)
			if name == "" {
				return nil, errors.New(f + ": component without a name")
			}
			md := map[string]string{"type": fmt.Sprint(nested(obj, "spec", "type"))}
			if scopes, ok := obj["scopes"].([]any); ok {
				var ss []string
				for _, s := range scopes {
					ss = append(ss, fmt.Sprint(s))
				}
				md["scopes"] = strings.Join(ss, ",")
			}
			items, _ := nested(obj, "spec", "metadata").([]any)
			for _, it := range items {
				if m, ok := it.(map[string]any); ok {
					md[fmt.Sprint(m["name"])] = fmt.Sprint(m["value"])
				}
			}
			out[name] = md
		}
	}
	return out, nil
}
