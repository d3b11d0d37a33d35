package devstack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Broker names a pub/sub broker the system runs on. Its components are
// components/pubsub*.yaml for Kafka and components/brokers/<name>/ for the
// others (BrokerDir).
type Broker string

// The brokers: Kafka (the dev broker locally, Redpanda or a managed Kafka in
// production), Redis Streams, RabbitMQ and MQTT 3.1.1.
const (
	Kafka    Broker = "kafka"
	Redis    Broker = "redis"
	RabbitMQ Broker = "rabbitmq"
	MQTT     Broker = "mqtt"
)

// Brokers are every broker the system runs on, the default first.
var Brokers = []Broker{Kafka, Redis, RabbitMQ, MQTT}

// ParseBroker reads a broker name; "" is Kafka.
func ParseBroker(s string) (Broker, error) {
	if s == "" {
		return Kafka, nil
	}
	for _, b := range Brokers {
		if string(b) == s {
			return b, nil
		}
	}
	return "", fmt.Errorf("unknown broker %q (one of %s)", s, brokerList())
}

func brokerList() string {
	names := make([]string, len(Brokers))
	for i, b := range Brokers {
		names[i] = string(b)
	}
	return strings.Join(names, ", ")
}

// The machine's own servers, which a local run (FixedPorts) uses for the
// brokers other than Kafka: what `dapr init` (Redis) or the distributions'
// packages start.
const (
	sharedRedis    = "127.0.0.1:6379"
	sharedRabbitMQ = "127.0.0.1:5672"
	sharedMQTT     = "127.0.0.1:1883"
	// devVhost is the RabbitMQ virtual host of local runs; tests make one
	// each.
	devVhost = "todo"
)

// liveQueuePolicy deletes a web-app replica's live-stream queues a minute
// after their last consumer is gone and keeps them short meanwhile
// (components/brokers/rabbitmq/pubsub-live.yaml says why).
const liveQueuePolicy = `{"expires":60000,"max-length":10000}`

// BrokerMissing says what a test system on broker b needs and this
// machine lacks ("" when nothing): the server binaries it starts (Redis,
// Mosquitto), or RabbitMQ's server and rabbitmqctl.
func BrokerMissing(b Broker) string {
	var need []string
	switch b {
	case Redis:
		need = []string{"redis-server", "redis-cli"}
	case MQTT:
		need = []string{"mosquitto"}
	case RabbitMQ:
		need = []string{"rabbitmqctl"}
	}
	for _, bin := range need {
		if _, err := exec.LookPath(bin); err != nil {
			if _, err := os.Stat("/usr/sbin/" + bin); err != nil {
				return bin + " is not installed"
			}
		}
	}
	if b == RabbitMQ {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := WaitTCP(ctx, sharedRabbitMQ, nil); err != nil {
			return "RabbitMQ is not answering on " + sharedRabbitMQ
		}
	}
	return ""
}

// BrokerAddress is the broker's address in the form its components take:
// host:port for Kafka and Redis, an AMQP URL for RabbitMQ, an MQTT URL.
func (s *System) BrokerAddress() string {
	switch s.BrokerKind {
	case RabbitMQ:
		return "amqp://guest:guest@" + s.BrokerAddr() + "/" + s.Vhost
	case MQTT:
		return "tcp://" + s.BrokerAddr()
	}
	return s.BrokerAddr()
}

// startBroker starts the system's broker, or, for a server this system
// shares (RabbitMQ; Redis and MQTT in a local run), checks that it answers
// and prepares what the system needs on it.
func (s *System) startBroker(ctx context.Context) error {
	kind, cfg := s.BrokerKind, s.Cfg
	switch {
	case kind == Kafka:
		s.BrokerPort = 9092
	case kind == RabbitMQ:
		s.BrokerPort = portOf(sharedRabbitMQ)
		if err := s.prepareVhost(ctx); err != nil {
			return err
		}
		if !cfg.FixedPorts {
			// A test system reaches the server through a proxy of its own,
			// which RestartBroker cuts.
			p, err := startProxy(sharedRabbitMQ)
			if err != nil {
				return err
			}
			s.onClose(p.Close)
			s.proxy, s.BrokerPort = p, p.Port()
		}
		return nil
	case cfg.FixedPorts && kind == Redis:
		s.BrokerPort = portOf(sharedRedis)
		return s.waitShared(ctx, "Redis", "redis-server, or `dapr init`")
	case cfg.FixedPorts && kind == MQTT:
		s.BrokerPort = portOf(sharedMQTT)
		return s.waitShared(ctx, "Mosquitto", "mosquitto -d")
	}
	if !cfg.FixedPorts {
		port, err := FreePort()
		if err != nil {
			return err
		}
		s.BrokerPort = port
	}
	p, err := s.StartBroker(ctx, s.BrokerPort, cfg.BrokerDataDir)
	s.Broker = p
	return err
}

func portOf(addr string) int {
	_, p, _ := strings.Cut(addr, ":")
	n, _ := strconv.Atoi(p)
	return n
}

// waitShared checks that the machine's server of a broker answers.
func (s *System) waitShared(ctx context.Context, name, how string) error {
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := WaitTCP(wctx, s.BrokerAddr(), nil); err != nil {
		return fmt.Errorf("%s is not answering on %s (start it: %s): %w", name, s.BrokerAddr(), how, err)
	}
	return nil
}

