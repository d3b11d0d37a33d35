package composecheck

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/types"
)

const (
	composeDir  = "deploy/compose"
	composeFile = "docker-compose.yaml"
	// sidecarHTTPPort is every sidecar's HTTP port in compose: each shares
	// its app's network namespace, so they can all use Dapr's default.
	sidecarHTTPPort = "3500"
)

// loadCompose loads the compose file as `docker compose` does (interpolation,
// normalization, path resolution, schema validation and consistency checks)
// with exactly env as the environment (not the caller's own).
func loadCompose(t testing.TB, env []string) *types.Project {
	t.Helper()
	dir := filepath.Join(root(t), composeDir)
	opts, err := cli.NewProjectOptions([]string{filepath.Join(dir, composeFile)},
		cli.WithWorkingDirectory(dir),
		cli.WithEnv(env),
		cli.WithInterpolation(true),
		cli.WithNormalization(true),
		cli.WithResolvedPaths(true),
		cli.WithConsistency(true),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("%s/%s does not load: %v", composeDir, composeFile, err)
	}
	return p
}

// envExample reads deploy/compose/.env.example as KEY=value pairs.
func envExample(t testing.TB) map[string]string {
	t.Helper()
	env, err := dotenv.Read(filepath.Join(root(t), composeDir, ".env.example"))
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// daprdArgs splits a daprd command line into flags: --flag value, --flag=value
// or a boolean --flag (value "").
func daprdArgs(t testing.TB, service string, cmd []string) (binary string, flags map[string]string) {
	t.Helper()
	if len(cmd) == 0 {
		t.Fatalf("%s: no command", service)
	}
	flags = map[string]string{}
	for i := 1; i < len(cmd); i++ {
		a := cmd[i]
		if !strings.HasPrefix(a, "--") {
			t.Fatalf("%s: unexpected argument %q", service, a)
		}
		name, val, hasVal := strings.Cut(a, "=")
		if !hasVal && i+1 < len(cmd) && !strings.HasPrefix(cmd[i+1], "--") {
			val = cmd[i+1]
			i++
		}
		if _, dup := flags[name]; dup {
			t.Errorf("%s: %s given twice", service, name)
		}
		flags[name] = val
	}
	return cmd[0], flags
}

func envValue(s types.ServiceConfig, key string) (string, bool) {
	v, ok := s.Environment[key]
	if !ok || v == nil {
		return "", false
	}
	return *v, true
}

func imageRepoTag(image string) (repo, tag string) {
	i := strings.LastIndex(image, ":")
	if i < 0 || strings.Contains(image[i:], "/") {
		return image, ""
	}
	return image[:i], image[i+1:]
}

// TestComposeLoads loads the file with no environment (the documented
// defaults) and with the values of .env.example.
func TestComposeLoads(t *testing.T) {
	loadCompose(t, nil)
	var env []string
	for k, v := range envExample(t) {
		env = append(env, k+"="+v)
	}
	loadCompose(t, env)
}

// TestComposeEnvDefaults checks that .env.example documents every variable
// the compose file reads, with the same default as the file.
func TestComposeEnvDefaults(t *testing.T) {
	src := string(readFile(t, filepath.Join(root(t), composeDir, composeFile)))
	defaults := map[string]string{}
	for _, m := range regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:?-)?([^}]*)\}`).FindAllStringSubmatch(src, -1) {
		name, op, def := m[1], m[2], m[3]
		if op != ":-" {
			t.Errorf("${%s%s%s}: give every variable a default with :- (a cold `up` must work without a .env file)", name, op, def)
			continue
		}
		if prev, ok := defaults[name]; ok && prev != def {
			t.Errorf("${%s}: two defaults, %q and %q", name, prev, def)
		}
		defaults[name] = def
	}
	example := envExample(t)
	for name, def := range defaults {
		v, ok := example[name]
		if !ok {
			t.Errorf(".env.example does not document %s (default %q)", name, def)
		} else if v != def {
			t.Errorf(".env.example: %s=%q, the compose default is %q", name, v, def)
		}
	}
	for name := range example {
		if _, ok := defaults[name]; !ok {
			t.Errorf(".env.example sets %s, which the compose file does not read", name)
		}
	}
	if s := defaults["JWT_SECRET"]; len(s) < 32 {
		t.Errorf("default JWT_SECRET is %d bytes, todo-api needs at least 32", len(s))
	}
}

func TestComposeAppsAndSidecars(t *testing.T) {
	p := loadCompose(t, nil)
	apps := devstackApps(t)
	launcherFlags := launcherDaprdFlags(t)
	healthPath := launcherHealthPath(t)
	daprVersion := pinnedDaprVersion(t)
	stages := dockerfileStageNames(t)
	repoRoot := root(t)

	// A sidecar is a service whose network_mode is service:<app>.
	sidecars := map[string][]string{}
	for name, s := range p.Services {
		if app, ok := strings.CutPrefix(s.NetworkMode, "service:"); ok {
			sidecars[app] = append(sidecars[app], name)
		}
	}

	var appImage = map[string]string{}
	for _, a := range apps {
		s, ok := p.Services[a.ID]
		if !ok {
			t.Errorf("no compose service %q (the Dapr app id) for cmd/%s", a.ID, a.Binary)
			continue
		}
		appImage[a.ID] = s.Image

		// The image: built from the repository's Dockerfile, target = binary.
		repo, tag := imageRepoTag(s.Image)
		if repo != imageName(a.Binary) || tag == "" {
			t.Errorf("%s: image %q, want %s:<version>", a.ID, s.Image, imageName(a.Binary))
		}
		if s.Build == nil {
			t.Errorf("%s: no build section", a.ID)
		} else {
			if s.Build.Context != repoRoot {
				t.Errorf("%s: build context %s, want the repository root %s", a.ID, s.Build.Context, repoRoot)
			}
			if filepath.Base(s.Build.Dockerfile) != "Dockerfile" {
				t.Errorf("%s: dockerfile %s, want the root Dockerfile", a.ID, s.Build.Dockerfile)
			}
			if s.Build.Target != a.Binary {
				t.Errorf("%s: build target %q, want %q", a.ID, s.Build.Target, a.Binary)
			}
			if !slices.Contains(stages, s.Build.Target) {
				t.Errorf("%s: build target %q is not a stage of the Dockerfile (%v)", a.ID, s.Build.Target, stages)
			}
			if v := s.Build.Args["VERSION"]; v == nil || *v == "" {
				t.Errorf("%s: build arg VERSION not set", a.ID)
			}
		}

		// The app's environment: what the launcher gives it, for compose.
		for _, key := range launcherAppEnv(t) {
			if (key == "DATABASE_URL" && !a.NeedsDB) || (key == "HTTP_ADDR" && !a.Public()) {
				continue
			}
			if _, ok := envValue(s, key); !ok {
				t.Errorf("%s: %s not set (the launcher sets it)", a.ID, key)
			}
		}
		for key, want := range a.ExtraEnv {
			got, ok := envValue(s, key)
			if !ok {
				t.Errorf("%s: %s not set (the launcher sets it)", a.ID, key)
			} else if want != "" && got != want {
				t.Errorf("%s: %s=%q, the launcher uses %q", a.ID, key, got, want)
			}
		}
		// The public port on every interface of the container (it is
		// published); the app port on the loopback interface only (its
		// sidecar alone, in the same network namespace, calls it).
		got, ok := envValue(s, "HTTP_ADDR")
		switch {
		case a.Public() && got != ":"+strconv.Itoa(a.PublicPort):
			t.Errorf("%s: HTTP_ADDR=%q, want %q (its public port)", a.ID, got, ":"+strconv.Itoa(a.PublicPort))
		case !a.Public() && ok:
			t.Errorf("%s: HTTP_ADDR=%q set for an app without a public port", a.ID, got)
		}
		if got, _ := envValue(s, "APP_ADDR"); got != composeAppAddr(a) {
			t.Errorf("%s: APP_ADDR=%q, want %q (its app port, loopback only)", a.ID, got, composeAppAddr(a))
		}
		if got, _ := envValue(s, "DAPR_HTTP_PORT"); got != sidecarHTTPPort {
			t.Errorf("%s: DAPR_HTTP_PORT=%q, want %s", a.ID, got, sidecarHTTPPort)
		}
		if a.NeedsDB {
			checkDatabaseURL(t, p, a.ID)
			if d, ok := s.DependsOn["postgres"]; !ok || d.Condition != types.ServiceConditionHealthy {
				t.Errorf("%s: must depend on postgres with condition service_healthy", a.ID)
			}
		}
		if secret, ok := envValue(s, "JWT_SECRET"); ok && len(secret) < 32 {
			t.Errorf("%s: JWT_SECRET is %d bytes, at least 32 are needed", a.ID, len(secret))
		}

		// Exactly one sidecar, in the app's network namespace.
		names := sidecars[a.ID]
		if len(names) != 1 {
			t.Errorf("%s: %d sidecar services with network_mode service:%s (%v), want exactly 1", a.ID, len(names), a.ID, names)
			continue
		}
		sc := p.Services[names[0]]
		if sc.Image != "daprio/daprd:"+daprVersion {
			t.Errorf("%s: image %q, want daprio/daprd:%s (scripts/build-daprd.sh)", sc.Name, sc.Image, daprVersion)
		}
		bin, flags := daprdArgs(t, sc.Name, sc.Command)
		if bin != "/daprd" && bin != "./daprd" {
			t.Errorf("%s: command starts with %q, want /daprd (the image has no entrypoint)", sc.Name, bin)
		}
		want := map[string]string{
			"--app-id":                a.ID,
			"--app-port":              strconv.Itoa(a.AppPort),
			"--dapr-http-port":        sidecarHTTPPort,
			"--app-health-check-path": healthPath,
			"--log-as-json":           "",
		}
		for flag, v := range want {
			got, ok := flags[flag]
			if !ok {
				t.Errorf("%s: %s missing", sc.Name, flag)
			} else if got != v {
				t.Errorf("%s: %s %q, want %q", sc.Name, flag, got, v)
			}
		}
		// The launcher's flags, with its constant values; nothing else but
		// --log-as-json. --config is used by the launcher only when a
		// Configuration is given, which it never is for the system.
		for flag, v := range launcherFlags {
			if flag == "--config" {
				continue
			}
			got, ok := flags[flag]
			switch {
			case !ok:
				t.Errorf("%s: %s missing (the launcher passes it)", sc.Name, flag)
			case v == variable:
				if got == "" {
					t.Errorf("%s: %s without a value", sc.Name, flag)
				}
			case got != v:
				t.Errorf("%s: %s %q, the launcher uses %q", sc.Name, flag, got, v)
			}
		}
		for flag := range flags {
			if _, ok := launcherFlags[flag]; !ok && flag != "--log-as-json" {
				t.Errorf("%s: %s is not a flag of the launcher (internal/devstack/daprd.go)", sc.Name, flag)
			}
		}
		// The components folder mounted where --resources-path points.
		mounted := false
		for _, v := range sc.Volumes {
			if v.Target == flags["--resources-path"] {
				mounted = true
				if v.Source != filepath.Join(repoRoot, composeDir, "components") {
					t.Errorf("%s: %s comes from %s, want %s/components", sc.Name, v.Target, v.Source, composeDir)
				}
				if !v.ReadOnly {
					t.Errorf("%s: mount components read-only", sc.Name)
				}
			}
		}
		if !mounted {
			t.Errorf("%s: --resources-path %s is not a mounted volume", sc.Name, flags["--resources-path"])
		}
		// The local sidecars' Configuration (dapr/config.yaml) mounted where
		// --config points.
		configMounted := false
		for _, v := range sc.Volumes {
			if v.Target == flags["--config"] {
				configMounted = true
				if v.Source != filepath.Join(repoRoot, "dapr", "config.yaml") || !v.ReadOnly {
					t.Errorf("%s: %s comes from %s (read-only %v), want dapr/config.yaml read-only", sc.Name, v.Target, v.Source, v.ReadOnly)
				}
			}
		}
		if !configMounted {
			t.Errorf("%s: --config %q is not a mounted file", sc.Name, flags["--config"])
		}
		// Same tokens on both sides (APP_API_TOKEN distinct per app: see
		// TestComposeAppTokensPerApp).
		for _, key := range []string{"DAPR_API_TOKEN", "APP_API_TOKEN"} {
			av, aok := envValue(s, key)
			sv, sok := envValue(sc, key)
			if !aok || !sok || av == "" || av != sv {
				t.Errorf("%s and %s: %s must be set to the same value on both (app %q, sidecar %q)", a.ID, sc.Name, key, av, sv)
			}
		}
		// Start order: the broker and the database first (components are
		// loaded at start), the app before its sidecar.
		for dep, cond := range map[string]string{"redpanda": types.ServiceConditionHealthy, "postgres": types.ServiceConditionHealthy, a.ID: types.ServiceConditionStarted} {
			d, ok := sc.DependsOn[dep]
			if !ok || d.Condition != cond {
				t.Errorf("%s: must depend on %s with condition %s (has %+v)", sc.Name, dep, cond, d)
			}
		}
		if d := sc.DependsOn[a.ID]; !d.Restart {
			t.Errorf("%s: depends_on %s needs restart: true (a restarted app gets a new network namespace)", sc.Name, a.ID)
		}
		if len(sc.Ports) > 0 {
			t.Errorf("%s: a sidecar publishes no ports", sc.Name)
		}
	}

	// Every sidecar belongs to one of the apps.
	for app, names := range sidecars {
		if _, ok := appImage[app]; !ok {
			t.Errorf("%v: network_mode service:%s is not one of the apps", names, app)
		}
	}
}

// checkDatabaseURL checks that an app's DATABASE_URL points at the compose
// postgres service and its database.
func checkDatabaseURL(t testing.TB, p *types.Project, service string) {
	t.Helper()
	raw, _ := envValue(p.Services[service], "DATABASE_URL")
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "postgres" {
		t.Errorf("%s: DATABASE_URL %q is not a postgres:// URL", service, raw)
		return
	}
	db, _ := envValue(p.Services["postgres"], "POSTGRES_DB")
	if u.Hostname() != "postgres" || u.Port() != "5432" || strings.TrimPrefix(u.Path, "/") != db {
		t.Errorf("%s: DATABASE_URL %q, want the postgres service, port 5432, database %q", service, raw, db)
	}
}

func TestComposeInfrastructure(t *testing.T) {
	p := loadCompose(t, nil)

	rp, ok := p.Services["redpanda"]
	if !ok {
		t.Fatal("no redpanda service")
	}
	repo, tag := imageRepoTag(rp.Image)
	if repo != "docker.redpanda.com/redpandadata/redpanda" || !regexp.MustCompile(`^v\d+\.\d+\.\d+$`).MatchString(tag) {
		t.Errorf("redpanda: image %q, want docker.redpanda.com/redpandadata/redpanda:vX.Y.Z (a pinned release)", rp.Image)
	}
	cmd := strings.Join(rp.Command, " ")
	for _, want := range []string{"redpanda start", "dev-container", "--smp"} {
		if !strings.Contains(cmd, want) {
			t.Errorf("redpanda: command %q lacks %q", cmd, want)
		}
	}
	// The broker address the compose components use must be advertised.
	brokers := componentValue(t, filepath.Join(root(t), composeDir, "components"), "kafka-pubsub", "brokers")
	if !strings.Contains(cmd, "--advertise-kafka-addr") || !strings.Contains(cmd, "://"+brokers) {
		t.Errorf("redpanda: does not advertise %s, the brokers of deploy/compose/components/pubsub.yaml (%q)", brokers, cmd)
	}
	if host, _, _ := strings.Cut(brokers, ":"); host != "redpanda" {
		t.Errorf("kafka-pubsub brokers %q: want the redpanda service", brokers)
	}
	checkHealthcheck(t, rp, "rpk cluster health")

	pg, ok := p.Services["postgres"]
	if !ok {
		t.Fatal("no postgres service")
	}
	if pg.Image != "postgres:16" {
		t.Errorf("postgres: image %q, want postgres:16", pg.Image)
	}
	checkHealthcheck(t, pg, "pg_isready")
	db, _ := envValue(pg, "POSTGRES_DB")
	conn := componentValue(t, filepath.Join(root(t), composeDir, "components"), "statestore", "connectionString")
	kv := map[string]string{}
	for _, f := range strings.Fields(conn) {
		k, v, _ := strings.Cut(f, "=")
		kv[k] = v
	}
	if kv["host"] != "postgres" || kv["port"] != "5432" || kv["dbname"] != db || db == "" {
		t.Errorf("statestore connectionString %q: want host=postgres port=5432 dbname=%s", conn, db)
	}

	// The one-shot migration, with todo-api's image, before todo-api.
	m, ok := p.Services["migrate"]
	if !ok {
		t.Fatal("no migrate service")
	}
	if m.Image != p.Services["todo-api"].Image {
		t.Errorf("migrate: image %q, want todo-api's %q", m.Image, p.Services["todo-api"].Image)
	}
	if !slices.Equal(m.Command, []string{"migrate"}) {
		t.Errorf("migrate: command %q, want [migrate]", m.Command)
	}
	if m.Restart != "" && m.Restart != types.RestartPolicyNo {
		t.Errorf("migrate: restart %q: a one-shot service must not restart", m.Restart)
	}
	if d, ok := m.DependsOn["postgres"]; !ok || d.Condition != types.ServiceConditionHealthy {
		t.Error("migrate: must depend on postgres with condition service_healthy")
	}
	checkDatabaseURL(t, p, "migrate")
	if d, ok := p.Services["todo-api"].DependsOn["migrate"]; !ok || d.Condition != types.ServiceConditionCompletedSuccessfully {
		t.Error("todo-api: must depend on migrate with condition service_completed_successfully")
	}
	if v, _ := envValue(p.Services["todo-api"], "MIGRATE_ON_START"); v != "false" {
		t.Errorf("todo-api: MIGRATE_ON_START=%q, want false (the migrate service does it)", v)
	}
}

func checkHealthcheck(t testing.TB, s types.ServiceConfig, want string) {
	t.Helper()
	hc := s.HealthCheck
	if hc == nil || hc.Disable || len(hc.Test) < 2 {
		t.Errorf("%s: no healthcheck", s.Name)
		return
	}
	if !strings.Contains(strings.Join(hc.Test[1:], " "), want) {
		t.Errorf("%s: healthcheck %q does not run %s", s.Name, hc.Test, want)
	}
}

// TestComposeStartOrder checks that a cold `docker compose up` cannot wait
// forever: service_healthy only on services that have a healthcheck,
// service_completed_successfully only on one-shot services, and no
// healthcheck in the distroless images (no shell, no curl: it would always
// fail).
func TestComposeStartOrder(t *testing.T) {
	p := loadCompose(t, nil)
	for name, s := range p.Services {
		for dep, d := range s.DependsOn {
			target, ok := p.Services[dep]
			if !ok {
				t.Errorf("%s: depends on unknown service %s", name, dep)
				continue
			}
			switch d.Condition {
			case types.ServiceConditionHealthy:
				if target.HealthCheck == nil || target.HealthCheck.Disable {
					t.Errorf("%s: waits for %s to be healthy, which has no healthcheck", name, dep)
				}
			case types.ServiceConditionCompletedSuccessfully:
				if target.Restart != "" && target.Restart != types.RestartPolicyNo {
					t.Errorf("%s: waits for %s to complete, which restarts (%s)", name, dep, target.Restart)
				}
			case types.ServiceConditionStarted:
			default:
				t.Errorf("%s: depends on %s with condition %q", name, dep, d.Condition)
			}
		}
		repo, _ := imageRepoTag(s.Image)
		distroless := repo == "daprio/daprd" || strings.HasPrefix(repo, "todo-")
		if distroless && s.HealthCheck != nil && !s.HealthCheck.Disable {
			t.Errorf("%s: healthcheck %q cannot run in a distroless image (no shell, no curl)", name, s.HealthCheck.Test)
		}
	}
	// No cycles.
	state := map[string]int{}
	var visit func(string, []string)
	visit = func(n string, path []string) {
		switch state[n] {
		case 1:
			t.Errorf("dependency cycle: %v", append(path, n))
			return
		case 2:
			return
		}
		state[n] = 1
		deps := p.Services[n].GetDependencies()
		slices.Sort(deps)
		for _, d := range deps {
			visit(d, append(path, n))
		}
		state[n] = 2
	}
	for name := range p.Services {
		visit(name, nil)
	}
}

// TestComposePublishesOnlyPublicPorts: the only ports on the host are the
// public ports of the apps that have one (todo-api's API, web-app's pages),
// on the loopback interface; never an app port, a sidecar or a metrics
// port.
func TestComposePublishesOnlyPublicPorts(t *testing.T) {
	p := loadCompose(t, nil)
	allowed := map[string]uint32{}
	appPorts := map[uint32]string{}
	for _, a := range devstackApps(t) {
		if a.Public() {
			allowed[a.ID] = uint32(a.PublicPort)
		}
		appPorts[uint32(a.AppPort)] = a.ID
	}
	published := map[string]bool{}
	for name, s := range p.Services {
		for _, port := range s.Ports {
			if id, ok := appPorts[port.Target]; ok {
				t.Errorf("%s publishes %d, the app port of %s (for its sidecar only)", name, port.Target, id)
			}
			if want, ok := allowed[name]; !ok || port.Target != want || port.Published != strconv.Itoa(int(want)) {
				t.Errorf("%s publishes %s:%s -> %d: only the public ports %v may be published", name, port.HostIP, port.Published, port.Target, allowed)
				continue
			}
			if port.HostIP != "127.0.0.1" {
				t.Errorf("%s: port %s published on %q, want 127.0.0.1 (a laptop, not the network)", name, port.Published, port.HostIP)
			}
			published[name] = true
		}
	}
	for id := range allowed {
		if !published[id] {
			t.Errorf("%s: its public port %d is not published", id, allowed[id])
		}
	}
}

// TestComposeAppTokensPerApp: each app has an APP_API_TOKEN of its own,
// the same on the app and on its sidecar, distinct from every other app's,
// with the defaults and with .env.example's values; DAPR_API_TOKEN may be
// shared.
func TestComposeAppTokensPerApp(t *testing.T) {
	var example []string
	for k, v := range envExample(t) {
		example = append(example, k+"="+v)
	}
	for what, env := range map[string][]string{"defaults": nil, ".env.example": example} {
		p := loadCompose(t, env)
		if problems := appTokenProblems(p, devstackApps(t)); len(problems) > 0 {
			t.Errorf("%s:\n  %s", what, strings.Join(problems, "\n  "))
		}
	}
}

// appTokenProblems lists what is wrong with the apps' APP_API_TOKENs in p.
func appTokenProblems(p *types.Project, apps []app) []string {
	var problems []string
	owner := map[string]string{}
	for _, a := range apps {
		tok, ok := envValue(p.Services[a.ID], "APP_API_TOKEN")
		if !ok || tok == "" {
			problems = append(problems, a.ID+": no APP_API_TOKEN")
			continue
		}
		if other, dup := owner[tok]; dup {
			problems = append(problems, fmt.Sprintf("%s and %s share an APP_API_TOKEN: each app must accept its own sidecar only", other, a.ID))
		}
		owner[tok] = a.ID
		for name, s := range p.Services {
			if s.NetworkMode != "service:"+a.ID {
				continue
			}
			if sv, _ := envValue(s, "APP_API_TOKEN"); sv != tok {
				problems = append(problems, fmt.Sprintf("%s: APP_API_TOKEN differs from its app %s's", name, a.ID))
			}
		}
	}
	return problems
}

func TestComposeAppTokensPerAppDetectsSharing(t *testing.T) {
	apps := devstackApps(t)
	p := loadCompose(t, nil)
	if len(apps) < 2 {
		t.Skip("one app")
	}
	a, b := apps[0].ID, apps[1].ID
	shared, _ := envValue(p.Services[a], "APP_API_TOKEN")
	for name, s := range p.Services {
		if name == b || s.NetworkMode == "service:"+b {
			s.Environment["APP_API_TOKEN"] = &shared
			p.Services[name] = s
		}
	}
	if problems := appTokenProblems(p, apps); len(problems) == 0 {
		t.Fatalf("%s and %s sharing a token went unnoticed", a, b)
	} else {
		t.Logf("reported: %s", strings.Join(problems, "; "))
	}
}
