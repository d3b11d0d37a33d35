package composecheck

// What the checks read from the root module. This module does not build
// against the root module's packages, so the few facts needed are read from
// its files: the apps from internal/devstack/apps.json (through
// deploy/registry); the launcher's daprd flags and app environment parsed
// from its Go source; the pinned Dapr version from the build script. Every
// check compares against them instead of a second hard-coded list.

import (
	"go/ast"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/evolution-todo/todo/deploy/registry"
)

// root is the repository root, from this package's folder.
func root(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(registry.File))); err != nil {
		t.Fatalf("repository root not found at %s: %v", dir, err)
	}
	return dir
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// app is one app of internal/devstack/apps.json (deploy/registry).
type app = registry.App

// envLiteral matches "NAME=value" string literals of environment entries.
var envLiteral = registry.EnvLiteral

func parseGo(t testing.TB, path string) *ast.File {
	t.Helper()
	f, err := registry.ParseGo(path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func stringLit(e ast.Expr) (string, bool) { return registry.StringLit(e) }

// devstackApps reads the apps of internal/devstack/apps.json: the services
// the local launcher and the end-to-end tests run.
func devstackApps(t testing.TB) []app {
	t.Helper()
	return devstackRegistry(t).Apps
}

// devstackRegistry reads internal/devstack/apps.json whole: the apps, the
// read-only app ids and the pub/sub components.
func devstackRegistry(t testing.TB) registry.Registry {
	t.Helper()
	reg, err := registry.Load(root(t))
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// launcherAppEnv returns the variables StartAppProcess gives every app
// (internal/devstack/system.go), without their values.
func launcherAppEnv(t testing.TB) []string {
	t.Helper()
	f := parseGo(t, filepath.Join(root(t), "internal", "devstack", "system.go"))
	var keys []string
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Name.Name != "StartAppProcess" {
			continue
		}
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			if e, ok := n.(ast.Expr); ok {
				if s, ok := stringLit(e); ok {
					if m := envLiteral.FindStringSubmatch(s); m != nil {
						keys = append(keys, m[1])
					}
				}
			}
			return true
		})
	}
	if len(keys) == 0 {
		t.Fatal("no environment found in devstack's StartAppProcess")
	}
	return keys
}

// launcherHealthPath is the app health check path the launcher gives every
// sidecar (sc.AppHealthPath = "..." in internal/devstack/system.go).
func launcherHealthPath(t testing.TB) string {
	t.Helper()
	f := parseGo(t, filepath.Join(root(t), "internal", "devstack", "system.go"))
	path := ""
	ast.Inspect(f, func(n ast.Node) bool {
		as, ok := n.(*ast.AssignStmt)
		if !ok || len(as.Lhs) != 1 || len(as.Rhs) != 1 {
			return true
		}
		if sel, ok := as.Lhs[0].(*ast.SelectorExpr); ok && sel.Sel.Name == "AppHealthPath" {
			if s, ok := stringLit(as.Rhs[0]); ok {
				path = s
			}
		}
		return true
	})
	if path == "" {
		t.Fatal("AppHealthPath assignment not found in internal/devstack/system.go")
	}
	return path
}

// variable marks a launcher flag whose value is computed (ports, app id).
const variable = "<computed>"

// launcherDaprdFlags parses Sidecar.Args in internal/devstack/daprd.go:
// flag -> constant value, variable for a computed value, "" for a boolean
// flag.
func launcherDaprdFlags(t testing.TB) map[string]string {
	t.Helper()
	f := parseGo(t, filepath.Join(root(t), "internal", "devstack", "daprd.go"))
	flags := map[string]string{}
	scan := func(list []ast.Expr) {
		for i, e := range list {
			s, ok := stringLit(e)
			if !ok || !strings.HasPrefix(s, "--") {
				continue
			}
			val := ""
			if i+1 < len(list) {
				if next, ok := stringLit(list[i+1]); ok {
					if !strings.HasPrefix(next, "--") {
						val = next
					}
				} else {
					val = variable
				}
			}
			flags[s] = val
		}
	}
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Name.Name != "Args" || fn.Recv == nil {
			continue
		}
		ast.Inspect(fn.Body, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CompositeLit:
				scan(n.Elts)
			case *ast.CallExpr:
				if id, ok := n.Fun.(*ast.Ident); ok && id.Name == "append" && len(n.Args) > 1 {
					scan(n.Args[1:])
				}
			}
			return true
		})
	}
	if len(flags) < 5 {
		t.Fatalf("daprd flags not found in internal/devstack/daprd.go (got %v)", flags)
	}
	return flags
}

// pinnedDaprVersion is the default DAPR_VERSION of scripts/build-daprd.sh,
// the Dapr runtime version the repository pins.
func pinnedDaprVersion(t testing.TB) string {
	t.Helper()
	src := readFile(t, filepath.Join(root(t), "scripts", "build-daprd.sh"))
	m := regexp.MustCompile(`\$\{DAPR_VERSION:-([0-9][^}\s]*)\}`).FindSubmatch(src)
	if m == nil {
		t.Fatal("no ${DAPR_VERSION:-x.y.z} default in scripts/build-daprd.sh")
	}
	return string(m[1])
}

// goMinor is the root module's Go version as major.minor ("1.26").
func goMinor(t testing.TB) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(readFile(t, filepath.Join(root(t), "go.mod")))
	if m == nil {
		t.Fatal("no go directive in go.mod")
	}
	return string(m[1])
}

// imageName is the image of a service binary: todo-<binary>, except
// todo-api (not todo-todo-api).
func imageName(binary string) string { return registry.ImageName(binary) }

func TestRepoFactsParse(t *testing.T) {
	apps := devstackApps(t)
	for _, a := range apps {
		if _, err := os.Stat(filepath.Join(root(t), "cmd", a.Binary)); err != nil {
			t.Errorf("app %s: cmd/%s: %v", a.ID, a.Binary, err)
		}
	}
	t.Logf("apps: %+v", apps)
	t.Logf("launcher app env: %v", launcherAppEnv(t))
	t.Logf("launcher daprd flags: %v", launcherDaprdFlags(t))
	t.Logf("health path %s, Dapr %s, Go %s", launcherHealthPath(t), pinnedDaprVersion(t), goMinor(t))
}

// The registry as it is: what the checks and generators rely on.
func TestRegistryReadsAppsJSON(t *testing.T) {
	reg := devstackRegistry(t)
	web := byIDOf(reg.Apps)["web-app"]
	if web.ExtraEnv["PUBLIC_URL"] != "" || web.PublicPort == 0 {
		t.Errorf("web-app: %+v; want PUBLIC_URL computed (\"\") and a public port", web)
	}
	api := byIDOf(reg.Apps)["todo-api"]
	if api.ExtraEnv["OUTBOX_POLL_INTERVAL"] != "2s" || api.ExtraEnv["JWT_SECRET"] != "" || !api.NeedsDB {
		t.Errorf("todo-api: %+v", api)
	}
	if s, ok := reg.ScopesOf("live-pubsub"); !ok || s.Publishing["web-app"] == nil || len(s.Publishing["web-app"]) != 0 {
		t.Errorf("live-pubsub: %+v; want web-app listed in publishingScopes with no topic", s)
	}
}
