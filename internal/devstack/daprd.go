package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// DaprVersion is the pinned Dapr runtime version.
const DaprVersion = "1.18.2"

// RepoRoot finds the repository root (the folder with go.mod and
// components/) from the working directory upwards.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if fileExists(filepath.Join(dir, "go.mod")) && fileExists(filepath.Join(dir, "components")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run this from inside the repository (no go.mod with components/ found upwards)")
		}
		dir = parent
	}
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// FindDaprd returns a daprd binary of DaprVersion that needs no build, the
// first of:
//   - $DAPRD, when set (then it is the only candidate);
//   - the Dapr CLI's, ~/.dapr/bin/daprd (`dapr init` or `dapr init --slim`);
//   - daprd on PATH;
//   - this repository's own build, root/.cache/dapr/<version>/daprd.
//
// Each is checked with `daprd --version`. When none fits it returns where
// EnsureDaprd builds one (or $DAPRD) and false.
func FindDaprd(root string) (string, bool) {
	if p := os.Getenv("DAPRD"); p != "" {
		return p, daprdVersion(p) == DaprVersion
	}
	for _, p := range daprdCandidates(root) {
		if daprdVersion(p) == DaprVersion {
			return p, true
		}
	}
	return repoDaprd(root), false
}

func repoDaprd(root string) string {
	return filepath.Join(root, ".cache", "dapr", DaprVersion, "daprd")
}

// daprdCandidates are the places FindDaprd looks, in order, after $DAPRD.
func daprdCandidates(root string) []string {
	var list []string
	if home, err := os.UserHomeDir(); err == nil {
		list = append(list, filepath.Join(home, ".dapr", "bin", "daprd"))
	}
	if p, err := exec.LookPath("daprd"); err == nil {
		list = append(list, p)
	}
	return append(list, repoDaprd(root))
}

// daprdVersion is what `path --version` prints, or "" when it cannot run.
func daprdVersion(path string) string {
	if !fileExists(path) {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "--version").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// EnsureDaprd returns the daprd binary (FindDaprd), building it with
// scripts/build-daprd.sh when none is installed (progress goes to log).
func EnsureDaprd(ctx context.Context, root string, log io.Writer) (string, error) {
	if p, ok := FindDaprd(root); ok {
		return p, nil
	}
	if p := os.Getenv("DAPRD"); p != "" {
		got := daprdVersion(p)
		if got == "" {
			got = "does not run"
		}
		return "", fmt.Errorf("DAPRD=%s: want daprd %s, `%s --version`: %s", p, DaprVersion, p, got)
	}
	fmt.Fprintf(log, "no daprd %s found in ~/.dapr/bin (the Dapr CLI's `dapr init --slim` puts one there) or on PATH:\n"+
		"building it from source, the fallback: about 10 minutes the first time on 2 cores (a 3 GB module download, then the compile), seconds afterwards\n",
		DaprVersion)
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "scripts", "build-daprd.sh"))
	cmd.Env = append(os.Environ(), "DAPR_VERSION="+DaprVersion)
	cmd.Stderr = log
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("build daprd: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Sidecar describes one daprd process.
type Sidecar struct {
	AppID         string
	AppPort       int // 0: no app channel
	HTTPPort      int
	GRPCPort      int
	InternalPort  int // sidecar-to-sidecar gRPC; kept across restarts so peers' name resolution stays right
	MetricsPort   int
	ResourcesPath string
	ConfigFile    string // optional Dapr Configuration
	AppHealthPath string // enables the sidecar's app health checks on this path
	LogLevel      string // default info
}

// NewSidecar picks free ports for a sidecar of appID.
func NewSidecar(appID string, appPort int, resourcesPath string) (Sidecar, error) {
	ports, err := FreePorts(4)
	if err != nil {
		return Sidecar{}, err
	}
	return Sidecar{AppID: appID, AppPort: appPort, HTTPPort: ports[0], GRPCPort: ports[1], MetricsPort: ports[2],
		InternalPort: ports[3], ResourcesPath: resourcesPath}, nil
}

// Args are daprd's command-line arguments.
func (s Sidecar) Args() []string {
	level := s.LogLevel
	if level == "" {
		level = "info"
	}
	args := []string{
		"--app-id", s.AppID,
		"--dapr-http-port", strconv.Itoa(s.HTTPPort),
		"--dapr-grpc-port", strconv.Itoa(s.GRPCPort),
		"--metrics-port", strconv.Itoa(s.MetricsPort),
		"--dapr-internal-grpc-port", strconv.Itoa(s.InternalPort),
		"--dapr-listen-addresses", "127.0.0.1",
		"--metrics-listen-address", "127.0.0.1",
		"--resources-path", s.ResourcesPath,
		"--log-level", level,
	}
	if s.AppPort > 0 {
		args = append(args, "--app-port", strconv.Itoa(s.AppPort), "--app-protocol", "http",
			"--app-channel-address", "127.0.0.1")
	}
	if s.AppHealthPath != "" {
		// While the app is unhealthy the sidecar pauses its subscriptions and
		// bindings, so events wait on the broker instead of burning their
		// bounded retries and landing on the dead-letter topic.
		args = append(args, "--enable-app-health-check", "--app-health-check-path", s.AppHealthPath,
			"--app-health-probe-interval", "1", "--app-health-probe-timeout", "500", "--app-health-threshold", "2")
	}
	if s.ConfigFile != "" {
		args = append(args, "--config", s.ConfigFile)
	}
	return args
}

// HTTPEndpoint is the sidecar's HTTP API address.
func (s Sidecar) HTTPEndpoint() string { return "http://127.0.0.1:" + strconv.Itoa(s.HTTPPort) }
