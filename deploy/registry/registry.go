// Package registry reads the app registry of the system,
// internal/devstack/apps.json (every service of the system, in start order,
// with its ports, environment and pub/sub topics): the one reader of that
// file, for the launcher and for the offline checks of the deployment files.
//
// It is a module of its own, with no dependencies, because the check
// modules (deploy/composecheck, deploy/chartcheck) are modules of their own
// so that the application's go.mod does not depend on compose-go, BuildKit
// or helm. The root module, whose internal/devstack embeds the file, and the
// check modules, which read it from disk (Load), both use it through a
// replace directive, and derive every per-app expectation from it instead
// of keeping a second list by hand. internal/devstack's TestParseAppsRefuses
// feeds it the files of internal/devstack/testdata/apps_refused.json.
//
// The package also holds the few helpers the check modules use to read
// facts from the root module's Go source (ParseGo, StringLit, EnvLiteral).
package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// File is the registry's path, relative to the repository root.
const File = "internal/devstack/apps.json"

// App is one app of the registry.
type App struct {
	ID     string // Dapr app id
	Binary string // ./cmd/<Binary>
	// PublicPort is the port people and API clients reach (HTTP_ADDR) with
	// fixed ports; 0 for an app without one (the consumers).
	PublicPort int
	// AppPort is the app port (APP_ADDR) with fixed ports: what the app's
	// own sidecar calls, and the platform's probes. No Service, Ingress or
	// published port may reach it.
	AppPort     int
	DaprPort    int    // sidecar HTTP port with fixed ports
	MetricsPort int    // the app's metrics port with fixed ports
	NeedsDB     bool   // gets DATABASE_URL
	Description string // one line: what the service does (image label)
	// ExtraEnv is the environment the launcher adds for this app: name ->
	// value, or "" when the value is computed at run time (JWT_SECRET).
	ExtraEnv map[string]string
	// Publishes and Subscribes are the app's topics per pub/sub component:
	// its entries of the component's publishingScopes and
	// subscriptionScopes. A component with an empty list: listed with no
	// topic (it may publish nothing there).
	Publishes  map[string][]string
	Subscribes map[string][]string
}

// Public says whether the app has a public port (HTTP_ADDR).
func (a App) Public() bool { return a.PublicPort != 0 }

// Image is the name of the app's container image: todo-<binary>, except
// for a binary already named todo-* (todo-api, not todo-todo-api).
func (a App) Image() string { return ImageName(a.Binary) }

// ImageName is the image of a service binary (see App.Image).
func ImageName(binary string) string {
	if strings.HasPrefix(binary, "todo-") {
		return binary
	}
	return "todo-" + binary
}

// Reader is an app id that only subscribes: a tool, a dashboard, the
// end-to-end tests. It is in the topic scopes, but no app the launcher
// runs or anything deploys.
type Reader struct {
	ID          string
	Description string
	Subscribes  map[string][]string // pub/sub component -> topics
}

// PubSub is a pub/sub component the apps use.
type PubSub struct {
	// ProtectedTopics may be published and subscribed only by the app ids
	// the scopes list for them.
	ProtectedTopics []string
}

// Registry is the whole file.
type Registry struct {
	Apps    []App
	Readers []Reader
	PubSubs map[string]PubSub // by component name
}

// Scopes are a pub/sub component's topic scoping as apps.json says it:
// app id -> topics, for the publishingScopes and subscriptionScopes
// metadata; Protected for protectedTopics.
type Scopes struct {
	Protected    []string
	Publishing   map[string][]string
	Subscription map[string][]string
	// Users are the app ids that publish or subscribe through it,
	// readers last: who loads the component.
	Users []string
}

// ScopesOf returns component's topic scoping (false for a component the
// registry does not name).
func (r Registry) ScopesOf(component string) (Scopes, bool) {
	ps, ok := r.PubSubs[component]
	if !ok {
		return Scopes{}, false
	}
	s := Scopes{Protected: ps.ProtectedTopics, Publishing: map[string][]string{}, Subscription: map[string][]string{}}
	for _, a := range r.Apps {
		pub, okp := a.Publishes[component]
		sub, oks := a.Subscribes[component]
		if okp {
			s.Publishing[a.ID] = pub
		}
		if oks {
			s.Subscription[a.ID] = sub
		}
		if okp || oks {
			s.Users = append(s.Users, a.ID)
		}
	}
	for _, rd := range r.Readers {
		if sub, ok := rd.Subscribes[component]; ok {
			s.Subscription[rd.ID] = sub
			s.Users = append(s.Users, rd.ID)
		}
	}
	return s, true
}

