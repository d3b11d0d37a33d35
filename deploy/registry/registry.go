// Package registry reads the app registry of the root module (the Apps table
// of internal/devstack/system.go: every service of the system, in start
// order) from its source, for the offline checks of the deployment files.
//
// The check modules (deploy/composecheck, deploy/chartcheck) are modules of
// their own so that the application's go.mod does not depend on compose-go,
// BuildKit or helm; they cannot build against the root module's packages, so
// they read the registry as a file, through this package, and derive every
// per-app expectation from it instead of keeping a second list by hand.
package registry

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// File is the registry's path, relative to the repository root.
const File = "internal/devstack/system.go"

// App is one entry of devstack.Apps.
type App struct {
	ID     string // Dapr app id
	Binary string // ./cmd/<Binary>
	// PublicPort is the port people and API clients reach (HTTP_ADDR) with
	// fixed ports; 0 for an app without one (the consumers).
	PublicPort int
	// AppPort is the app port (APP_ADDR) with fixed ports: what the app's
	// own sidecar calls, and the platform's probes. No Service, Ingress or
	// published port may reach it.
	AppPort  int
	DaprPort int // sidecar HTTP port with fixed ports
	// MetricsPort is the app's metrics port with fixed ports (0 when the
	// entry does not set one).
	MetricsPort int
	NeedsDB     bool   // gets DATABASE_URL
	Description string // one line: what the service does (image label)
	// ExtraEnv are the variables ExtraEnvFor adds: name -> value, or "" when
	// the value is computed at run time (JWT_SECRET).
	ExtraEnv map[string]string
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

// Apps parses the Apps table of internal/devstack/system.go under the
// repository root: every entry, in order. Every field it reads must be a
// literal; an entry without id, binary, app port or sidecar port, a
// duplicate id, binary or port (public, app, sidecar and metrics ports are
// one space: no two may be equal), or a registry without any app is an
// error.
func Apps(root string) ([]App, error) {
	path := filepath.Join(root, filepath.FromSlash(File))
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	f, err := ParseGo(path)
	if err != nil {
		return nil, err
	}
	var (
		apps    []App
		perr    error
		matches int
	)
	fail := func(format string, args ...any) {
		if perr == nil {
			perr = fmt.Errorf("%s: devstack.Apps: "+format, append([]any{File}, args...)...)
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || len(vs.Names) != 1 || vs.Names[0].Name != "Apps" || len(vs.Values) != 1 {
			return true
		}
		matches++
		list, ok := vs.Values[0].(*ast.CompositeLit)
		if !ok {
			fail("not a composite literal")
			return false
		}
		for _, el := range list.Elts {
			a, ok := parseApp(el, fail)
			if ok {
				apps = append(apps, a)
			}
		}
		return false
	})
	if perr != nil {
		return nil, perr
	}
	if matches != 1 || len(apps) == 0 {
		return nil, fmt.Errorf("%s: no devstack.Apps table with at least one app", File)
	}
	seen := map[string]string{}
	for _, a := range apps {
		for _, key := range []string{"id " + a.ID, "binary " + a.Binary, "port " + strconv.Itoa(a.PublicPort), "port " + strconv.Itoa(a.AppPort), "port " + strconv.Itoa(a.DaprPort), "port " + strconv.Itoa(a.MetricsPort)} {
			if key == "port 0" {
				continue
			}
			if other, dup := seen[key]; dup {
				return nil, fmt.Errorf("%s: devstack.Apps: %s and %s share %s", File, other, a.ID, key)
			}
			seen[key] = a.ID
		}
	}
	return apps, nil
}

func parseApp(el ast.Expr, fail func(string, ...any)) (App, bool) {
	lit, ok := el.(*ast.CompositeLit)
	if !ok {
		fail("an element is not a composite literal")
		return App{}, false
	}
	a := App{ExtraEnv: map[string]string{}}
	for _, kv := range lit.Elts {
		kv, ok := kv.(*ast.KeyValueExpr)
		if !ok {
			fail("an element uses positional fields")
			return App{}, false
		}
		key := kv.Key.(*ast.Ident).Name
		switch key {
		case "ID", "Binary", "Description":
			s, ok := StringLit(kv.Value)
			if !ok {
				fail("%s is not a string literal", key)
				return App{}, false
			}
			switch key {
			case "ID":
				a.ID = s
			case "Binary":
				a.Binary = s
			default:
				a.Description = s
			}
		case "PublicPort", "AppPort", "DaprPort", "MetricsPort":
			lit, ok := kv.Value.(*ast.BasicLit)
			if !ok || lit.Kind != token.INT {
				fail("%s is not an integer literal", key)
				return App{}, false
			}
			n64, err := strconv.ParseInt(lit.Value, 0, 64)
			n := int(n64)
			if err != nil || n < 0 || n > 65535 {
				fail("%s %d is not a port", key, n)
				return App{}, false
			}
			switch key {
			case "PublicPort":
				a.PublicPort = n
			case "AppPort":
				a.AppPort = n
			case "DaprPort":
				a.DaprPort = n
			default:
				a.MetricsPort = n
			}
		case "NeedsDB":
			id, ok := kv.Value.(*ast.Ident)
			if !ok || (id.Name != "true" && id.Name != "false") {
				fail("NeedsDB is not true or false")
				return App{}, false
			}
			a.NeedsDB = id.Name == "true"
		case "ExtraEnvFor":
			ast.Inspect(kv.Value, func(n ast.Node) bool {
				if e, ok := n.(ast.Expr); ok {
					if s, ok := StringLit(e); ok {
						if m := EnvLiteral.FindStringSubmatch(s); m != nil {
							a.ExtraEnv[m[1]] = m[2]
						}
					}
				}
				return true
			})
		default:
			fail("field %s is not known to deploy/registry (teach it the field, or the checks miss it)", key)
			return App{}, false
		}
	}
	if a.ID == "" || a.Binary == "" || a.AppPort == 0 || a.DaprPort == 0 {
		fail("incomplete entry %+v", a)
		return App{}, false
	}
	return a, true
}
