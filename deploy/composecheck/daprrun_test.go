package composecheck

import (
	"bytes"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The Dapr CLI's multi-app run file, with the fields and YAML names of
// github.com/dapr/cli pkg/runfileconfig and pkg/standalone (RunFileConfig,
// App, RunConfig, SharedRunConfig). Decoded with unknown fields refused, so
// a misspelt key (which the CLI would silently ignore) fails the check.
type runFile struct {
	Version int       `yaml:"version"`
	Name    string    `yaml:"name"`
	Common  sharedRun `yaml:"common"`
	Apps    []runApp  `yaml:"apps"`
}

type sharedRun struct {
	ConfigFile           string            `yaml:"configFilePath"`
	AppProtocol          string            `yaml:"appProtocol"`
	APIListenAddresses   string            `yaml:"apiListenAddresses"`
	EnableProfiling      bool              `yaml:"enableProfiling"`
	LogLevel             string            `yaml:"logLevel"`
	MaxConcurrency       int               `yaml:"appMaxConcurrency"`
	PlacementHostAddr    string            `yaml:"placementHostAddress"`
	ResourcesPath        string            `yaml:"resourcesPath"`
	ResourcesPaths       []string          `yaml:"resourcesPaths"`
	AppSSL               bool              `yaml:"appSSL"`
	MaxRequestBodySize   string            `yaml:"maxBodySize"`
	HTTPReadBufferSize   string            `yaml:"readBufferSize"`
	EnableAppHealth      *bool             `yaml:"enableAppHealthCheck"`
	AppHealthPath        string            `yaml:"appHealthCheckPath"`
	AppHealthInterval    int               `yaml:"appHealthProbeInterval"`
	AppHealthTimeout     int               `yaml:"appHealthProbeTimeout"`
	AppHealthThreshold   int               `yaml:"appHealthThreshold"`
	EnableAPILogging     bool              `yaml:"enableApiLogging"`
	DaprdInstallPath     string            `yaml:"runtimePath"`
	Env                  map[string]string `yaml:"env"`
	DaprdLogDestination  string            `yaml:"daprdLogDestination"`
	AppLogDestination    string            `yaml:"appLogDestination"`
	SchedulerHostAddress string            `yaml:"schedulerHostAddress"`
}

type runApp struct {
	sharedRun         `yaml:",inline"`
	AppID             string   `yaml:"appID"`
	AppChannelAddress string   `yaml:"appChannelAddress"`
	AppPort           int      `yaml:"appPort"`
	HTTPPort          int      `yaml:"daprHTTPPort"`
	GRPCPort          int      `yaml:"daprGRPCPort"`
	ProfilePort       int      `yaml:"profilePort"`
	Command           []string `yaml:"command"`
	MetricsPort       int      `yaml:"metricsPort"`
	UnixDomainSocket  string   `yaml:"unixDomainSocket"`
	InternalGRPCPort  int      `yaml:"daprInternalGRPCPort"`
	AppDirPath        string   `yaml:"appDirPath"`
	ContainerImage    string   `yaml:"containerImage"`
	ImagePullPolicy   string   `yaml:"containerImagePullPolicy"`
	CreateService     bool     `yaml:"createService"`
}

func loadRunFile(t testing.TB) runFile {
	t.Helper()
	dec := yaml.NewDecoder(bytes.NewReader(readFile(t, filepath.Join(root(t), "dapr.yaml"))))
	dec.KnownFields(true)
	var rf runFile
	if err := dec.Decode(&rf); err != nil {
		t.Fatalf("dapr.yaml does not parse as a Dapr CLI run file: %v", err)
	}
	return rf
}

// effective merges common into an app the way the CLI does: an app's
// unset (zero) shared field takes common's value; env is merged key by key.
func effective(common sharedRun, a runApp) sharedRun {
	s := a.sharedRun
	if s.APIListenAddresses == "" {
		s.APIListenAddresses = common.APIListenAddresses
	}
	if s.EnableAppHealth == nil {
		s.EnableAppHealth = common.EnableAppHealth
	}
	if s.AppHealthPath == "" {
		s.AppHealthPath = common.AppHealthPath
	}
	if s.AppHealthInterval == 0 {
		s.AppHealthInterval = common.AppHealthInterval
	}
	if s.AppHealthTimeout == 0 {
		s.AppHealthTimeout = common.AppHealthTimeout
	}
	if s.AppHealthThreshold == 0 {
		s.AppHealthThreshold = common.AppHealthThreshold
	}
	if s.AppProtocol == "" {
		s.AppProtocol = common.AppProtocol
	}
	env := map[string]string{}
	for k, v := range common.Env {
		env[k] = v
	}
	for k, v := range a.Env {
		env[k] = v
	}
	s.Env = env
	return s
}

func TestDaprRunFile(t *testing.T) {
	rf := loadRunFile(t)
	repoRoot := root(t)
	apps := devstackApps(t)
	launcherFlags := launcherDaprdFlags(t)
	healthPath := launcherHealthPath(t)

	if rf.Version != 1 {
		t.Errorf("version %d, want 1", rf.Version)
	}
	// Relative paths of common are resolved against the run file's folder.
	resources := rf.Common.ResourcesPaths
	if rf.Common.ResourcesPath != "" {
		resources = append(resources, rf.Common.ResourcesPath)
	}
	if len(resources) != 1 || filepath.Join(repoRoot, resources[0]) != filepath.Join(repoRoot, "components") {
		t.Errorf("common resources %v, want ./components (the single source)", resources)
	}
	if rf.Common.ConfigFile == "" || filepath.Join(repoRoot, rf.Common.ConfigFile) != filepath.Join(repoRoot, "dapr", "config.yaml") {
		t.Errorf("common configFilePath %q, want ./dapr/config.yaml (every sidecar's Configuration, as make run's)", rf.Common.ConfigFile)
	}
	for _, key := range []string{"DAPR_API_TOKEN", "APP_API_TOKEN", "DAPR_HTTP_PORT"} {
		if _, ok := rf.Common.Env[key]; ok {
			t.Errorf("common env sets %s: %s", key, whyNotInEnv[key])
		}
	}

	byID := map[string]runApp{}
	for _, a := range rf.Apps {
		if _, dup := byID[a.AppID]; dup {
			t.Errorf("app %s listed twice", a.AppID)
		}
		byID[a.AppID] = a
	}
	if len(rf.Apps) != len(apps) {
		t.Errorf("%d apps, want the %d services of internal/devstack", len(rf.Apps), len(apps))
	}

	metrics := map[string]string{}
	taken := map[int]bool{}
	for _, a := range apps {
		taken[a.PublicPort], taken[a.AppPort], taken[a.DaprPort] = true, true, true
	}
	for _, want := range apps {
		a, ok := byID[want.ID]
		if !ok {
			t.Errorf("app %s missing", want.ID)
			continue
		}
		if filepath.Join(repoRoot, a.AppDirPath) != repoRoot {
			t.Errorf("%s: appDirPath %q, want . (the commands run from the repository root)", a.AppID, a.AppDirPath)
		}
		// The sidecar calls the app port, never the public one.
		if a.AppPort != want.AppPort || a.HTTPPort != want.DaprPort {
			t.Errorf("%s: appPort %d daprHTTPPort %d, want the app port %d and %d (as make run)", a.AppID, a.AppPort, a.HTTPPort, want.AppPort, want.DaprPort)
		}
		if cmd := []string{"go", "run", "./cmd/" + want.Binary}; !slices.Equal(a.Command, cmd) {
			t.Errorf("%s: command %q, want %q", a.AppID, a.Command, cmd)
		}
		if _, err := os.Stat(filepath.Join(repoRoot, "cmd", want.Binary, "main.go")); err != nil {
			t.Errorf("%s: %v", a.AppID, err)
		}
		if len(a.ResourcesPaths) > 0 || a.ResourcesPath != "" {
			t.Errorf("%s: own resources path; every app uses common's ./components", a.AppID)
		}
		if a.Env == nil && len(rf.Common.Env) > 0 {
			// The CLI writes common's env into the app's map: a nil map panics.
			t.Errorf("%s: give the app an env map (the Dapr CLI cannot merge common env into a missing one)", a.AppID)
		}

		e := effective(rf.Common, a)
		if e.EnableAppHealth == nil || !*e.EnableAppHealth {
			t.Errorf("%s: enableAppHealthCheck must be true", a.AppID)
		}
		if e.AppHealthPath != healthPath {
			t.Errorf("%s: appHealthCheckPath %q, want %q", a.AppID, e.AppHealthPath, healthPath)
		}
		for flag, got := range map[string]string{
			"--app-health-probe-interval": strconv.Itoa(e.AppHealthInterval),
			"--app-health-probe-timeout":  strconv.Itoa(e.AppHealthTimeout),
			"--app-health-threshold":      strconv.Itoa(e.AppHealthThreshold),
			"--dapr-listen-addresses":     e.APIListenAddresses,
		} {
			if want := launcherFlags[flag]; got != want {
				t.Errorf("%s: %s is %q here, the launcher uses %q", a.AppID, flag, got, want)
			}
		}
		if e.AppProtocol != "" && e.AppProtocol != launcherFlags["--app-protocol"] {
			t.Errorf("%s: appProtocol %q, the launcher uses %q", a.AppID, e.AppProtocol, launcherFlags["--app-protocol"])
		}

		// The environment the launcher gives the app.
		if got := e.Env["APP_ADDR"]; got != "127.0.0.1:"+strconv.Itoa(want.AppPort) {
			t.Errorf("%s: APP_ADDR %q, want 127.0.0.1:%d (its app port, which appPort names)", a.AppID, got, want.AppPort)
		}
		got, ok := e.Env["HTTP_ADDR"]
		switch {
		case want.Public() && got != "127.0.0.1:"+strconv.Itoa(want.PublicPort):
			t.Errorf("%s: HTTP_ADDR %q, want 127.0.0.1:%d", a.AppID, got, want.PublicPort)
		case !want.Public() && ok:
			t.Errorf("%s: HTTP_ADDR %q set for an app without a public port", a.AppID, got)
		}
		if _, ok := e.Env["DATABASE_URL"]; ok != want.NeedsDB {
			t.Errorf("%s: DATABASE_URL set: %v, want %v (as the launcher)", a.AppID, ok, want.NeedsDB)
		}
		for key, v := range want.ExtraEnv {
			got, ok := e.Env[key]
			if !ok || (v != "" && got != v) {
				t.Errorf("%s: %s=%q, the launcher sets %q", a.AppID, key, got, v)
			}
		}
		// The dev sign-in only on a loopback PUBLIC_URL (web-app refuses it
		// otherwise), without an identity provider.
		if on, _ := strconv.ParseBool(e.Env["DEV_SIGNIN"]); on {
			u, err := url.Parse(e.Env["PUBLIC_URL"])
			if err != nil || !isLoopbackHost(u.Hostname()) || e.Env["OIDC_ISSUER"] != "" {
				t.Errorf("%s: DEV_SIGNIN=true with PUBLIC_URL %q and OIDC_ISSUER %q: only on a loopback address, without OIDC", a.AppID, e.Env["PUBLIC_URL"], e.Env["OIDC_ISSUER"])
			}
		}
		if s, ok := e.Env["JWT_SECRET"]; ok && len(s) < 32 {
			t.Errorf("%s: JWT_SECRET is %d bytes, at least 32 are needed", a.AppID, len(s))
		}
		for _, key := range []string{"DAPR_API_TOKEN", "APP_API_TOKEN", "DAPR_HTTP_PORT"} {
			if _, ok := a.Env[key]; ok {
				t.Errorf("%s: env sets %s: %s", a.AppID, key, whyNotInEnv[key])
			}
		}
		// One host: every app needs its own metrics port.
		m, ok := e.Env["METRICS_ADDR"]
		if !ok {
			t.Errorf("%s: METRICS_ADDR not set (all apps run on one host; the default :9464 would collide)", a.AppID)
			continue
		}
		_, port, err := net.SplitHostPort(m)
		p, _ := strconv.Atoi(port)
		switch {
		case err != nil || p == 0:
			t.Errorf("%s: METRICS_ADDR %q is not host:port", a.AppID, m)
		case taken[p]:
			t.Errorf("%s: METRICS_ADDR %q collides with another port of the system", a.AppID, m)
		case want.MetricsPort != 0 && p != want.MetricsPort:
			t.Errorf("%s: METRICS_ADDR %q, the launcher uses port %d", a.AppID, m, want.MetricsPort)
		}
		if other, dup := metrics[m]; dup {
			t.Errorf("%s and %s both use METRICS_ADDR %s", other, a.AppID, m)
		}
		metrics[m] = a.AppID
		taken[p] = true
	}
	for id := range byID {
		if _, ok := byIDOf(apps)[id]; !ok {
			t.Errorf("app %s is not one of the services of internal/devstack", id)
		}
	}
}

var whyNotInEnv = map[string]string{
	"DAPR_API_TOKEN": "the CLI gives env to the app only, not to daprd, so the two would disagree; export it in the shell instead",
	"APP_API_TOKEN":  "the CLI gives env to the app only, not to daprd, which would then not send it and every sidecar call would be refused; export it in the shell instead",
	"DAPR_HTTP_PORT": "the CLI sets it from daprHTTPPort",
}

func byIDOf(apps []app) map[string]app {
	m := map[string]app{}
	for _, a := range apps {
		m[a.ID] = a
	}
	return m
}
