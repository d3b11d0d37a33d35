package devstack

import (
	_ "embed"
	"fmt"
	"slices"
	"strconv"

	"github.com/evolution-todo/todo/deploy/registry"
)

// App is one service of the system and how to run it: an entry of
// apps.json, read and checked by deploy/registry, the one reader of the
// file (the offline checks of the deployment files use it too).
type App = registry.App

// appsJSON is the registry of the system's apps. The offline checks and
// generators of the deployment files read the same file: dapr.yaml,
// deploy/compose and the Dockerfile are generated from it, the Helm
// chart's apps and every pub/sub component's topic scopes are checked
// against it (docs/contributing.md, "Add a consumer app").
//
//go:embed apps.json
var appsJSON []byte

// Apps are the services, in start order: the registry of the system's apps
// (apps.json).
var Apps = mustParseApps(appsJSON)

func mustParseApps(raw []byte) []App {
	apps, err := parseApps(raw, computedEnv)
	if err != nil {
		// The file is embedded: only a build with a broken apps.json gets
		// here, and every test of this package fails at once.
		panic("devstack: apps.json: " + err.Error())
	}
	return apps
}

// parseApps reads apps.json (registry.Parse) and checks that the launcher
// computes every variable an app's computedEnv names.
func parseApps(raw []byte, computed map[string]func(*System, *Instance) string) ([]App, error) {
	r, err := registry.Parse(raw)
	if err != nil {
		return nil, err
	}
	for _, a := range r.Apps {
		for k, v := range a.ExtraEnv {
			if v == "" && computed[k] == nil {
				return nil, fmt.Errorf("app %s: computedEnv %s: the launcher computes no such variable (devstack.computedEnv)", a.ID, k)
			}
		}
	}
	return r.Apps, nil
}

// extraEnv is the environment inst's app gets beyond what every app gets
// (apps.json's env and computedEnv), sorted by name.
func (s *System) extraEnv(inst *Instance) []string {
	env := make([]string, 0, len(inst.App.ExtraEnv))
	for k, v := range inst.App.ExtraEnv {
		if v == "" {
			v = computedEnv[k](s, inst)
		}
		env = append(env, k+"="+v)
	}
	slices.Sort(env)
	return env
}

// computedEnv computes the variables apps.json names in computedEnv: what
// depends on the running system (its secrets, its URLs, its options).
var computedEnv = map[string]func(sys *System, inst *Instance) string{
	"JWT_SECRET":     func(sys *System, _ *Instance) string { return sys.Cfg.JWTSecret },
	"TODO_API_URL":   func(sys *System, _ *Instance) string { return sys.APIURL() },
	"PUBLIC_URL":     func(_ *System, inst *Instance) string { return inst.URL() },
	"DEV_SIGNIN":     func(sys *System, _ *Instance) string { return strconv.FormatBool(sys.Cfg.DevSignIn) },
	"COOKIE_KEYS":    func(sys *System, _ *Instance) string { return sys.Cfg.CookieKeys },
	"API_TOKEN_KEYS": func(sys *System, _ *Instance) string { return sys.Cfg.TokenKeys },
}

// AppByID returns the app with Dapr app id id.
func AppByID(id string) (App, bool) {
	for _, a := range Apps {
		if a.ID == id {
			return a, true
		}
	}
	return App{}, false
}

// Binaries of this repository that the stack runs: every app's, then the
// dev broker.
var Binaries = append(appBinaries(), "devbroker")

func appBinaries() []string {
	bins := make([]string, 0, len(Apps)+1)
	for _, a := range Apps {
		bins = append(bins, a.Binary)
	}
	return bins
}
