package composecheck

// The per-app parts of dapr.yaml, deploy/compose/docker-compose.yaml and the
// Dockerfile, and the whole of deploy/compose/components, are generated: the
// apps from the registry (internal/devstack/apps.json, read through
// deploy/registry), the compose components from components/. TestGenerated
// fails when a generated part is not what the generator makes; with -update
// it rewrites them:
//
//	cd deploy/composecheck && go test -run TestGenerated -update
//
// In dapr.yaml and docker-compose.yaml the generated part lies between a
// "BEGIN GENERATED" and an "END GENERATED" line, and holds every app (and, in
// compose, every sidecar) that is not written by hand outside it: todo-api,
// whose environment and start order are its own, is written by hand. In the
// Dockerfile the region holds every service's target, and the package list of
// the one `go build` is rewritten in place. The other checks of this package
// check the whole files, generated parts included, as before.

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite the generated files and regions")

const regenerate = "cd deploy/composecheck && go test -run TestGenerated -update"

// composeOverrides are deploy/compose's values of the component settings
// that may differ between environments (devstack's overridable keys): the
// compose services' addresses, and a one-minute sweep for demos.
var composeOverrides = map[string]string{
	"kafka-pubsub":  "redpanda:9092",
	"live-pubsub":   "redpanda:9092",
	"statestore":    "host=postgres port=5432 user=postgres dbname=todo sslmode=disable",
	"reminder-cron": "@every 1m",
}

// composeNotes are added to the header of a generated compose component.
var composeNotes = map[string]string{
	"cron.yaml": "Here the sweep runs every minute, so that a demo reminder shows up quickly.",
}

// localDatabaseURL is DATABASE_URL in dapr.yaml (README's local PostgreSQL).
const localDatabaseURL = "postgres://postgres@127.0.0.1:5432/todo?sslmode=disable"

// generated is one file the generator writes (whole or in part).
type generated struct {
	path string // from the repository root
	want []byte
}

