package chartcheck

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/dapr/dapr/pkg/apis/common"
	componentsv1alpha1 "github.com/dapr/dapr/pkg/apis/components/v1alpha1"
	resiliencyv1alpha1 "github.com/dapr/dapr/pkg/apis/resiliency/v1alpha1"
)

// Metadata whose values may differ between components/ and the chart: the
// addresses, the cron period, and the broker's authentication (with SASL,
// TLS too: a managed Kafka is reached over TLS). Everything else must be
// equal. For kafka-pubsub and live-pubsub, brokerValues says it per broker
// type (dapr.pubsub.type); chartOnly lists the keys that may exist only in
// the chart, set from values (Kafka's SASL keys only with SASL).
var (
	mayDiffer = map[string]map[string]bool{
		"statestore":    {"connectionString": true},
		"reminder-cron": {"schedule": true},
	}
	brokerValues = map[string]map[string]bool{
		"pubsub.kafka": {"brokers": true, "authType": true, "disableTls": true, "saslUsername": true, "saslPassword": true, "saslMechanism": true},
		// The address; the password and TLS come from values only.
		"pubsub.redis": {"redisHost": true, "redisPassword": true, "enableTLS": true},
		// The connection string holds the password: a secretKeyRef.
		"pubsub.rabbitmq": {"connectionString": true},
	}
	chartOnly = map[string]map[string]bool{
		"pubsub.kafka": saslOnly,
		"pubsub.redis": {"redisPassword": true, "enableTLS": true},
	}
	saslOnly = map[string]bool{"saslUsername": true, "saslPassword": true, "saslMechanism": true}
	// pubsubNames are the components dapr.pubsub.type switches.
	pubsubNames = map[string]bool{"kafka-pubsub": true, "live-pubsub": true}
)

// valueKeys are the metadata of component s whose values come from values.
func valueKeys(s *componentsv1alpha1.Component) map[string]bool {
	if pubsubNames[s.Name] {
		return brokerValues[s.Spec.Type]
	}
	return mayDiffer[s.Name]
}

// sourceObjects decodes components/*.yaml strictly, with, for broker
// "redis" or "rabbitmq", kafka-pubsub and live-pubsub of
// components/brokers/<broker>/*.yaml in place of the Kafka pair (as the
// launcher loads them).
func sourceObjects(t *testing.T, broker string) []Object {
	t.Helper()
	objs := decodeFolder(t, componentsDir)
	if broker == "" || broker == "kafka" {
		return objs
	}
	objs = slices.DeleteFunc(objs, func(o Object) bool { return o.Key == "dapr.io/v1alpha1/Component" && pubsubNames[o.Name] })
	pair := decodeFolder(t, filepath.Join(componentsDir, "brokers", broker))
	for _, o := range pair {
		if o.Key != "dapr.io/v1alpha1/Component" || !pubsubNames[o.Name] {
			t.Fatalf("components/brokers/%s: %s: only kafka-pubsub and live-pubsub belong there", broker, o)
		}
	}
	if len(pair) != len(pubsubNames) {
		t.Fatalf("components/brokers/%s has %d components, want kafka-pubsub and live-pubsub", broker, len(pair))
	}
	return append(objs, pair...)
}

// decodeFolder decodes dir/*.yaml strictly.
func decodeFolder(t *testing.T, dir string) []Object {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no YAML files in %s", dir)
	}
	var objs []Object
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		o, err := DecodeAll(raw, f)
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		objs = append(objs, o...)
	}
	return objs
}

func componentsByName(t *testing.T, what string, objs []Object) map[string]*componentsv1alpha1.Component {
	t.Helper()
	out := map[string]*componentsv1alpha1.Component{}
	for _, c := range Of[componentsv1alpha1.Component](objs) {
		if _, dup := out[c.Name]; dup {
			t.Errorf("%s: component %s defined twice", what, c.Name)
		}
		out[c.Name] = c
	}
	return out
}

type mdEntry struct {
	secret bool   // a secretKeyRef
	value  string // the plain value
}

func metadataMap(t reporter, where string, c *componentsv1alpha1.Component) map[string]mdEntry {
	t.Helper()
	out := map[string]mdEntry{}
	for _, md := range c.Spec.Metadata {
		if _, dup := out[md.Name]; dup {
			t.Errorf("%s: metadata %s twice", where, md.Name)
		}
		out[md.Name] = mdEntry{secret: md.SecretKeyRef.Name != "", value: md.Value.String()}
	}
	return out
}

