package composecheck

// What the checks read from the root module. Its internal packages cannot be
// imported from this module, so the few facts needed (the apps, the
// launcher's daprd flags and app environment, the pinned Dapr version) are
// parsed from the source files, and every check compares against them instead
// of a second hard-coded list.

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
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

// app is one entry of internal/devstack.Apps.
type app struct {
	ID       string
	Binary   string
	Port     int
	DaprPort int
	// MetricsPort is the app's metrics port when the launcher runs it on
	// fixed ports (0 when devstack does not define one).
	MetricsPort int
	NeedsDB     bool
	// ExtraEnv are the variables ExtraEnvFor adds: name -> value, or "" when
	// the value is computed (JWT_SECRET).
	ExtraEnv map[string]string
}

// envLiteral matches "NAME=value" string literals of environment entries.
var envLiteral = regexp.MustCompile(`^([A-Z][A-Z0-9_]*)=(.*)$`)

func parseGo(t testing.TB, path string) *ast.File {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// devstackApps parses the Apps table of internal/devstack/system.go: the
// services the local launcher and the end-to-end tests run.
func devstackApps(t testing.TB) []app {
	t.Helper()
	f := parseGo(t, filepath.Join(root(t), "internal", "devstack", "system.go"))
	var apps []app
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || vs.Names[0].Name != "Apps" || len(vs.Values) != 1 {
			return true
		}
		list, ok := vs.Values[0].(*ast.CompositeLit)
		if !ok {
			t.Fatal("devstack.Apps is not a composite literal")
		}
		for _, el := range list.Elts {
			lit, ok := el.(*ast.CompositeLit)
			if !ok {
				t.Fatal("devstack.Apps: an element is not a composite literal")
			}
			a := app{ExtraEnv: map[string]string{}}
			for _, kv := range lit.Elts {
				kv, ok := kv.(*ast.KeyValueExpr)
				if !ok {
					t.Fatal("devstack.Apps: an element uses positional fields")
				}
				key := kv.Key.(*ast.Ident).Name
				switch key {
				case "ID", "Binary":
					s, ok := stringLit(kv.Value)
					if !ok {
						t.Fatalf("devstack.Apps: %s is not a string literal", key)
					}
					if key == "ID" {
						a.ID = s
					} else {
						a.Binary = s
					}
				case "Port", "DaprPort", "MetricsPort":
					lit, ok := kv.Value.(*ast.BasicLit)
					if !ok || lit.Kind != token.INT {
						t.Fatalf("devstack.Apps: %s is not an integer literal", key)
					}
					n, _ := strconv.Atoi(lit.Value)
					switch key {
					case "Port":
						a.Port = n
					case "DaprPort":
						a.DaprPort = n
					default:
						a.MetricsPort = n
					}
				case "NeedsDB":
					a.NeedsDB = kv.Value.(*ast.Ident).Name == "true"
				case "ExtraEnvFor":
					ast.Inspect(kv.Value, func(n ast.Node) bool {
						if e, ok := n.(ast.Expr); ok {
							if s, ok := stringLit(e); ok {
								if m := envLiteral.FindStringSubmatch(s); m != nil {
									a.ExtraEnv[m[1]] = m[2]
								}
							}
						}
						return true
					})
				}
			}
			if a.ID == "" || a.Binary == "" || a.Port == 0 || a.DaprPort == 0 {
				t.Fatalf("devstack.Apps: incomplete entry %+v", a)
			}
			apps = append(apps, a)
		}
		return false
	})
	if len(apps) == 0 {
		t.Fatal("devstack.Apps not found in internal/devstack/system.go")
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
func imageName(binary string) string {
	if strings.HasPrefix(binary, "todo-") {
		return binary
	}
	return "todo-" + binary
}

func TestRepoFactsParse(t *testing.T) {
	apps := devstackApps(t)
	if len(apps) != 5 {
		t.Errorf("devstack.Apps has %d apps, the checks expect the five services", len(apps))
	}
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
