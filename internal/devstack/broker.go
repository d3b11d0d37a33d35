package devstack

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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

// OrdersByKey says whether the broker delivers one key's events (one
// task's: the partition key) in the order they were published: Kafka only.
// The others deliver in parallel, and bulk publish on them sends the
// entries concurrently (docs/architecture.md, "Brokers"); the consumers
// rely on versions there, and so do the tests' checks.
func (b Broker) OrdersByKey() bool { return b == Kafka }

// ReconnectGap is why sidecars may not recover on their own after their
// connection to the broker is cut, or "" when they do. On RabbitMQ, Dapr
// 1.18's pubsub.rabbitmq shares one AMQP channel between every topic a
// component subscribes to, and after a reconnect their declares and
// consumes cross on it ("Exception (503) unexpected command received"):
// consumers the client then forgets hold their prefetched messages until
// the sidecar restarts. components-contrib issue 4540, open upstream;
// docs/architecture.md, "Brokers". The tests then do what docs/deploy.md
// tells operators to do: System.RestartStuckSidecars.
func (b Broker) ReconnectGap() string {
	if b == RabbitMQ {
		return "Dapr 1.18's subscriber can lose its consumers when the connection is cut while one component subscribes to several topics (components-contrib#4540)"
	}
	return ""
}

// SharesChannel says whether app subscribes to several topics on one
// component: on a broker with a ReconnectGap, its sidecar may need a
// restart after a lost connection (docs/deploy.md).
func SharesChannel(app App) bool {
	for _, topics := range app.Subscribes {
		if len(topics) > 1 {
			return true
		}
	}
	return false
}

