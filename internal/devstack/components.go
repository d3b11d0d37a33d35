package devstack

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

// Overrides are the only component settings that may differ between
// environments: the broker, addresses and the cron period. Empty fields
// keep the files' values.
type Overrides struct {
	// Broker picks the pub/sub components: "" or kafka for the pair in
	// components/ itself, else those of components/brokers/<Broker>/, which
	// take the place of the components of the same names.
	Broker          Broker
	BrokerAddress   string // address of kafka-pubsub and live-pubsub, in the form their type takes
	StateConnection string // statestore connectionString
	CronSchedule    string // reminder-cron schedule
}

// brokerComponents are the components a broker folder provides.
var brokerComponents = []string{"kafka-pubsub", "live-pubsub"}

// addressKey is the metadata item that holds a pub/sub component's address,
// by component type.
var addressKey = map[string]string{
	"pubsub.kafka":    "brokers",
	"pubsub.redis":    "redisHost",
	"pubsub.rabbitmq": "connectionString",
	"pubsub.mqtt3":    "url",
}

// BrokerDir is the folder of broker b's pub/sub components under the
// components folder src.
func BrokerDir(src string, b Broker) string {
	if b == "" || b == Kafka {
		return src
	}
	return filepath.Join(src, "brokers", string(b))
}

// RenderComponents writes the components of src, with the broker's in place
// of the Kafka pair, to dst, replacing the overridden metadata values. It
// fails when an override names a component or key that is not in the files,
// so that a renamed component cannot be silently left at its default
// address, and when the broker's folder lacks one of the pair.
func RenderComponents(src, dst string, o Overrides) error {
	want := map[string]string{} // component -> new value of its overridable item
	if o.BrokerAddress != "" {
		for _, name := range brokerComponents {
			want[name] = o.BrokerAddress
		}
	}
	if o.StateConnection != "" {
		want["statestore"] = o.StateConnection
	}
	if o.CronSchedule != "" {
		want["reminder-cron"] = o.CronSchedule
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	replaced := map[string]bool{}
	brokerDir := BrokerDir(src, o.Broker)
	if brokerDir != src {
		for _, name := range brokerComponents {
			replaced[name] = true
		}
	}
	applied := map[string]bool{}
	provided := map[string]bool{}
	render := func(dir, prefix string, skip map[string]bool) error {
		files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		if err != nil {
			return err
		}
		sort.Strings(files)
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
				if obj["kind"] == "Component" {
					if skip[name] {
						continue
					}
					provided[name] = true
					if value, ok := want[name]; ok {
						if err := setMetadata(obj, overrideKey(obj, name), value); err != nil {
							return fmt.Errorf("%s: component %s: %w", f, name, err)
						}
						applied[name] = true
					}
				}
				out, err := yaml.Marshal(obj)
				if err != nil {
					return err
				}
				docs = append(docs, out)
			}
			if len(docs) == 0 {
				continue
			}
			if err := os.WriteFile(filepath.Join(dst, prefix+filepath.Base(f)), bytes.Join(docs, []byte("---\n")), 0o644); err != nil {
				return err
			}
		}
		return nil
	}
	if err := render(src, "", replaced); err != nil {
		return err
	}
	if brokerDir != src {
		if err := render(brokerDir, string(o.Broker)+"-", nil); err != nil {
			return err
		}
	}
	for _, name := range brokerComponents {
		if !provided[name] {
			return fmt.Errorf("components in %s: no component named %q", brokerDir, name)
		}
	}
	for name := range want {
		if !applied[name] {
			return fmt.Errorf("components in %s: no component named %q to override", src, name)
		}
	}
	return nil
}

// overridable says which metadata item an override changes, for the
// components of components/ itself; a broker folder's pair changes its
// type's address item instead (addressKey). deploy/composecheck reads this
// map from the source: keep it a literal.
var overridable = map[string]string{
	"kafka-pubsub":  "brokers",
	"live-pubsub":   "brokers",
	"statestore":    "connectionString",
	"reminder-cron": "schedule",
}

// overrideKey is the metadata item that an override of component name
// changes: a pub/sub component's address item (by its type), else
// overridable's.
func overrideKey(obj map[string]any, name string) string {
	if slices.Contains(brokerComponents, name) {
		typ, _ := nested(obj, "spec", "type").(string)
		return addressKey[typ]
	}
	return overridable[name]
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