func TestChartComponentsMatchComponentsFolder(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			srcComps := componentsByName(t, "components/", sourceObjects(t, v.broker))
			chartComps := componentsByName(t, "chart", render(t, v))
			for name := range chartComps {
				if srcComps[name] == nil {
					t.Errorf("the chart renders component %s, which components/ does not have", name)
				}
			}
			for name, s := range srcComps {
				c := chartComps[name]
				if c == nil {
					t.Errorf("component %s of components/ is not in the chart", name)
					continue
				}
				compareComponent(t, v, s, c)
			}
		})
	}
}

func compareComponent(t reporter, v variant, s, c *componentsv1alpha1.Component) {
	t.Helper()
	name := s.Name
	if s.Spec.Type != c.Spec.Type || s.Spec.Version != c.Spec.Version {
		t.Errorf("%s: type %s/%s in the chart, %s/%s in components/", name, c.Spec.Type, c.Spec.Version, s.Spec.Type, s.Spec.Version)
	}
	if s.Spec.IgnoreErrors != c.Spec.IgnoreErrors || s.Spec.InitTimeout != c.Spec.InitTimeout {
		t.Errorf("%s: ignoreErrors/initTimeout differ", name)
	}
	// Scopes: equal where components/ scopes the component. Where it does
	// not (every app may load it, e.g. the tests' event-viewer), the chart
	// narrows it to the apps that use it: exactly componentScopes, plus the
	// extra ids the variant asks for.
	switch {
	case len(s.Scopes) > 0:
		if !slices.Equal(s.Scopes, c.Scopes) {
			t.Errorf("%s: scopes %v in the chart, %v in components/", name, c.Scopes, s.Scopes)
		}
	default:
		want := componentScopes(name)
		if name == "kafka-pubsub" {
			want = append(want, v.pubsubExtraScopes...)
		}
		if len(want) == 0 || !slices.Equal(c.Scopes, want) {
			t.Errorf("%s: unscoped in components/; the chart must scope it to %v, has %v", name, want, c.Scopes)
		}
	}

	sm := metadataMap(t, "components/ "+name, s)
	cm := metadataMap(t, "chart "+name, c)
	sasl := cm["authType"].value == "password"
	for k, se := range sm {
		ce, ok := cm[k]
		if !ok {
			t.Errorf("%s: metadata %s of components/ is missing in the chart", name, k)
			continue
		}
		if valueKeys(s)[k] {
			continue
		}
		if scopeKeys[k] && se.secret == ce.secret {
			if ss, cs := scopesOf(se.value), scopesOf(ce.value); !reflect.DeepEqual(ss, cs) {
				t.Errorf("%s: metadata %s = %s in the chart, %s in components/ (as app -> topics: %v and %v)", name, k, show(ce), show(se), cs, ss)
			}
			continue
		}
		if se.secret != ce.secret || se.value != ce.value {
			t.Errorf("%s: metadata %s = %s in the chart, %s in components/", name, k, show(ce), show(se))
		}
	}
	for k := range cm {
		if _, ok := sm[k]; ok {
			continue
		}
		if pubsubNames[name] && chartOnly[s.Spec.Type][k] && (s.Spec.Type != "pubsub.kafka" || sasl) {
			continue
		}
		t.Errorf("%s: metadata %s is in the chart only", name, k)
	}
	// Secrets come from a Secret; a broker's TLS switch only turns TLS on.
	if pubsubNames[name] {
		for _, k := range []string{"redisPassword", "connectionString"} {
			if ce, ok := cm[k]; ok && !ce.secret {
				t.Errorf("%s: metadata %s must be a secretKeyRef", name, k)
			}
		}
		if ce, ok := cm["enableTLS"]; ok && s.Spec.Type == "pubsub.redis" && ce.value != "true" {
			t.Errorf("%s: metadata enableTLS = %s: the chart sets it only to turn TLS on", name, show(ce))
		}
	}
	if sasl && s.Spec.Type == "pubsub.kafka" {
		for k := range saslOnly {
			if _, ok := cm[k]; !ok {
				t.Errorf("%s: authType password without %s", name, k)
			}
		}
		if !cm["saslPassword"].secret {
			t.Errorf("%s: saslPassword must be a secretKeyRef", name)
		}
	}
	// Without SASL (the in-cluster broker) only the addresses and the
	// period may differ.
	if !sasl && s.Spec.Type == "pubsub.kafka" {
		for _, k := range []string{"authType", "disableTls"} {
			if se, ok := sm[k]; ok && cm[k] != se {
				t.Errorf("%s: metadata %s = %s in the chart without SASL, %s in components/", name, k, show(cm[k]), show(se))
			}
		}
	}
	// Topics named in the scoping metadata, for a readable message when the
	// values above differ.
	for _, k := range []string{"protectedTopics", "publishingScopes", "subscriptionScopes"} {
		if st, ct := topics(sm[k].value), topics(cm[k].value); !slices.Equal(st, ct) {
			t.Errorf("%s: %s names topics %v in the chart, %v in components/", name, k, ct, st)
		}
	}
}

