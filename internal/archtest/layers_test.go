package archtest

import (
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/evolution-todo/todo/"

// layers orders every package of the module: a package may import only
// packages of a lower layer, and the packages of one app only each other,
// downward (appRanks). So the graph has no cycles, nothing points upward,
// and the apps meet only through the contract packages and events.
// A new package fails TestImportsPointDownward until it is given a layer.
var layers = [][]string{
	// 0: leaves, importing nothing of ours.
	{"internal/buildinfo", "internal/events", "internal/recurrence", "internal/config", "internal/logging",
		"internal/httpx", "internal/migrate", "internal/auth", "internal/auth/authtest", "internal/browsertest",
		"internal/ratelimit", "internal/flood"},
	{"internal/telemetry"},
	// 2: the outbound Dapr client.
	{"internal/dapr"},
	// 3: the inbound kit, the contracts between apps, the service skeleton.
	{"internal/dapr/consumer", "internal/dapr/consumer/consumertest", "internal/contract", "internal/contract/*",
		"internal/service"},
	// 4: the apps and the public API's client.
	{"internal/audit", "internal/notifier", "internal/recurring", "internal/reminder",
		"internal/todoapi", "internal/todoapi/*", "internal/web", "client", "client/*"},
	// 5: the local launcher; 6: what uses it to start or drive systems.
	{"internal/devstack"},
	{"internal/pgtest", "internal/bench"},
	// 7: binaries and test-only packages.
	{"cmd/*", "internal/e2e", "internal/brokersuite", "internal/chaos", "internal/hostile", "internal/webhostile", "internal/archtest"},
}

// appRanks orders the packages inside one app: each imports only lower
// ranks of its own app. In todo-api the outbox owns its table and knows
// nothing of the store; the store writes its events through outbox.Add.
var appRanks = map[string]map[string]int{
	"internal/todoapi": {"task": 0, "outbox": 1, "store": 2, "api": 3, "": 4},
}

// app is the app a package of layer 4 belongs to ("" for others).
func app(pkg string) string {
	for _, a := range []string{"internal/audit", "internal/notifier", "internal/recurring", "internal/reminder", "internal/todoapi", "internal/web", "client"} {
		if pkg == a || strings.HasPrefix(pkg, a+"/") {
			return a
		}
	}
	return ""
}

func layerOf(pkg string) int {
	for i, l := range layers {
		for _, pattern := range l {
			if ok, _ := path.Match(pattern, pkg); ok || pkg == pattern {
				return i
			}
		}
	}
	return -1
}

// imports lists each package of the module with the module's packages it
// imports (not counting tests).
func imports(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...")
	cmd.Dir = filepath.Join("..", "..")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	graph := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg := strings.TrimPrefix(f[0], module)
		graph[pkg] = nil
		for _, imp := range f[1:] {
			if strings.HasPrefix(imp, module) {
				graph[pkg] = append(graph[pkg], strings.TrimPrefix(imp, module))
			}
		}
	}
	if len(graph) < 20 {
		t.Fatalf("go list found only %d packages", len(graph))
	}
	return graph
}

func TestImportsPointDownward(t *testing.T) {
	for pkg, deps := range imports(t) {
		l := layerOf(pkg)
		if l < 0 {
			t.Errorf("%s has no layer: add it to archtest.layers", pkg)
			continue
		}
		for _, dep := range deps {
			dl := layerOf(dep)
			if a := app(pkg); a != "" && a == app(dep) {
				if ranks, ok := appRanks[a]; ok {
					pr, dr := ranks[strings.TrimPrefix(strings.TrimPrefix(pkg, a), "/")], ranks[strings.TrimPrefix(strings.TrimPrefix(dep, a), "/")]
					if dr >= pr {
						t.Errorf("%s imports %s: inside %s, imports go from rank %d to lower ranks only (%d)", pkg, dep, a, pr, dr)
					}
				}
				continue
			}
			if dl >= l {
				t.Errorf("%s (layer %d) imports %s (layer %d): imports point to lower layers only", pkg, l, dep, dl)
			}
		}
	}
}

func TestEventsIsALeaf(t *testing.T) {
	graph := imports(t)
	deps, ok := graph["internal/events"]
	if !ok {
		t.Fatal("no internal/events package")
	}
	if len(deps) > 0 {
		t.Errorf("internal/events imports %v; the shared event contract must import nothing of ours", deps)
	}
	// Nor may the consumers link todo-api's domain through anything else.
	for _, consumer := range []string{"cmd/audit", "cmd/recurring", "cmd/notifier", "cmd/reminder"} {
		cmd := exec.Command("go", "list", "-deps", "./"+consumer)
		cmd.Dir = filepath.Join("..", "..")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", consumer, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.HasPrefix(dep, module+"internal/todoapi") {
				t.Errorf("%s links %s: consumers reach todo-api through internal/contract only", consumer, dep)
			}
		}
	}
}

// The rules themselves: a broken layering is caught.
func TestLayerRulesCatchAnUpwardImport(t *testing.T) {
	if layerOf("internal/events") >= layerOf("internal/dapr") || layerOf("internal/dapr") >= layerOf("internal/audit") {
		t.Fatal("layers out of order")
	}
	if app("internal/todoapi/store") != "internal/todoapi" || app("internal/auditx") != "" {
		t.Fatal("app() misattributes packages")
	}
	if layerOf("internal/contract/auditapi") != 3 || layerOf("cmd/todo-api") != 7 || layerOf("internal/newthing") != -1 {
		t.Fatal("layerOf does not match patterns")
	}
}
