package devstack

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// validApps is a small registry that parseApps accepts: the refusals below
// fail for what each one breaks.
const validApps = `{
  "pubsubs": {"ps": {"protectedTopics": ["t"]}},
  "apps": [
    {"id": "a", "binary": "a", "description": "A", "ports": {"public": 8080, "app": 8090, "dapr": 3500, "metrics": 9464},
     "database": true, "env": {"X": "1"}, "computedEnv": ["JWT_SECRET"], "publishes": {"ps": ["t"]}},
    {"id": "b", "binary": "b", "description": "B", "ports": {"app": 8091, "dapr": 3501, "metrics": 9465},
     "publishes": {"ps": []}, "subscribes": {"ps": ["t", "t-dlq"]}}
  ],
  "readers": [{"id": "viewer", "subscribes": {"ps": ["t"]}}]
}`

func TestParseAppsAcceptsAValidFile(t *testing.T) {
	apps, err := parseApps([]byte(validApps), computedEnv)
	if err != nil {
		t.Fatal(err)
	}
	if len(apps) != 2 || apps[0].PublicPort != 8080 || apps[1].PublicPort != 0 || !apps[0].NeedsDB ||
		!slices.Equal(apps[1].Subscribes["ps"], []string{"t", "t-dlq"}) || apps[1].Publishes["ps"] == nil {
		t.Errorf("parsed %+v", apps)
	}
}

// TestParseAppsRefuses: every file of testdata/apps_refused.json is
// refused (by deploy/registry, the file's one reader) for the reason it
// names.
func TestParseAppsRefuses(t *testing.T) {
	for name, c := range refusedApps(t) {
		t.Run(name, func(t *testing.T) {
			apps, err := parseApps(c.File, computedEnv)
			switch {
			case err == nil:
				t.Fatalf("accepted, read %+v", apps)
			case !strings.Contains(err.Error(), c.Want):
				t.Fatalf("refused with %q, want an error containing %q", err, c.Want)
			}
		})
	}
}

type refusedCase struct {
	Want string          `json:"want"`
	File json.RawMessage `json:"file"`
}

// refusedApps reads testdata/apps_refused.json: case name -> the part of
// the error expected and the file (a JSON string holds the raw text).
func refusedApps(t *testing.T) map[string]refusedCase {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "apps_refused.json"))
	if err != nil {
		t.Fatal(err)
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatal(err)
	}
	delete(all, "//")
	out := map[string]refusedCase{}
	for name, v := range all {
		var c refusedCase
		if err := json.Unmarshal(v, &c); err != nil || c.Want == "" || len(c.File) == 0 {
			t.Fatalf("testdata/apps_refused.json: case %q: %v", name, err)
		}
		var text string
		if json.Unmarshal(c.File, &text) == nil {
			c.File = []byte(text)
		}
		out[name] = c
	}
	if len(out) < 10 {
		t.Fatalf("only %d cases in testdata/apps_refused.json", len(out))
	}
	return out
}

// A computed variable the launcher has no func for is refused at load.
func TestParseAppsRefusesAComputedVariableWithoutFunc(t *testing.T) {
	src := strings.Replace(validApps, `"computedEnv": ["JWT_SECRET"]`, `"computedEnv": ["NO_SUCH_SECRET"]`, 1)
	if _, err := parseApps([]byte(src), computedEnv); err == nil || !strings.Contains(err.Error(), "NO_SUCH_SECRET") {
		t.Errorf("got %v, want the variable refused", err)
	}
	without := map[string]func(*System, *Instance) string{}
	for k, f := range computedEnv {
		if k != "PUBLIC_URL" {
			without[k] = f
		}
	}
	if _, err := parseApps(appsJSON, without); err == nil || !strings.Contains(err.Error(), "PUBLIC_URL") {
		t.Errorf("apps.json without PUBLIC_URL's func: got %v, want PUBLIC_URL refused", err)
	}
}

// Every func of computedEnv is named by an app: none is left over.
func TestEveryComputedVariableIsUsed(t *testing.T) {
	used := map[string]bool{}
	for _, a := range Apps {
		for k, v := range a.ExtraEnv {
			if v == "" {
				used[k] = true
			}
		}
	}
	for k := range computedEnv {
		if !used[k] {
			t.Errorf("computedEnv %s: no app of apps.json names it", k)
		}
	}
}

func TestAppsBuildFromTheEmbeddedFile(t *testing.T) {
	if len(Apps) == 0 || Apps[0].ID != "todo-api" {
		t.Fatalf("Apps = %+v; want todo-api first (it starts first)", Apps)
	}
	for _, a := range Apps {
		if _, err := os.Stat(filepath.Join("..", "..", "cmd", a.Binary)); err != nil {
			t.Errorf("app %s: cmd/%s: %v", a.ID, a.Binary, err)
		}
		if got, ok := AppByID(a.ID); !ok || got.Binary != a.Binary {
			t.Errorf("AppByID(%s) = %+v, %v", a.ID, got, ok)
		}
	}
	if want := len(Apps) + 1; len(Binaries) != want || Binaries[len(Binaries)-1] != "devbroker" {
		t.Errorf("Binaries = %v: every app's, then devbroker", Binaries)
	}
}

// The environment each app gets beyond the common one, as the launcher
// gave it when it was a Go table.
func TestExtraEnv(t *testing.T) {
	sys := &System{Cfg: Config{JWTSecret: "jwt", DevSignIn: true, CookieKeys: "cookies", TokenKeys: "tokens"},
		Instances: map[string]*Instance{"todo-api": {Port: 18080}}}
	want := map[string][]string{
		"todo-api": {"JWT_SECRET=jwt", "OUTBOX_POLL_INTERVAL=2s", "WEB_TOKEN_ISSUER=todo-web-app"},
		"web-app": {"API_TOKEN_KEYS=tokens", "COOKIE_KEYS=cookies", "DEV_SIGNIN=true",
			"PUBLIC_URL=http://127.0.0.1:18085", "TODO_API_URL=http://127.0.0.1:18080"},
	}
	for _, a := range Apps {
		inst := &Instance{App: a, Name: a.ID, Port: 18085}
		if got := sys.extraEnv(inst); !slices.Equal(got, want[a.ID]) {
			t.Errorf("%s: extraEnv = %q, want %q", a.ID, got, want[a.ID])
		}
	}
}

// TestDeployDocRestartsTheAppsThatShareAChannel: docs/deploy.md's remedy
// for RabbitMQ's lost connections restarts exactly the apps that subscribe
// to several topics on one component (SharesChannel), so the two
// cannot drift.
func TestDeployDocRestartsTheAppsThatShareAChannel(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "deploy.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("`kubectl rollout restart((?:\\s+deployment/[a-z-]+)+)`").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/deploy.md: no `kubectl rollout restart deployment/...` for RabbitMQ's lost connections")
	}
	var documented []string
	for _, f := range strings.Fields(string(m[1])) {
		documented = append(documented, strings.TrimPrefix(f, "deployment/"))
	}
	var want []string
	for _, a := range Apps {
		if SharesChannel(a) {
			want = append(want, a.ID)
		}
	}
	slices.Sort(documented)
	slices.Sort(want)
	if !slices.Equal(documented, want) || len(want) == 0 {
		t.Errorf("docs/deploy.md restarts %v; the apps that subscribe to several topics on one component are %v", documented, want)
	}
}
