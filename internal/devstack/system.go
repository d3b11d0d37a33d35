package devstack

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
)

// Config describes one local system. Zero ports are picked free.
type Config struct {
	Root          string    // repository root (components/ is read from here)
	WorkDir       string    // per-run folder: rendered components
	Out           io.Writer // prefixed process output
	Daprd         string    // daprd binary
	BinDir        string    // this repository's binaries (BuildBinaries)
	DatabaseURL   string    // the todo database (it must exist)
	APIPort       int       // todo-api's port
	DaprHTTPPort  int       // todo-api sidecar's HTTP port
	BrokerPort    int       // dev broker's port
	BrokerDataDir string    // keep broker data here across restarts ("" = memory)
	CronSchedule  string    // reminder-cron schedule ("" = the file's)
	JWTSecret     string    // HS256 secret shared by todo-api and token minting
	LogLevel      string    // LOG_LEVEL of the services
	LogFormat     string    // LOG_FORMAT of the services (json or text)
}

// System is a running local system.
type System struct {
	*Stack
	Cfg           Config
	ComponentsDir string             // rendered components used by every sidecar
	Sidecars      map[string]Sidecar // by app id
	Broker        *Process
	Apps          map[string]*Process // by app id
	Daprds        map[string]*Process // by app id
}

// APIURL is todo-api's base URL.
func (s *System) APIURL() string { return "http://127.0.0.1:" + strconv.Itoa(s.Cfg.APIPort) }

// BrokerAddr is the dev broker's address.
func (s *System) BrokerAddr() string { return "127.0.0.1:" + strconv.Itoa(s.Cfg.BrokerPort) }

// Up starts the broker and every app with its sidecar, and waits until all
// are ready. On error, whatever was started is stopped.
func Up(ctx context.Context, cfg Config) (sys *System, err error) {
	sys = &System{
		Stack:    &Stack{Out: cfg.Out, Daprd: cfg.Daprd, BinDir: cfg.BinDir},
		Sidecars: map[string]Sidecar{},
		Apps:     map[string]*Process{},
		Daprds:   map[string]*Process{},
	}
	defer func() {
		if err != nil {
			sys.Close()
		}
	}()
	for _, p := range []*int{&cfg.APIPort, &cfg.DaprHTTPPort, &cfg.BrokerPort} {
		if *p == 0 {
			if *p, err = FreePort(); err != nil {
				return nil, err
			}
		}
	}
	sys.Cfg = cfg

	sys.ComponentsDir = filepath.Join(cfg.WorkDir, "components")
	if err := RenderComponents(filepath.Join(cfg.Root, "components"), sys.ComponentsDir, Overrides{
		Brokers:         sys.BrokerAddr(),
		StateConnection: cfg.DatabaseURL,
		CronSchedule:    cfg.CronSchedule,
	}); err != nil {
		return nil, fmt.Errorf("render components: %w", err)
	}

	if sys.Broker, err = sys.StartBroker(ctx, cfg.BrokerPort, cfg.BrokerDataDir); err != nil {
		return nil, err
	}

	sc, err := NewSidecar("todo-api", cfg.APIPort, sys.ComponentsDir)
	if err != nil {
		return nil, err
	}
	if cfg.DaprHTTPPort != 0 {
		sc.HTTPPort = cfg.DaprHTTPPort
	}
	sys.Sidecars["todo-api"] = sc
	if err := sys.StartTodoAPI(ctx); err != nil {
		return nil, err
	}
	if err := sys.StartDaprd(ctx, "todo-api"); err != nil {
		return nil, err
	}
	return sys, nil
}

// StartTodoAPI (re)starts todo-api and waits for /readyz.
func (s *System) StartTodoAPI(ctx context.Context) error {
	env := []string{
		"HTTP_ADDR=127.0.0.1:" + strconv.Itoa(s.Cfg.APIPort),
		"DATABASE_URL=" + s.Cfg.DatabaseURL,
		"DAPR_HTTP_PORT=" + strconv.Itoa(s.Sidecars["todo-api"].HTTPPort),
		"JWT_SECRET=" + s.Cfg.JWTSecret,
		"OUTBOX_POLL_INTERVAL=2s",
	}
	if s.Cfg.LogLevel != "" {
		env = append(env, "LOG_LEVEL="+s.Cfg.LogLevel)
	}
	if s.Cfg.LogFormat != "" {
		env = append(env, "LOG_FORMAT="+s.Cfg.LogFormat)
	}
	p, err := s.StartApp(ctx, "todo-api", "todo-api", env, s.APIURL()+"/readyz")
	s.Apps["todo-api"] = p
	return err
}

// StartDaprd (re)starts the sidecar of appID and waits until it is healthy.
func (s *System) StartDaprd(ctx context.Context, appID string) error {
	p, err := s.StartSidecar(ctx, s.Sidecars[appID], nil)
	s.Daprds[appID] = p
	return err
}