// StartBroker starts the system's own broker process on port and waits
// until it accepts connections: the dev broker for Kafka, a redis-server,
// a mosquitto. dataDir, when not empty, keeps the broker's data across
// restarts (Redis: an append-only file written at every command; Mosquitto:
// its persistence file); else the broker keeps it in memory. RabbitMQ has
// no process of its own (a virtual host on the machine's server).
func (s *System) StartBroker(ctx context.Context, port int, dataDir string) (*Process, error) {
	return s.startBrokerOf(ctx, s.BrokerKind, port, dataDir)
}

func (s *Stack) startBrokerOf(ctx context.Context, kind Broker, port int, dataDir string) (*Process, error) {
	var bin string
	var args []string
	switch kind {
	case Kafka, "":
		bin, args = filepath.Join(s.BinDir, "devbroker"), []string{"-port", strconv.Itoa(port)}
		if dataDir != "" {
			args = append(args, "-data-dir", dataDir)
		}
	case Redis:
		dir, err := brokerDir(dataDir, s.BinDir, "redis", port)
		if err != nil {
			return nil, err
		}
		bin = "redis-server"
		args = []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--daemonize", "no"}
		if dataDir != "" {
			args = append(args, "--appendonly", "yes", "--appendfsync", "always")
		} else {
			args = append(args, "--appendonly", "no")
		}
	case MQTT:
		dir, err := brokerDir(dataDir, s.BinDir, "mosquitto", port)
		if err != nil {
			return nil, err
		}
		conf := filepath.Join(dir, "mosquitto.conf")
		if err := os.WriteFile(conf, []byte(mosquittoConf(port, dir, dataDir != "")), 0o644); err != nil {
			return nil, err
		}
		bin, args = "mosquitto", []string{"-c", conf}
	default:
		return nil, fmt.Errorf("broker %s has no process of its own", kind)
	}
	p, err := Start(string(kind), s.Out, nil, bin, args...)
	if err != nil {
		return nil, err
	}
	s.track(p)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := WaitTCP(wctx, "127.0.0.1:"+strconv.Itoa(port), p); err != nil {
		return p, fmt.Errorf("broker did not start: %w", err)
	}
	return p, nil
}

// brokerDir is where a broker process keeps its files: dataDir, or a
// folder of its own next to the binaries.
func brokerDir(dataDir, binDir, name string, port int) (string, error) {
	dir := dataDir
	if dir == "" {
		dir = filepath.Join(binDir, "..", name+"-"+strconv.Itoa(port))
	}
	return dir, os.MkdirAll(dir, 0o755)
}

// mosquittoConf is a Mosquitto listening on 127.0.0.1:port without
// authentication, keeping its state on disk when persist.
// max_queued_messages is raised from its default of 1,000: beyond the
// in-flight window, the broker queues what a subscriber has not taken yet,
// and would drop the rest.
func mosquittoConf(port int, dir string, persist bool) string {
	return fmt.Sprintf(`listener %d 127.0.0.1
allow_anonymous true
persistence %t
persistence_location %s/
autosave_interval 1
max_queued_messages 1000000
max_inflight_messages 100
`, port, persist, filepath.Clean(dir)) + runAs()
}

// runAs keeps a Mosquitto started by root as root: by default it would
// switch to user mosquitto, which cannot write this process's folders.
func runAs() string {
	if os.Geteuid() == 0 {
		return "user root\n"
	}
	return ""
}

// prepareVhost makes the system's virtual host on the machine's RabbitMQ:
// "todo" for a local run (kept), a new one for a test system (deleted when
// it closes), with the permissions of user guest and the live-queue policy.
func (s *System) prepareVhost(ctx context.Context) error {
	if err := s.waitShared(ctx, "RabbitMQ", "rabbitmq-server -detached"); err != nil {
		return err
	}
	s.Vhost = devVhost
	if !s.Cfg.FixedPorts {
		var b [6]byte
		_, _ = rand.Read(b[:])
		s.Vhost = "todo-test-" + hex.EncodeToString(b[:])
		vhost := s.Vhost
		s.onClose(func() { _ = rabbitmqctl(context.Background(), "delete_vhost", vhost) })
	}
	if err := rabbitmqctl(ctx, "add_vhost", s.Vhost); err != nil && !strings.Contains(err.Error(), "already exists") {
		return err
	}
	if err := rabbitmqctl(ctx, "set_permissions", "-p", s.Vhost, "guest", ".*", ".*", ".*"); err != nil {
		return err
	}
	return rabbitmqctl(ctx, "set_policy", "-p", s.Vhost, "--apply-to", "queues", "todo-live", "^web-app-", liveQueuePolicy)
}

// rabbitmqctl runs RabbitMQ's command-line tool.
func rabbitmqctl(ctx context.Context, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "rabbitmqctl", append([]string{"-q"}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("rabbitmqctl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// RestartBroker kills the system's own broker process and starts it again
// on the same port with the same data (a test's fault). On RabbitMQ, which
// the system shares with the machine, it cuts every connection of the
// system's proxy for two seconds instead.
func (s *System) RestartBroker(ctx context.Context) error {
	if s.proxy != nil {
		s.proxy.Cut()
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
		s.proxy.Restore()
		return ctx.Err()
	}
	if s.Broker == nil {
		return fmt.Errorf("the %s broker is a server this system shares: it is never stopped", s.BrokerKind)
	}
	s.Broker.Kill()
	p, err := s.StartBroker(ctx, s.BrokerPort, s.Cfg.BrokerDataDir)
	s.Broker = p
	return err
}