// RestartStuckSidecars is the remedy docs/deploy.md gives for a broker
// with a ReconnectGap, run after RestartBroker: it restarts the sidecar of
// every running instance whose app SharesChannel, and returns their names.
// Elsewhere it does nothing. Their queues are durable, so what the old
// sidecars held unacknowledged is delivered again.
func (s *System) RestartStuckSidecars(ctx context.Context) ([]string, error) {
	if s.BrokerKind.ReconnectGap() == "" {
		return nil, nil
	}
	var names []string
	for _, app := range Apps {
		for _, inst := range s.Instances {
			if inst.App.ID != app.ID || inst.Daprd == nil || !SharesChannel(app) {
				continue
			}
			inst.Daprd.Kill()
			if err := s.StartDaprd(ctx, inst); err != nil {
				return names, err
			}
			names = append(names, inst.Name)
		}
	}
	return names, nil
}

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
		if _, err := lookBin(bin); err != nil {
			return err.Error()
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

// lookBin finds a server binary on PATH or in /usr/sbin, where Debian
// puts mosquitto and rabbitmqctl (not on a user's PATH).
func lookBin(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	if p := "/usr/sbin/" + name; fileExists(p) {
		return p, nil
	}
	return "", fmt.Errorf("%s is not installed", name)
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
		if !cfg.FixedPorts && !cfg.DirectBroker {
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
	kind := s.BrokerKind
	var bin string
	var args []string
	switch kind {
	case Kafka, "":
		bin, args = filepath.Join(s.BinDir, "devbroker"), []string{"-port", strconv.Itoa(port)}
		if dataDir != "" {
			args = append(args, "-data-dir", dataDir)
		}
	case Redis:
		dir, err := s.brokerDir(dataDir, "redis")
		if err != nil {
			return nil, err
		}
		if bin, err = lookBin("redis-server"); err != nil {
			return nil, err
		}
		args = []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--daemonize", "no"}
		if dataDir != "" {
			args = append(args, "--appendonly", "yes", "--appendfsync", "always")
		} else {
			args = append(args, "--appendonly", "no")
		}
	case MQTT:
		dir, err := s.brokerDir(dataDir, "mosquitto")
		if err != nil {
			return nil, err
		}
		conf := filepath.Join(dir, "mosquitto.conf")
		if err := os.WriteFile(conf, []byte(mosquittoConf(port, dir, dataDir != "")), 0o644); err != nil {
			return nil, err
		}
		if bin, err = lookBin("mosquitto"); err != nil {
			return nil, err
		}
		args = []string{"-c", conf}
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

// brokerDir is where a broker process keeps its files: dataDir, or a new
// folder in the system's work folder.
func (s *System) brokerDir(dataDir, name string) (string, error) {
	if dataDir != "" {
		return dataDir, os.MkdirAll(dataDir, 0o755)
	}
	if err := os.MkdirAll(s.Cfg.WorkDir, 0o755); err != nil {
		return "", err
	}
	return os.MkdirTemp(s.Cfg.WorkDir, name+"-")
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
		// A test process that died left its virtual host behind; with the
		// machine lock held, no other test system is using one.
		if err := deleteStaleVhosts(ctx); err != nil {
			return err
		}
		var b [6]byte
		_, _ = rand.Read(b[:])
		s.Vhost = testVhostPrefix + hex.EncodeToString(b[:])
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

// waitQueues waits, on RabbitMQ, until the queue of each of inst's
// subscriptions exists (WaitForQueues).
func (s *System) waitQueues(ctx context.Context, inst *Instance) error {
	if s.BrokerKind != RabbitMQ {
		return nil
	}
	topics, err := s.subscribedTopics(ctx, inst)
	if err != nil || len(topics) == 0 {
		return err
	}
	return s.WaitForQueues(ctx, inst.App.ID, topics)
}

// WaitForQueues waits, on RabbitMQ, until app id has a queue for each
// entry of topics (a topic named n times: n queues, one per replica); on
// the other brokers it returns at once. RabbitMQ keeps a message
// only in the queues bound when it is published, and a queue is made when
// the app's sidecar first subscribes, some time after the sidecar is
// healthy: what was published before is gone. So Up returns once every app
// can be published to.
func (s *System) WaitForQueues(ctx context.Context, id string, topics []string) error {
	if s.BrokerKind != RabbitMQ {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		out, err := rabbitmqctlOutput(ctx, "list_queues", "-p", s.Vhost, "name")
		if err != nil {
			return fmt.Errorf("the queues of %s: %w", id, err)
		}
		// Each topic needs a queue of its own (a topic named twice: two
		// replicas' queues). {consumerID}-{topic}, the consumer id being the
		// app id or, for live-pubsub, the app id and a uuid.
		queues := strings.Fields(out)
		var missing []string
		for _, topic := range topics {
			i := slices.IndexFunc(queues, func(q string) bool {
				return strings.HasPrefix(q, id+"-") && strings.HasSuffix(q, "-"+topic)
			})
			if i < 0 {
				missing = append(missing, topic)
				continue
			}
			queues = slices.Delete(queues, i, i+1)
		}
		if len(missing) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s has no queue for %v: %w", id, missing, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// subscribedTopics are the topics inst's app subscribes to, as it tells its
// sidecar (GET /dapr/subscribe, with its app token).
func (s *System) subscribedTopics(ctx context.Context, inst *Instance) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, inst.AppURL()+"/dapr/subscribe", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("dapr-api-token", s.AppToken(inst.App.ID))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("the subscriptions of %s: %w", inst.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, nil
	}
	var subs []struct {
		Topic string `json:"topic"`
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the subscriptions of %s: status %d", inst.Name, resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&subs); err != nil {
		return nil, fmt.Errorf("the subscriptions of %s: %w", inst.Name, err)
	}
	var topics []string
	for _, sub := range subs {
		topics = append(topics, sub.Topic)
	}
	return topics, nil
}

// testVhostPrefix names the virtual hosts of test systems.
const testVhostPrefix = "todo-test-"

// deleteStaleVhosts deletes every test system's virtual host.
func deleteStaleVhosts(ctx context.Context) error {
	out, err := rabbitmqctlOutput(ctx, "list_vhosts", "name")
	if err != nil {
		return err
	}
	for _, v := range strings.Fields(out) {
		if strings.HasPrefix(v, testVhostPrefix) {
			if err := rabbitmqctl(ctx, "delete_vhost", v); err != nil {
				return err
			}
		}
	}
	return nil
}

// rabbitmqctl runs RabbitMQ's command-line tool.
func rabbitmqctl(ctx context.Context, args ...string) error {
	_, err := rabbitmqctlOutput(ctx, args...)
	return err
}

func rabbitmqctlOutput(ctx context.Context, args ...string) (string, error) {
	bin, err := lookBin("rabbitmqctl")
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append([]string{"-q"}, args...)...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("rabbitmqctl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// RestartBroker kills the system's own broker process and starts it again
// on the same port with the same data (a test's fault; the system needs a
// BrokerDataDir). On RabbitMQ, which the system shares with the machine, it
// cuts every connection of the system's proxy for two seconds instead.
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
	if s.Cfg.BrokerDataDir == "" {
		// A restart would start it empty: every event not yet consumed
		// would be gone, a loss no test of delivery should see as a fault.
		return fmt.Errorf("the %s broker keeps its data in memory (no BrokerDataDir): a restart would lose it", s.BrokerKind)
	}
	s.Broker.Kill()
	p, err := s.StartBroker(ctx, s.BrokerPort, s.Cfg.BrokerDataDir)
	s.Broker = p
	return err
}