// EnvLiteral matches "NAME=value" string literals of environment entries.
var EnvLiteral = regexp.MustCompile(`^([A-Z][A-Z0-9_]*)=(.*)$`)

// ParseGo parses one Go file of the repository.
func ParseGo(path string) (*ast.File, error) {
	return parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
}

// StringLit returns the value of a string literal.
func StringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// Apps reads the apps of the registry under the repository root (Load).
func Apps(root string) ([]App, error) {
	r, err := Load(root)
	return r.Apps, err
}

// Load reads and validates the registry under the repository root.
func Load(root string) (Registry, error) {
	raw, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(File)))
	if err != nil {
		return Registry{}, fmt.Errorf("registry: %w", err)
	}
	r, err := Parse(raw)
	if err != nil {
		return Registry{}, fmt.Errorf("%s: %w", File, err)
	}
	return r, nil
}

// The file's shape. Every field is decoded strictly: an unknown one is an
// error rather than something the checks silently miss.
type (
	fileJSON struct {
		Comment []string              `json:"//"`
		PubSubs map[string]pubsubJSON `json:"pubsubs"`
		Apps    []appJSON             `json:"apps"`
		Readers []readerJSON          `json:"readers"`
	}
	pubsubJSON struct {
		ProtectedTopics []string `json:"protectedTopics"`
	}
	appJSON struct {
		ID          string              `json:"id"`
		Binary      string              `json:"binary"`
		Description string              `json:"description"`
		Ports       portsJSON           `json:"ports"`
		Database    bool                `json:"database"`
		Env         map[string]string   `json:"env"`
		ComputedEnv []string            `json:"computedEnv"`
		Publishes   map[string][]string `json:"publishes"`
		Subscribes  map[string][]string `json:"subscribes"`
	}
	portsJSON struct {
		Public  int `json:"public"`
		App     int `json:"app"`
		Dapr    int `json:"dapr"`
		Metrics int `json:"metrics"`
	}
	readerJSON struct {
		ID          string              `json:"id"`
		Description string              `json:"description"`
		Subscribes  map[string][]string `json:"subscribes"`
	}
)

var (
	envName = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
	// A topic or component name: nothing that a scopes value
	// ("app=t1,t2;app2=t3") would split.
	topicName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
)