// scopeKeys are the topic scoping metadata of a pubsub component. They are
// compared as what Dapr reads from them (scopesOf), not as strings: the
// chart builds them from the apps map, in app id order, where
// components/pubsub.yaml lists the apps in the registry's order.
var scopeKeys = map[string]bool{"protectedTopics": true, "publishingScopes": true, "subscriptionScopes": true}

// scopesOf parses a topic scoping value as Dapr does: "app=t1,t2;app2=t3"
// into app -> sorted topics, or a topic list "t1,t2" into "" -> sorted
// topics. An app listed with no topic ("app=": it may publish nothing) has
// an empty list; an app listed twice keeps both lists (so that it differs).
func scopesOf(v string) map[string][]string {
	out := map[string][]string{}
	for _, part := range strings.Split(v, ";") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		app, list, ok := strings.Cut(part, "=")
		if !ok {
			app, list = "", part
		}
		if _, seen := out[strings.TrimSpace(app)]; !seen {
			out[strings.TrimSpace(app)] = []string{}
		}
		for _, tpc := range strings.Split(list, ",") {
			if tpc = strings.TrimSpace(tpc); tpc != "" {
				out[strings.TrimSpace(app)] = append(out[strings.TrimSpace(app)], tpc)
			}
		}
	}
	for _, l := range out {
		sort.Strings(l)
	}
	return out
}

func show(e mdEntry) string {
	if e.secret {
		return "secretKeyRef"
	}
	return "\"" + e.value + "\""
}

