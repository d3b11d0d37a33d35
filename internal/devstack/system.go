package devstack

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/evolution-todo/todo/internal/contract/webapi"
)

// Config describes one local system.
type Config struct {
	Root          string    // repository root (components/ is read from here)
	WorkDir       string    // per-run folder: rendered components
	Out           io.Writer // prefixed process output
	Daprd         string    // daprd binary
	BinDir        string    // this repository's binaries (BuildBinaries)
	DatabaseURL   string    // the todo database (it must exist)
	FixedPorts    bool      // the documented ports (8080.., 3500.., 9092) and the machine's broker servers, instead of free ports and brokers of its own
	Broker        Broker    // the pub/sub broker ("" = Kafka)
	BrokerDataDir string    // keep broker data here across restarts ("" = memory)
	// DirectBroker connects a test system's sidecars to the machine's
	// RabbitMQ directly, without the proxy that RestartBroker cuts: the
	// bench measures the broker, not the proxy.
	DirectBroker bool
	CronSchedule string              // reminder-cron schedule ("" = the file's)
	JWTSecret    string              // HS256 secret shared by todo-api and token minting
	CookieKeys   string              // web-app's COOKIE_KEYS ("": a fresh one for this system)
	TokenKeys    string              // web-app's API_TOKEN_KEYS ("": a fresh one for this system)
	LogLevel     string              // LOG_LEVEL of the services
	LogFormat    string              // LOG_FORMAT of the services (json or text)
	DaprLogLevel string              // daprd --log-level (default info)
	OnlyApps     []string            // start only these app ids (default: all)
	NoApps       bool                // start the broker and render the components, but no app (the pub/sub suite)
	AppEnv       []string            // added to every app's environment
	AppEnvFor    map[string][]string // added to the environment of the app with this id
	DevSignIn    bool                // web-app's dev sign-in (a user name alone): local runs and tests only
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
	return sys, sys.waitWebKeys(ctx)
}

// waitWebKeys waits, when todo-api and web-app both run, until todo-api's
// sidecar reaches web-app's public keys, which todo-api reads through it to
// verify the tokens of the pages' calls. A sidecar finds another app by
// name (mDNS locally) some seconds after that app started; until then
// todo-api refuses the pages' tokens, so a page opened at once would be
// signed out.
func (s *System) waitWebKeys(ctx context.Context) error {
	api, web := s.Instances["todo-api"], s.Instances["web-app"]
	if api == nil || web == nil {
		return nil
	}
	url := api.Sidecar.HTTPEndpoint() + "/v1.0/invoke/" + webapi.AppID + "/method/" + webapi.PathJWKS
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	var last string
	for {
		req, err := http.NewRequestWithContext(wctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		req.Header.Set("dapr-api-token", s.DaprToken)
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-wctx.Done():
			return fmt.Errorf("todo-api's sidecar did not reach web-app's keys (%s): %w (last answer: %s)", url, wctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
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
	env = append(env, s.extraEnv(inst)...)
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
