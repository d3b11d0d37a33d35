package composecheck

// What the checks read from the root module. This module does not build
// against the root module's packages, so the few facts needed (the apps,
// through deploy/registry; the launcher's daprd flags and app environment,
// the pinned Dapr version) are parsed from the source files, and every check
// compares against them instead of a second hard-coded list.

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
	if _, err := os.Stat(filepath.Join(dir, "internal", "devstack", "system.go")); err != nil {
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

// app is one entry of internal/devstack.Apps (deploy/registry).
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

// devstackApps parses the Apps table of internal/devstack/system.go: the
// services the local launcher and the end-to-end tests run.
func devstackApps(t testing.TB) []app {
	t.Helper()
	apps, err := registry.Apps(root(t))
	if err != nil {
		t.Fatal(err)
	}
	return apps
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

// TestRegistryRefusesBadTables: deploy/registry reads only what it fully
// understands; anything else is an error rather than an app silently
// missing from the checks and the generated files.
func TestRegistryRefusesBadTables(t *testing.T) {
	entry := `{ID: "a", Binary: "a", PublicPort: 8080, AppPort: 8090, DaprPort: 3500, MetricsPort: 9464}`
	cases := map[string]string{
		"no Apps table":     `var Other = []App{` + entry + `}`,
		"empty table":       `var Apps = []App{}`,
		"computed port":     `var Apps = []App{{ID: "a", Binary: "a", AppPort: base + 1, DaprPort: 3500}}`,
		"positional fields": `var Apps = []App{{"a", "a", 8080, 8090, 3500, 9464, false, "", nil}}`,
		"unknown field":     `var Apps = []App{{ID: "a", Binary: "a", AppPort: 8090, DaprPort: 3500, Replicas: 2}}`,
		"the old Port":      `var Apps = []App{{ID: "a", Binary: "a", Port: 8080, DaprPort: 3500}}`,
		"no binary":         `var Apps = []App{{ID: "a", AppPort: 8090, DaprPort: 3500}}`,
		"no app port":       `var Apps = []App{{ID: "a", Binary: "a", PublicPort: 8080, DaprPort: 3500}}`,
		"not a port":        `var Apps = []App{{ID: "a", Binary: "a", AppPort: 80900, DaprPort: 3500}}`,
		"duplicate port":    `var Apps = []App{` + entry + `, {ID: "b", Binary: "b", AppPort: 8080, DaprPort: 3501}}`,
		"public = app port": `var Apps = []App{{ID: "a", Binary: "a", PublicPort: 8080, AppPort: 8080, DaprPort: 3500}}`,
		"app = other's app": `var Apps = []App{` + entry + `, {ID: "b", Binary: "b", AppPort: 8090, DaprPort: 3501}}`,
		"duplicate id":      `var Apps = []App{` + entry + `, {ID: "a", Binary: "b", AppPort: 8091, DaprPort: 3501}}`,
	}
	for what, src := range cases {
		t.Run(what, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, filepath.FromSlash(registry.File))
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte("package devstack\n\n"+src+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if apps, err := registry.Apps(dir); err == nil {
				t.Fatalf("accepted, read %+v", apps)
			} else {
				t.Logf("refused: %v", err)
			}
		})
	}
}