func TestGenerated(t *testing.T) {
	var files []generated
	files = append(files, generateComposeComponents(t)...)
	files = append(files,
		generated{"dapr.yaml", generateDaprRun(t)},
		generated{composeDir + "/" + composeFile, generateCompose(t)},
		generated{"Dockerfile", generateDockerfile(t)},
	)
	for _, g := range files {
		path := filepath.Join(root(t), filepath.FromSlash(g.path))
		have, _ := os.ReadFile(path)
		if bytes.Equal(have, g.want) {
			continue
		}
		if *update {
			if err := os.WriteFile(path, g.want, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("rewrote %s", g.path)
			continue
		}
		t.Errorf("%s is not what the generator makes (%s); run: %s", g.path, firstDifference(have, g.want), regenerate)
	}
}

// firstDifference describes the first line where have and want differ.
func firstDifference(have, want []byte) string {
	h, w := strings.Split(string(have), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(h) || i < len(w); i++ {
		var hl, wl string
		if i < len(h) {
			hl = h[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if hl != wl || i >= len(h) || i >= len(w) {
			return fmt.Sprintf("line %d is %q, the generator writes %q", i+1, hl, wl)
		}
	}
	return "same lines"
}

// replaceRegion replaces the lines between the one line containing "BEGIN
// GENERATED" and the one containing "END GENERATED" (both kept) with body.
func replaceRegion(t testing.TB, name string, src []byte, body string) []byte {
	t.Helper()
	lines := strings.SplitAfter(string(src), "\n")
	begin, end := -1, -1
	for i, l := range lines {
		switch {
		case strings.Contains(l, "BEGIN GENERATED"):
			if begin >= 0 {
				t.Fatalf("%s: two BEGIN GENERATED lines", name)
			}
			begin = i
		case strings.Contains(l, "END GENERATED"):
			if end >= 0 {
				t.Fatalf("%s: two END GENERATED lines", name)
			}
			end = i
		}
	}
	if begin < 0 || end < begin {
		t.Fatalf("%s: no BEGIN GENERATED ... END GENERATED region", name)
	}
	var out strings.Builder
	for _, l := range lines[:begin+1] {
		out.WriteString(l)
	}
	out.WriteString(body)
	for _, l := range lines[end:] {
		out.WriteString(l)
	}
	return []byte(out.String())
}

// outsideRegion is src without its generated region.
func outsideRegion(t testing.TB, name string, src []byte) string {
	t.Helper()
	return string(replaceRegion(t, name, src, ""))
}

// generateComposeComponents copies every file of components/ for compose,
// text for text (comments included), with composeOverrides' values.
func generateComposeComponents(t testing.TB) []generated {
	t.Helper()
	keys := overridable(t)
	for name := range keys {
		if _, ok := composeOverrides[name]; !ok {
			t.Fatalf("component %s may differ between environments (internal/devstack/components.go) but composeOverrides has no value for it", name)
		}
	}
	files, err := filepath.Glob(filepath.Join(root(t), "components", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("components/*.yaml: %v (%d files)", err, len(files))
	}
	applied := map[string]bool{}
	var out []generated
	for _, f := range files {
		base := filepath.Base(f)
		body := overrideValues(t, base, string(readFile(t, f)), keys, applied)
		var b strings.Builder
		fmt.Fprintf(&b, "# GENERATED from components/%s by deploy/composecheck: do not edit. Edit\n", base)
		fmt.Fprintf(&b, "# components/%s, then run: %s\n", base, regenerate)
		b.WriteString("# Only the addresses and the cron period differ from the original.")
		if note := composeNotes[base]; note != "" {
			b.WriteString("\n# " + note)
		}
		b.WriteString("\n")
		b.WriteString(body)
		out = append(out, generated{composeDir + "/components/" + base, []byte(b.String())})
	}
	for name := range composeOverrides {
		if !applied[name] {
			t.Fatalf("composeOverrides: component %s (metadata %s) not found in components/", name, keys[name])
		}
	}
	// A file of the compose folder that components/ does not have would be
	// loaded by the compose sidecars only.
	existing, _ := filepath.Glob(filepath.Join(root(t), composeDir, "components", "*"))
	for _, e := range existing {
		if !slices.ContainsFunc(out, func(g generated) bool { return filepath.Base(g.path) == filepath.Base(e) }) {
			t.Errorf("%s/components/%s is not generated from components/: remove it", composeDir, filepath.Base(e))
		}
	}
	return out
}

var (
	componentNameLine = regexp.MustCompile(`^  name: *"?([^"\s]+)"?\s*$`)
	metadataNameLine  = regexp.MustCompile(`^(\s*)- name: *"?([^"\s]+)"?\s*$`)
	metadataValueLine = regexp.MustCompile(`^(\s*)value: .*$`)
)

// overrideValues replaces, in one components/ file, the value line of each
// overridden metadata key (the "value:" line after "- name: <key>" in the
// component's metadata) and checks the result with a YAML decoder.
func overrideValues(t testing.TB, file, src string, keys map[string]string, applied map[string]bool) string {
	t.Helper()
	lines := strings.Split(src, "\n")
	component, key := "", ""
	for i, l := range lines {
		if m := componentNameLine.FindStringSubmatch(l); m != nil {
			component, key = m[1], ""
			continue
		}
		if strings.TrimSpace(l) == "---" {
			component, key = "", ""
			continue
		}
		if m := metadataNameLine.FindStringSubmatch(l); m != nil {
			key = m[2]
			continue
		}
		if m := metadataValueLine.FindStringSubmatch(l); m != nil && key != "" {
			if v, ok := composeOverrides[component]; ok && keys[component] == key {
				lines[i] = m[1] + "value: " + strconv.Quote(v)
				applied[component] = true
			}
			key = ""
		}
	}
	out := strings.Join(lines, "\n")
	// The result must say what was meant (a layout the line scan does not
	// know would leave a value unchanged: the decoder would see it).
	dec := yaml.NewDecoder(strings.NewReader(out))
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); err != nil {
			break
		}
		name := docName(doc)
		if v, ok := composeOverrides[name]; ok && doc["kind"] == "Component" {
			it := metadataItem(doc, keys[name])
			if it == nil || fmt.Sprint(it["value"]) != v {
				t.Fatalf("components/%s: could not set %s's %s to %q in the text (got %v)", file, name, keys[name], v, it)
			}
		}
	}
	return out
}

var (
	runFileAppLine     = regexp.MustCompile(`(?m)^\s*- appID:\s*(\S+)\s*$`)
	composeServiceLine = regexp.MustCompile(`(?m)^  ([A-Za-z0-9][A-Za-z0-9_.-]*):\s*$`)
)

// generateDaprRun writes dapr.yaml's entries of every app that is not
// written by hand outside the generated region.
func generateDaprRun(t testing.TB) []byte {
	t.Helper()
	src := readFile(t, filepath.Join(root(t), "dapr.yaml"))
	byHand := map[string]bool{}
	for _, m := range runFileAppLine.FindAllStringSubmatch(outsideRegion(t, "dapr.yaml", src), -1) {
		byHand[m[1]] = true
	}
	health := launcherHealthPath(t)
	var entries []string
	for _, a := range devstackApps(t) {
		if byHand[a.ID] {
			continue
		}
		if a.MetricsPort == 0 {
			t.Fatalf("app %s: no MetricsPort in internal/devstack (every app of dapr.yaml needs its own)", a.ID)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "  - appID: %s\n", a.ID)
		b.WriteString("    appDirPath: .\n")
		fmt.Fprintf(&b, "    appPort: %d\n", a.AppPort)
		fmt.Fprintf(&b, "    daprHTTPPort: %d\n", a.DaprPort)
		b.WriteString("    enableAppHealthCheck: true\n")
		fmt.Fprintf(&b, "    appHealthCheckPath: %s\n", health)
		fmt.Fprintf(&b, "    command: [\"go\", \"run\", \"./cmd/%s\"]\n", a.Binary)
		b.WriteString("    env:\n")
		fmt.Fprintf(&b, "      APP_ADDR: 127.0.0.1:%d\n", a.AppPort)
		if a.Public() {
			fmt.Fprintf(&b, "      HTTP_ADDR: 127.0.0.1:%d\n", a.PublicPort)
		}
		fmt.Fprintf(&b, "      METRICS_ADDR: 127.0.0.1:%d\n", a.MetricsPort)
		if a.NeedsDB {
			fmt.Fprintf(&b, "      DATABASE_URL: %s\n", localDatabaseURL)
		}
		for _, k := range extraEnvKeys(t, a, "dapr.yaml") {
			fmt.Fprintf(&b, "      %s: %s\n", k, strconv.Quote(a.ExtraEnv[k]))
		}
		entries = append(entries, b.String())
	}
	return replaceRegion(t, "dapr.yaml", src, strings.Join(entries, "\n"))
}

// extraEnvKeys are an app's ExtraEnvFor variables, sorted. A computed one
// (a secret) has no value to write: such an app is written by hand.
func extraEnvKeys(t testing.TB, a app, file string) []string {
	t.Helper()
	var keys []string
	for k, v := range a.ExtraEnv {
		if v == "" {
			t.Fatalf("app %s: ExtraEnvFor computes %s, which the generator cannot write; write the app's entry in %s by hand, above the generated region", a.ID, k, file)
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// composeAppAddr is an app's APP_ADDR in compose: its app port on the
// loopback interface only. Its sidecar shares the app's network namespace
// and calls 127.0.0.1 (--app-channel-address), and nothing else in compose
// needs the app port (Docker has no probes of its own here), so no other
// container of the compose network can reach it.
func composeAppAddr(a app) string { return "127.0.0.1:" + strconv.Itoa(a.AppPort) }

// composeAppTokenVar is the compose variable of an app's APP_API_TOKEN: one
// per app (APP_API_TOKEN_AUDIT_SERVICE for audit-service), so that no app
// accepts another app's sidecar.
func composeAppTokenVar(a app) string {
	return "APP_API_TOKEN_" + strings.ToUpper(strings.ReplaceAll(a.ID, "-", "_"))
}

// composeAppToken is the value of an app's APP_API_TOKEN in compose, for the
// app and its sidecar alike: its variable, with a development default of
// its own.
func composeAppToken(a app) string {
	return "${" + composeAppTokenVar(a) + ":-dev-app-api-token-" + a.ID + "-change-me}"
}

// generateCompose writes the compose services of every app, and every
// sidecar, not written by hand outside the generated region.
func generateCompose(t testing.TB) []byte {
	t.Helper()
	name := composeDir + "/" + composeFile
	src := readFile(t, filepath.Join(root(t), composeDir, composeFile))
	byHand := map[string]bool{}
	for _, m := range composeServiceLine.FindAllStringSubmatch(outsideRegion(t, name, src), -1) {
		byHand[m[1]] = true
	}
	flags := launcherDaprdFlags(t)
	constant := func(flag string) string {
		v, ok := flags[flag]
		if !ok || v == variable || v == "" {
			t.Fatalf("the launcher (internal/devstack/daprd.go) passes no constant %s", flag)
		}
		return v
	}
	health := launcherHealthPath(t)
	var blocks []string
	for _, a := range devstackApps(t) {
		if !byHand[a.ID] {
			var b strings.Builder
			fmt.Fprintf(&b, "  %s:\n", a.ID)
			fmt.Fprintf(&b, "    image: %s:${TODO_VERSION:-dev}\n", a.Image())
			b.WriteString("    build:\n      <<: *build\n")
			fmt.Fprintf(&b, "      target: %s\n", a.Binary)
			b.WriteString("    environment:\n      <<: *app-env\n")
			fmt.Fprintf(&b, "      APP_ADDR: %q\n", composeAppAddr(a))
			if a.Public() {
				fmt.Fprintf(&b, "      HTTP_ADDR: \":%d\"\n", a.PublicPort)
			}
			fmt.Fprintf(&b, "      APP_API_TOKEN: %s\n", composeAppToken(a))
			if a.NeedsDB {
				b.WriteString("      DATABASE_URL: *database-url\n")
			}
			for _, k := range extraEnvKeys(t, a, name) {
				fmt.Fprintf(&b, "      %s: %s\n", k, strconv.Quote(a.ExtraEnv[k]))
			}
			if a.NeedsDB {
				b.WriteString("    depends_on:\n      postgres:\n        condition: service_healthy\n")
			}
			b.WriteString("    restart: unless-stopped\n")
			blocks = append(blocks, b.String())
		}
		if !byHand[a.ID+"-dapr"] {
			var b strings.Builder
			fmt.Fprintf(&b, "  %s-dapr:\n", a.ID)
			b.WriteString("    <<: *daprd\n")
			fmt.Fprintf(&b, "    network_mode: \"service:%s\"\n", a.ID)
			b.WriteString("    environment:\n      <<: *dapr-token\n")
			fmt.Fprintf(&b, "      APP_API_TOKEN: %s\n", composeAppToken(a))
			fmt.Fprintf(&b, "    command: [\"/daprd\", \"--app-id\", %q, \"--app-port\", \"%d\",\n", a.ID, a.AppPort)
			fmt.Fprintf(&b, "              \"--app-protocol\", %q, \"--app-channel-address\", %q,\n", constant("--app-protocol"), constant("--app-channel-address"))
			fmt.Fprintf(&b, "              \"--dapr-http-port\", %q, \"--dapr-grpc-port\", \"50001\",\n", sidecarHTTPPort)
			b.WriteString("              \"--dapr-internal-grpc-port\", \"50002\", \"--metrics-port\", \"9090\",\n")
			fmt.Fprintf(&b, "              \"--dapr-listen-addresses\", %q, \"--metrics-listen-address\", %q,\n", constant("--dapr-listen-addresses"), constant("--metrics-listen-address"))
			b.WriteString("              \"--resources-path\", \"/components\", \"--config\", \"/dapr/config.yaml\",\n")
			fmt.Fprintf(&b, "              \"--enable-app-health-check\", \"--app-health-check-path\", %q,\n", health)
			fmt.Fprintf(&b, "              \"--app-health-probe-interval\", %q, \"--app-health-probe-timeout\", %q,\n", constant("--app-health-probe-interval"), constant("--app-health-probe-timeout"))
			fmt.Fprintf(&b, "              \"--app-health-threshold\", %q,\n", constant("--app-health-threshold"))
			b.WriteString("              \"--log-level\", \"${DAPR_LOG_LEVEL:-warn}\", \"--log-as-json\"]\n")
			b.WriteString("    depends_on:\n      <<: *sidecar-deps\n")
			fmt.Fprintf(&b, "      %s:\n        condition: service_started\n        restart: true\n", a.ID)
			blocks = append(blocks, b.String())
		}
	}
	return replaceRegion(t, name, src, strings.Join(blocks, "\n"))
}

// goBuildPackagesLine is the line of the Dockerfile's go build that lists
// the packages.
var goBuildPackagesLine = regexp.MustCompile(`(?m)^(\s*-o /out/)((?: \./cmd/\S+)+)[ \t]*$`)

// generateDockerfile writes the package list of the go build (every app, in
// the registry's order) and one target per app, todo-api last (a plain
// `docker build .` builds the last stage).
func generateDockerfile(t testing.TB) []byte {
	t.Helper()
	src := readFile(t, filepath.Join(root(t), "Dockerfile"))
	apps := devstackApps(t)
	if n := len(goBuildPackagesLine.FindAllIndex(src, -1)); n != 1 {
		t.Fatalf("Dockerfile: %d lines \"-o /out/ ./cmd/...\", want the one package list of the go build", n)
	}
	var pkgs strings.Builder
	for _, a := range apps {
		pkgs.WriteString(" ./cmd/" + a.Binary)
	}
	src = goBuildPackagesLine.ReplaceAll(src, []byte("${1}"+strings.ReplaceAll(pkgs.String(), "$", "$$")))

	ordered := slices.Clone(apps)
	slices.SortStableFunc(ordered, func(a, b app) int {
		switch {
		case a.ID == "todo-api" && b.ID != "todo-api":
			return 1
		case b.ID == "todo-api" && a.ID != "todo-api":
			return -1
		}
		return 0
	})
	var stages []string
	for _, a := range ordered {
		if a.Description == "" {
			t.Fatalf("app %s: no Description in internal/devstack (its image's description label)", a.ID)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "FROM runtime AS %s\n", a.Binary)
		fmt.Fprintf(&b, "LABEL org.opencontainers.image.title=%q \\\n", a.Image())
		fmt.Fprintf(&b, "      org.opencontainers.image.description=%q\n", a.Description+" (Dapr app "+a.ID+")")
		fmt.Fprintf(&b, "COPY --from=build /out/%s /app/%s\n", a.Binary, a.Binary)
		if a.Public() {
			fmt.Fprintf(&b, "EXPOSE %d\n", a.PublicPort)
		}
		fmt.Fprintf(&b, "ENTRYPOINT [\"/app/%s\"]\n", a.Binary)
		stages = append(stages, b.String())
	}
	return replaceRegion(t, "Dockerfile", src, strings.Join(stages, "\n"))
}
