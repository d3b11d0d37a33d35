package devstack

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// App is one service of the system and how to run it.
type App struct {
	ID     string // Dapr app id
	Binary string // ./cmd/<Binary>
	// PublicPort is the port people and clients reach (HTTP_ADDR) with
	// fixed ports; 0 for an app without one.
	PublicPort int
	// AppPort is the app port (APP_ADDR) with fixed ports: what its
	// sidecar calls, and the probes. Nothing outside reaches it.
	AppPort     int
	DaprPort    int    // sidecar HTTP port with fixed ports
	MetricsPort int    // app metrics port with fixed ports
	NeedsDB     bool   // gets DATABASE_URL
	Description string // one line: what it does (its image's description label)
	ExtraEnvFor func(sys *System, inst *Instance) []string
}

// Apps are the services, in start order: the registry of the system's apps.
// Every field is a literal, because the offline checks and generators of the
// deployment files (deploy/registry) read this table from the source:
// dapr.yaml, deploy/compose and the Dockerfile are generated from it, the
// Helm chart's apps are checked against it (docs/contributing.md, "Add a
// consumer app").
var Apps = []App{
	{ID: "todo-api", Binary: "todo-api", PublicPort: 8080, AppPort: 8090, DaprPort: 3500, MetricsPort: 9464, NeedsDB: true,
		Description: "REST API and outbox relay of the todo system",
		ExtraEnvFor: func(sys *System, _ *Instance) []string {
			return []string{"JWT_SECRET=" + sys.Cfg.JWTSecret, "OUTBOX_POLL_INTERVAL=2s", "WEB_TOKEN_ISSUER=todo-web-app"}
		}},
	{ID: "audit-service", Binary: "audit", AppPort: 8091, DaprPort: 3501, MetricsPort: 9465, NeedsDB: true,
		Description: "Audit log of task events"},
	{ID: "recurring-service", Binary: "recurring", AppPort: 8092, DaprPort: 3502, MetricsPort: 9466,
		Description: "Next occurrences of recurring tasks"},
	{ID: "reminder-service", Binary: "reminder", AppPort: 8093, DaprPort: 3503, MetricsPort: 9467,
		Description: "Cron-triggered reminder sweep"},
	{ID: "notification-service", Binary: "notifier", AppPort: 8094, DaprPort: 3504, MetricsPort: 9468,
		Description: "Reminder inboxes"},
	{ID: "web-app", Binary: "web", PublicPort: 8085, AppPort: 8095, DaprPort: 3505, MetricsPort: 9469,
		Description: "Web pages, sign-in and live updates of the todo system",
		ExtraEnvFor: func(sys *System, inst *Instance) []string {
			return []string{"TODO_API_URL=" + sys.APIURL(), "PUBLIC_URL=" + inst.URL(),
				"DEV_SIGNIN=" + strconv.FormatBool(sys.Cfg.DevSignIn),
				"COOKIE_KEYS=" + sys.Cfg.CookieKeys, "API_TOKEN_KEYS=" + sys.Cfg.TokenKeys}
		}},
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

// Config describes one local system.
type Config struct {
	Root          string              // repository root (components/ is read from here)
	WorkDir       string              // per-run folder: rendered components
	Out           io.Writer           // prefixed process output
	Daprd         string              // daprd binary
	BinDir        string              // this repository's binaries (BuildBinaries)
	DatabaseURL   string              // the todo database (it must exist)
	FixedPorts    bool                // the documented ports (8080.., 3500.., 9092) and the machine's broker servers, instead of free ports and brokers of its own
	Broker        Broker              // the pub/sub broker ("" = Kafka)
	BrokerDataDir string              // keep broker data here across restarts ("" = memory)
	CronSchedule  string              // reminder-cron schedule ("" = the file's)
	JWTSecret     string              // HS256 secret shared by todo-api and token minting
	CookieKeys    string              // web-app's COOKIE_KEYS ("": a fresh one for this system)
	TokenKeys     string              // web-app's API_TOKEN_KEYS ("": a fresh one for this system)
	LogLevel      string              // LOG_LEVEL of the services
	LogFormat     string              // LOG_FORMAT of the services (json or text)
	DaprLogLevel  string              // daprd --log-level (default info)
	OnlyApps      []string            // start only these app ids (default: all)
	NoApps        bool                // start the broker and render the components, but no app (the pub/sub suite)
	AppEnv        []string            // added to every app's environment
	AppEnvFor     map[string][]string // added to the environment of the app with this id
	DevSignIn     bool                // web-app's dev sign-in (a user name alone): local runs and tests only
	// LockWait is how long Up waits for another local system on this
	// machine to stop (see lock.go); 0 fails at once.
	LockWait time.Duration
	// LockHeld says the caller already holds the machine lock
	// (LockMachine), so Up does not take it.
	LockHeld bool
}

// Instance is one running copy of an app and its sidecar.
type Instance struct {
	App         App
	Name        string // app id, or app id plus a replica suffix
	Port        int    // the public port; 0 for an app without one
	AppPort     int    // the app port, which its sidecar calls
	MetricsPort int
	Sidecar     Sidecar
	Proc        *Process
	Daprd       *Process
}

// URL is the app's public base URL ("" for an app without a public port).
func (i *Instance) URL() string {
	if i.Port == 0 {
		return ""
	}
	return "http://127.0.0.1:" + strconv.Itoa(i.Port)
}

// AppURL is the base URL of the app port: what the sidecar calls.
func (i *Instance) AppURL() string { return "http://127.0.0.1:" + strconv.Itoa(i.AppPort) }

// MetricsURL is where the app's Prometheus metrics are.
func (i *Instance) MetricsURL() string {
	return "http://127.0.0.1:" + strconv.Itoa(i.MetricsPort) + "/metrics"
}

// System is a running local system.
type System struct {
	*Stack
	Cfg           Config
	ComponentsDir string // rendered components used by every sidecar
	BrokerKind    Broker
	BrokerPort    int
	Broker        *Process             // the system's own broker process; nil on a shared server
	Vhost         string               // RabbitMQ: the system's virtual host
	proxy         *tcpProxy            // RabbitMQ in a test system: what RestartBroker cuts
	Instances     map[string]*Instance // by Name
	// DaprToken and AppTokens secure the app <-> sidecar calls: every
	// sidecar requires DaprToken from its app, and each app requires its
	// own token of AppTokens (by app id) from its sidecar.
	DaprToken string
	AppTokens map[string]string
}

// AppToken is the app API token of app id.
func (s *System) AppToken(id string) string { return s.AppTokens[id] }

// APIURL is todo-api's base URL.
func (s *System) APIURL() string { return s.Instances["todo-api"].URL() }

// BrokerAddr is the broker's host:port.
func (s *System) BrokerAddr() string { return "127.0.0.1:" + strconv.Itoa(s.BrokerPort) }

func randomToken() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// NewSigningKey is a fresh Ed25519 key for web-app's API_TOKEN_KEYS: the
// base64 of 32 random bytes.
func NewSigningKey() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

// Up starts the broker and every app with its sidecar, and waits until all
// are ready. On error, whatever was started is stopped.
func Up(ctx context.Context, cfg Config) (sys *System, err error) {
	sys = &System{
		Stack:     &Stack{Out: cfg.Out, Daprd: cfg.Daprd, BinDir: cfg.BinDir},
		Cfg:       cfg,
		Instances: map[string]*Instance{},
		DaprToken: randomToken(),
		AppTokens: map[string]string{},
	}
	for _, a := range Apps {
		sys.AppTokens[a.ID] = randomToken()
	}
	if sys.Cfg.CookieKeys == "" {
		sys.Cfg.CookieKeys = randomToken()
	}
	if sys.Cfg.TokenKeys == "" {
		sys.Cfg.TokenKeys = NewSigningKey()
	}
	if !cfg.LockHeld {
		lock, err := lockMachine(ctx, cfg.LockWait, func(msg string) { fmt.Fprintln(cfg.Out, "devstack | "+msg) })
		if err != nil {
			return nil, err
		}
		sys.lock = lock
	}
	started := sys // the named result is nil on the error paths
	defer func() {
		if err != nil {
			started.Close()
		}
	}()
	if sys.BrokerKind, err = ParseBroker(string(cfg.Broker)); err != nil {
		return nil, err
	}
	if err := sys.startBroker(ctx); err != nil {
		return nil, err
	}
	sys.ComponentsDir = filepath.Join(cfg.WorkDir, "components")
	if err := os.RemoveAll(sys.ComponentsDir); err != nil {
		return nil, err
	}
	if err := RenderComponents(filepath.Join(cfg.Root, "components"), sys.ComponentsDir, Overrides{
		Broker:          sys.BrokerKind,
		BrokerAddress:   sys.BrokerAddress(),
		StateConnection: cfg.DatabaseURL,
		CronSchedule:    cfg.CronSchedule,
	}); err != nil {
		return nil, fmt.Errorf("render components: %w", err)
	}
	for _, app := range Apps {
		if cfg.NoApps || len(cfg.OnlyApps) > 0 && !slices.Contains(cfg.OnlyApps, app.ID) {
			continue
		}
		if _, err := sys.StartInstance(ctx, app, app.ID); err != nil {
			return nil, err
		}
	}
	return sys, nil
}

// StartInstance starts a copy of app named name (the app id for the first,
// something like "reminder-service#2" for a replica) with its own sidecar,
// and waits until both are ready.
func (s *System) StartInstance(ctx context.Context, app App, name string) (*Instance, error) {
	port, appPort, daprPort, metricsPort := app.PublicPort, app.AppPort, app.DaprPort, app.MetricsPort
	if !s.Cfg.FixedPorts || name != app.ID {
		ports, err := FreePorts(4)
		if err != nil {
			return nil, err
		}
		appPort, daprPort, metricsPort = ports[0], ports[1], ports[2]
		if port != 0 {
			port = ports[3]
		}
	}
	sc, err := NewSidecar(app.ID, appPort, s.ComponentsDir)
	if err != nil {
		return nil, err
	}
	sc.HTTPPort = daprPort
	sc.LogLevel = s.Cfg.DaprLogLevel
	sc.ConfigFile = s.DaprConfig()
	sc.AppHealthPath = "/healthz"
	inst := &Instance{App: app, Name: name, Port: port, AppPort: appPort, MetricsPort: metricsPort, Sidecar: sc}
	s.Instances[name] = inst
	if err := s.StartAppProcess(ctx, inst); err != nil {
		return inst, err
	}
	if err := s.StartDaprd(ctx, inst); err != nil {
		return inst, err
	}
	return inst, s.waitQueues(ctx, inst)
}

// DaprConfig is the Dapr Configuration every sidecar of the system runs
// with: the repository's dapr/config.yaml.
func (s *System) DaprConfig() string { return filepath.Join(s.Cfg.Root, "dapr", "config.yaml") }

// StartAppProcess (re)starts an instance's app process and waits for /readyz.
func (s *System) StartAppProcess(ctx context.Context, inst *Instance) error {
	env := []string{
		"APP_ADDR=127.0.0.1:" + strconv.Itoa(inst.AppPort),
		"METRICS_ADDR=127.0.0.1:" + strconv.Itoa(inst.MetricsPort),
		"DAPR_HTTP_PORT=" + strconv.Itoa(inst.Sidecar.HTTPPort),
		"DAPR_API_TOKEN=" + s.DaprToken,
		"APP_API_TOKEN=" + s.AppToken(inst.App.ID),
	}
	if inst.Port != 0 {
		env = append(env, "HTTP_ADDR=127.0.0.1:"+strconv.Itoa(inst.Port))
	}
	if inst.App.NeedsDB {
		env = append(env, "DATABASE_URL="+s.Cfg.DatabaseURL)
	}
	if s.Cfg.LogLevel != "" {
		env = append(env, "LOG_LEVEL="+s.Cfg.LogLevel)
	}
	if s.Cfg.LogFormat != "" {
		env = append(env, "LOG_FORMAT="+s.Cfg.LogFormat)
	}
	if inst.App.ExtraEnvFor != nil {
		env = append(env, inst.App.ExtraEnvFor(s, inst)...)
	}
	env = append(env, s.Cfg.AppEnv...)
	env = append(env, s.Cfg.AppEnvFor[inst.App.ID]...)
	p, err := s.StartApp(ctx, inst.Name, inst.App.Binary, env, inst.AppURL()+"/readyz")
	inst.Proc = p
	return err
}

// StartDaprd (re)starts an instance's sidecar, on the same ports, and waits
// until it is healthy.
func (s *System) StartDaprd(ctx context.Context, inst *Instance) error {
	p, err := s.StartSidecar(ctx, inst.Sidecar, []string{"DAPR_API_TOKEN=" + s.DaprToken, "APP_API_TOKEN=" + s.AppToken(inst.App.ID),
		// {podName} in component metadata: what the pod's name is in
		// Kubernetes, the instance's name here.
		"POD_NAME=" + strings.ReplaceAll(inst.Name, "#", "-")})
	inst.Daprd = p
	return err
}