// topics lists the topic names in protectedTopics ("a,b") or a scopes value
// ("app=a,b;app2=c").
func topics(v string) []string {
	set := map[string]bool{}
	for _, part := range strings.Split(v, ";") {
		if i := strings.Index(part, "="); i >= 0 {
			part = part[i+1:]
		}
		for _, tpc := range strings.Split(part, ",") {
			if tpc = strings.TrimSpace(tpc); tpc != "" {
				set[tpc] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestChartResiliencyEqualsComponentsFolder(t *testing.T) {
	src := Of[resiliencyv1alpha1.Resiliency](sourceObjects(t, ""))
	if len(src) != 1 {
		t.Fatalf("components/ has %d Resiliency objects, want 1", len(src))
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			got := Of[resiliencyv1alpha1.Resiliency](render(t, v))
			if len(got) != 1 {
				t.Fatalf("the chart renders %d Resiliency objects, want 1", len(got))
			}
			s, c := src[0], got[0]
			if s.Name != c.Name {
				t.Errorf("Resiliency name %s in the chart, %s in components/", c.Name, s.Name)
			}
			if !slices.Equal(s.Scopes, c.Scopes) {
				t.Errorf("Resiliency scopes %v in the chart, %v in components/", c.Scopes, s.Scopes)
			}
			if !reflect.DeepEqual(s.Spec, c.Spec) {
				sj, _ := json.MarshalIndent(s.Spec, "", "  ")
				cj, _ := json.MarshalIndent(c.Spec, "", "  ")
				t.Errorf("Resiliency spec differs.\nchart:\n%s\ncomponents/:\n%s", cj, sj)
			}
		})
	}
}

// The drift test must notice drift: a changed value, a missing key and an
// extra key are each reported.
func TestDriftIsDetected(t *testing.T) {
	src := componentsByName(t, "components/", sourceObjects(t, ""))
	chart := componentsByName(t, "chart", render(t, variants[0]))
	mutations := map[string]func(c *componentsv1alpha1.Component){
		"changed initialOffset": func(c *componentsv1alpha1.Component) {
			for i := range c.Spec.Metadata {
				if c.Spec.Metadata[i].Name == "initialOffset" {
					c.Spec.Metadata[i].SetValue([]byte(`"newest"`))
				}
			}
		},
		"missing consumerGroup": func(c *componentsv1alpha1.Component) {
			c.Spec.Metadata = slices.DeleteFunc(c.Spec.Metadata, func(m commonNVP) bool { return m.Name == "consumerGroup" })
		},
		"extra key": func(c *componentsv1alpha1.Component) {
			c.Spec.Metadata = append(c.Spec.Metadata, commonNVP{Name: "consumeRetryEnabled"})
		},
		"other scopes": func(c *componentsv1alpha1.Component) { c.Scopes = []string{"todo-api"} },
		"an app's subscription scope missing": func(c *componentsv1alpha1.Component) {
			for i := range c.Spec.Metadata {
				if c.Spec.Metadata[i].Name == "subscriptionScopes" {
					v := strings.Replace(c.Spec.Metadata[i].Value.String(), "recurring-service=task-events;", "", 1)
					if v == c.Spec.Metadata[i].Value.String() {
						panic("recurring-service's scope not found in " + v)
					}
					c.Spec.Metadata[i].SetValue([]byte(strconv.Quote(v)))
				}
			}
		},
		"a topic moved between apps": func(c *componentsv1alpha1.Component) {
			for i := range c.Spec.Metadata {
				if c.Spec.Metadata[i].Name == "publishingScopes" {
					c.Spec.Metadata[i].SetValue([]byte(`"todo-api=reminders;reminder-service=task-events"`))
				}
			}
		},
		"an app allowed to publish nothing": func(c *componentsv1alpha1.Component) {
			for i := range c.Spec.Metadata {
				if c.Spec.Metadata[i].Name == "publishingScopes" {
					c.Spec.Metadata[i].SetValue([]byte(`"todo-api=task-events;reminder-service=reminders;audit-service="`))
				}
			}
		},
		"other type": func(c *componentsv1alpha1.Component) { c.Spec.Type = "pubsub.redis" },
	}
	for what, mutate := range mutations {
		t.Run(what, func(t *testing.T) {
			c := chart["kafka-pubsub"].DeepCopy()
			mutate(c)
			r := &recorder{}
			compareComponent(r, variants[0], src["kafka-pubsub"], c)
			if len(r.msgs) == 0 {
				t.Errorf("drift %q went unnoticed", what)
			}
			t.Logf("reported: %s", strings.Join(r.msgs, "; "))
		})
	}
}

// On every broker of dapr.pubsub.type, the comparison of kafka-pubsub and
// live-pubsub with their files must notice any setting of the files missing
// in the chart or set otherwise, a key the files lack, another type and
// other scopes; and the render as it is must pass.
func TestBrokerDriftIsDetected(t *testing.T) {
	seen := map[string]bool{}
	for _, v := range variants {
		if seen[v.brokerType()] {
			continue
		}
		seen[v.brokerType()] = true
		t.Run(v.brokerType(), func(t *testing.T) {
			src := componentsByName(t, "components/", sourceObjects(t, v.broker))
			chart := componentsByName(t, "chart", render(t, v))
			for name := range pubsubNames {
				s, c := src[name], chart[name]
				if s == nil || c == nil {
					t.Fatalf("%s: missing in components/ or in the chart", name)
				}
				if want := "pubsub." + v.brokerType(); s.Spec.Type != want {
					t.Fatalf("%s of components/ for %s is %s, want %s", name, v.brokerType(), s.Spec.Type, want)
				}
				mutations := map[string]func(c *componentsv1alpha1.Component){
					"other type":   func(c *componentsv1alpha1.Component) { c.Spec.Type = "pubsub.mqtt3" },
					"other scopes": func(c *componentsv1alpha1.Component) { c.Scopes = []string{"todo-api", "web-app"} },
					"extra key": func(c *componentsv1alpha1.Component) {
						c.Spec.Metadata = append(c.Spec.Metadata, commonNVP{Name: "concurrencyMode"})
					},
				}
				for _, md := range s.Spec.Metadata {
					key := md.Name
					mutations["missing "+key] = func(c *componentsv1alpha1.Component) {
						c.Spec.Metadata = slices.DeleteFunc(c.Spec.Metadata, func(m commonNVP) bool { return m.Name == key })
					}
					if valueKeys(s)[key] {
						continue
					}
					mutations["changed "+key] = func(c *componentsv1alpha1.Component) {
						for i := range c.Spec.Metadata {
							if c.Spec.Metadata[i].Name == key {
								c.Spec.Metadata[i].SetValue([]byte(`"drifted"`))
							}
						}
					}
				}
				for what, mutate := range mutations {
					cc := c.DeepCopy()
					mutate(cc)
					r := &recorder{}
					compareComponent(r, v, s, cc)
					if len(r.msgs) == 0 {
						t.Errorf("%s: drift %q went unnoticed", name, what)
					}
				}
				r := &recorder{}
				compareComponent(r, v, s, c.DeepCopy())
				if len(r.msgs) > 0 {
					t.Errorf("%s: the render as it is fails: %s", name, strings.Join(r.msgs, "; "))
				}
				t.Logf("%s: %d drifts noticed", name, len(mutations))
			}
		})
	}
}

type commonNVP = common.NameValuePair

// reporter is the part of testing.T the comparisons use, so that a test can
// check that they do report drift.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
}

type recorder struct{ msgs []string }

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, args ...any) {
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}