// Parse decodes and validates the registry: every app with id, binary,
// description, app, sidecar and metrics ports (a public port is optional),
// each port in 1..65535; no id, binary or port twice (public, app, sidecar
// and metrics ports are one space); environment names in upper case,
// static values not empty, a computed name not also static; topics only on
// the declared pub/sub components, each protected topic published by some
// app, and every declared component used; readers only subscribe. A file
// without any app is an error.
func Parse(raw []byte) (Registry, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var f fileJSON
	if err := dec.Decode(&f); err != nil {
		return Registry{}, fmt.Errorf("decode: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Registry{}, errors.New("decode: data after the top-level object")
	}
	if len(f.Apps) == 0 {
		return Registry{}, errors.New("no apps")
	}
	r := Registry{PubSubs: map[string]PubSub{}}
	for name, ps := range f.PubSubs {
		if !topicName.MatchString(name) {
			return Registry{}, fmt.Errorf("pubsubs: %q is not a component name", name)
		}
		if err := checkTopics("pubsubs."+name+".protectedTopics", ps.ProtectedTopics); err != nil {
			return Registry{}, err
		}
		r.PubSubs[name] = PubSub(ps)
	}
	owner := map[string]string{} // "id x", "binary x", "port n" -> app id
	claim := func(id, key string) error {
		if other, dup := owner[key]; dup {
			return fmt.Errorf("%s and %s share %s", other, id, key)
		}
		owner[key] = id
		return nil
	}
	published := map[string]bool{}
	used := map[string]bool{}
	for i, a := range f.Apps {
		where := fmt.Sprintf("apps[%d] %s", i, a.ID)
		if a.ID == "" || a.Binary == "" || a.Description == "" {
			return Registry{}, fmt.Errorf("%s: id, binary and description are required", where)
		}
		ports := []struct {
			name     string
			n        int
			optional bool
		}{{"public", a.Ports.Public, true}, {"app", a.Ports.App, false}, {"dapr", a.Ports.Dapr, false}, {"metrics", a.Ports.Metrics, false}}
		for _, p := range ports {
			switch {
			case p.n == 0 && p.optional:
				continue
			case p.n == 0:
				return Registry{}, fmt.Errorf("%s: no %s port", where, p.name)
			case p.n < 1 || p.n > 65535:
				return Registry{}, fmt.Errorf("%s: %s port %d is not a port (1..65535)", where, p.name, p.n)
			}
			if err := claim(a.ID, "port "+strconv.Itoa(p.n)); err != nil {
				return Registry{}, err
			}
		}
		for _, key := range []string{"id " + a.ID, "binary " + a.Binary} {
			if err := claim(a.ID, key); err != nil {
				return Registry{}, err
			}
		}
		env := map[string]string{}
		for k, v := range a.Env {
			if !envName.MatchString(k) || v == "" {
				return Registry{}, fmt.Errorf("%s: env %s=%q: want an upper-case name and a value", where, k, v)
			}
			env[k] = v
		}
		for _, k := range a.ComputedEnv {
			if !envName.MatchString(k) {
				return Registry{}, fmt.Errorf("%s: computedEnv %q is not an upper-case name", where, k)
			}
			if _, dup := env[k]; dup {
				return Registry{}, fmt.Errorf("%s: %s is both in env and computedEnv (or twice in computedEnv)", where, k)
			}
			env[k] = ""
		}
		for _, side := range []struct {
			what string
			m    map[string][]string
		}{{"publishes", a.Publishes}, {"subscribes", a.Subscribes}} {
			for comp, topics := range side.m {
				if err := checkUse(r, where+": "+side.what, comp, topics); err != nil {
					return Registry{}, err
				}
				used[comp] = true
				if side.what == "publishes" {
					for _, t := range topics {
						published[t] = true
					}
				}
			}
		}
		r.Apps = append(r.Apps, App{ID: a.ID, Binary: a.Binary, PublicPort: a.Ports.Public, AppPort: a.Ports.App,
			DaprPort: a.Ports.Dapr, MetricsPort: a.Ports.Metrics, NeedsDB: a.Database, Description: a.Description,
			ExtraEnv: env, Publishes: orEmpty(a.Publishes), Subscribes: orEmpty(a.Subscribes)})
	}
	for i, rd := range f.Readers {
		where := fmt.Sprintf("readers[%d] %s", i, rd.ID)
		if rd.ID == "" || len(rd.Subscribes) == 0 {
			return Registry{}, fmt.Errorf("%s: id and subscribes are required", where)
		}
		if err := claim(rd.ID, "id "+rd.ID); err != nil {
			return Registry{}, err
		}
		for comp, topics := range rd.Subscribes {
			if err := checkUse(r, where+": subscribes", comp, topics); err != nil {
				return Registry{}, err
			}
			used[comp] = true
		}
		r.Readers = append(r.Readers, Reader(rd))
	}
	for name, ps := range r.PubSubs {
		if !used[name] {
			return Registry{}, fmt.Errorf("pubsubs: no app uses %s", name)
		}
		for _, t := range ps.ProtectedTopics {
			if !published[t] {
				return Registry{}, fmt.Errorf("pubsubs.%s: protected topic %s is published by no app", name, t)
			}
		}
	}
	return r, nil
}

// checkUse checks an app's topics on component comp.
func checkUse(r Registry, where, comp string, topics []string) error {
	if _, ok := r.PubSubs[comp]; !ok {
		return fmt.Errorf("%s: %s is not a component of pubsubs", where, comp)
	}
	return checkTopics(where+"."+comp, topics)
}

// checkTopics refuses empty, malformed and repeated topics.
func checkTopics(where string, topics []string) error {
	for i, t := range topics {
		if !topicName.MatchString(t) {
			return fmt.Errorf("%s: %q is not a topic name", where, t)
		}
		if slices.Contains(topics[:i], t) {
			return fmt.Errorf("%s: topic %s twice", where, t)
		}
	}
	return nil
}

func orEmpty(m map[string][]string) map[string][]string {
	if m == nil {
		return map[string][]string{}
	}
	return m
}
