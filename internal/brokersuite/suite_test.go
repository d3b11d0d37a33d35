package brokersuite

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/evolution-todo/todo/internal/dapr"
	"github.com/evolution-todo/todo/internal/devstack"
	"github.com/evolution-todo/todo/internal/pgtest"
)

var repoRoot string

func TestMain(m *testing.M) {
	repoRoot, _ = devstack.RepoRoot()
	os.Exit(m.Run())
}

// needDaprd returns the daprd binary: skipped on a developer machine
// without a build, failed in CI.
func needDaprd(t *testing.T) string {
	t.Helper()
	if repoRoot == "" {
		t.Fatal("no repository root")
	}
	p, ok := devstack.FindDaprd(repoRoot)
	if !ok {
		msg := fmt.Sprintf("daprd %s is not built (%s); run `make daprd`", devstack.DaprVersion, p)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// needBroker stops the test when the machine lacks what broker b needs:
// skipped on a developer machine, failed in CI, which has them all.
func needBroker(t *testing.T, b devstack.Broker) {
	t.Helper()
	if why := devstack.BrokerMissing(b); why != "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s: %s", b, why)
		}
		t.Skipf("%s: %s", b, why)
	}
}

// TestBrokers runs the suite on every broker (BROKERS=a,b: on those).
func TestBrokers(t *testing.T) {
	bin := needDaprd(t)
	brokers := devstack.Brokers
	if only := os.Getenv("BROKERS"); only != "" {
		brokers = nil
		for name := range strings.SplitSeq(only, ",") {
			b, err := devstack.ParseBroker(strings.TrimSpace(name))
			if err != nil {
				t.Fatal(err)
			}
			brokers = append(brokers, b)
		}
	}
	for _, b := range brokers {
		t.Run(string(b), func(t *testing.T) {
			needBroker(t, b)
			runSuite(t, bin, b)
		})
	}
}

// The suite's apps, by the app ids whose topic scopes they need:
// audit-service and recurring-service both subscribe to task-events (two
// apps: each must get every event), audit-service also to its dead-letter
// topic; two replicas of web-app read live-pubsub.
const (
	appA    = "audit-service"
	appB    = "recurring-service"
	appLive = "web-app"
	topic   = "task-events"
	dlq     = "task-events-dlq"
)

// suite is one broker's system: the broker, the publisher's sidecar and the
// apps.
type suite struct {
	t      *testing.T
	broker devstack.Broker
	sys    *devstack.System
	logs   *logBuffer
	pub    devstack.Sidecar // todo-api's sidecar, without an app
	a, b   *app
	live   [2]*app
	seq    int
}

func runSuite(t *testing.T, bin string, broker devstack.Broker) {
	s := start(t, bin, broker)
	t.Run("every app and every replica gets every event", s.fanOut)
	t.Run("routing rules", s.routing)
	t.Run("an unknown event type reaches the default route", s.unknownType)
	t.Run("bulk publish", s.bulk)
	t.Run("bounded retries, then the dead-letter topic", s.deadLetters)
	t.Run("ordering of one key", s.ordering)
	t.Run("an app that is down gets its events later", s.appDown)
	t.Run("redelivery after a sidecar is killed mid-delivery", s.sidecarKilled)
	t.Run("a broker restart loses nothing", s.brokerRestart)
}

func start(t *testing.T, bin string, broker devstack.Broker) *suite {
	t.Helper()
	logs := &logBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	binDir := t.TempDir()
	if broker == devstack.Kafka {
		if err := devstack.BuildBinaries(ctx, repoRoot, binDir, "devbroker"); err != nil {
			t.Fatal(err)
		}
	}
	sys, err := devstack.Up(ctx, devstack.Config{
		Root: repoRoot, WorkDir: t.TempDir(), Out: logs, Daprd: bin, BinDir: binDir,
		DatabaseURL: pgtest.NewDatabase(t), Broker: broker, BrokerDataDir: t.TempDir(), NoApps: true,
		DaprLogLevel: "warn", LockWait: 30 * time.Minute,
	})
	if err != nil {
		if sys != nil {
			sys.Close()
		}
		t.Fatalf("start the %s broker: %v\n%s", broker, err, logs.tail(100))
	}
	s := &suite{t: t, broker: broker, sys: sys, logs: logs}
	t.Cleanup(func() {
		sys.Close()
		if t.Failed() {
			t.Logf("process output:\n%s", logs.tail(300))
		}
	})
	if s.pub, err = devstack.NewSidecar("todo-api", 0, sys.ComponentsDir); err != nil {
		t.Fatal(err)
	}
	s.pub.LogLevel = "warn"
	if _, err := sys.StartSidecar(ctx, s.pub, []string{"DAPR_API_TOKEN=" + sys.DaprToken}); err != nil {
		t.Fatal(err)
	}
	s.a = s.startApp(ctx, appA, "", []dapr.Subscription{
		{PubSubName: "kafka-pubsub", Topic: topic, DeadLetterTopic: dlq, Routes: dapr.Routes{
			Rules:   []dapr.Rule{{Match: `event.data.event_type == "TaskCompleted"`, Path: "/completed"}},
			Default: "/events"}},
		{PubSubName: "kafka-pubsub", Topic: dlq, Routes: dapr.Routes{Default: "/dlq"}},
	})
	s.b = s.startApp(ctx, appB, "", []dapr.Subscription{
		{PubSubName: "kafka-pubsub", Topic: topic, DeadLetterTopic: dlq, Routes: dapr.Routes{Default: "/events"}},
	})
	for i := range s.live {
		s.live[i] = s.startApp(ctx, appLive, "web-app-"+strconv.Itoa(i+1), []dapr.Subscription{
			{PubSubName: "live-pubsub", Topic: topic, Routes: dapr.Routes{Default: "/live"}},
		})
	}
	// On RabbitMQ a message reaches only the queues that exist when it is
	// published: wait for every app's.
	if err := sys.WaitForQueues(ctx, appA, []string{topic, dlq}); err != nil {
		t.Fatal(err)
	}
	if err := sys.WaitForQueues(ctx, appB, []string{topic}); err != nil {
		t.Fatal(err)
	}
	if err := sys.WaitForQueues(ctx, appLive, []string{topic, topic}); err != nil { // two replicas
		t.Fatal(err)
	}
	s.warmUp()
	return s
}

// warmUp publishes until every app has received an event. A consumer group
// that starts at the newest event (Kafka's live-pubsub) has a position
// only once its partitions are assigned, some time after its sidecar is
// healthy: what is published before that is not its to get. web-app's
// pages re-sync from the API when their stream opens, so the system needs
// nothing older; the checks start from there.
func (s *suite) warmUp() {
	s.t.Helper()
	run := s.run("warmup")
	deadline := time.Now().Add(2 * time.Minute)
	for i := 0; ; i++ {
		s.publish(run, event{ID: strconv.Itoa(i)})
		ready := true
		for _, a := range []*app{s.a, s.b, s.live[0], s.live[1]} {
			ready = ready && len(a.deliveries(run, "")) > 0
		}
		if ready {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatal("not every app received an event within 2 minutes of starting")
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// delivery is one event an app received.
type delivery struct {
	Route string
	ID    string // data.id: the suite's own id of the event
	Run   string // data.run: which check published it
	At    time.Time
}

// app is a test app with its own sidecar. It records every delivery and
// answers by the event's data.mode: "retry" always fails and "hold" blocks
// until released, both in app A only (the other apps take the event at
// once); anything else succeeds.
type app struct {
	id    string
	name  string
	subs  []dapr.Subscription
	port  int
	sc    devstack.Sidecar
	sys   *devstack.System
	srv   *http.Server
	mu    sync.Mutex
	got   []delivery
	held  chan string   // ids of held deliveries, as they arrive
	relse chan struct{} // closed to release held deliveries
}

func (s *suite) startApp(ctx context.Context, id, podName string, subs []dapr.Subscription) *app {
	s.t.Helper()
	a := &app{id: id, name: podName, subs: subs, sys: s.sys, held: make(chan string, 100), relse: make(chan struct{})}
	if a.name == "" {
		a.name = id
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.t.Fatal(err)
	}
	a.port = ln.Addr().(*net.TCPAddr).Port
	a.serve(ln)
	s.t.Cleanup(func() { _ = a.srv.Close() })
	if a.sc, err = devstack.NewSidecar(id, a.port, s.sys.ComponentsDir); err != nil {
		s.t.Fatal(err)
	}
	a.sc.LogLevel = "warn"
	a.sc.AppHealthPath = "/healthz"
	if err := a.startSidecar(ctx); err != nil {
		s.t.Fatal(err)
	}
	return a
}

func (a *app) startSidecar(ctx context.Context) error {
	_, err := a.sys.StartSidecar(ctx, a.sc, []string{"DAPR_API_TOKEN=" + a.sys.DaprToken, "POD_NAME=" + a.name})
	return err
}

func (a *app) serve(ln net.Listener) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("GET /dapr/subscribe", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(a.subs)
	})
	for _, route := range []string{"/events", "/completed", "/dlq", "/live"} {
		mux.HandleFunc("POST "+route, func(w http.ResponseWriter, r *http.Request) {
			var ce struct {
				Data struct {
					ID   string `json:"id"`
					Run  string `json:"run"`
					Mode string `json:"mode"`
				} `json:"data"`
			}
			body, _ := io.ReadAll(r.Body)
			_ = json.Unmarshal(body, &ce)
			a.mu.Lock()
			a.got = append(a.got, delivery{Route: route, ID: ce.Data.ID, Run: ce.Data.Run, At: time.Now()})
			a.mu.Unlock()
			switch {
			case ce.Data.Mode == "retry" && a.id == appA && route != "/dlq":
				dapr.WriteStatus(w, dapr.Retry)
				return
			case ce.Data.Mode == "hold" && a.id == appA && route != "/dlq":
				a.held <- ce.Data.ID
				select {
				case <-a.relse:
				case <-r.Context().Done():
					return
				}
			}
			dapr.WriteStatus(w, dapr.Success)
		})
	}
	a.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = a.srv.Serve(ln) }()
}

// deliveries are the deliveries of check run on route ("" any route but
// the dead-letter one).
func (a *app) deliveries(run, route string) []delivery {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []delivery
	for _, d := range a.got {
		if d.Run == run && (d.Route == route || route == "" && d.Route != "/dlq") {
			out = append(out, d)
		}
	}
	return out
}

// ids are the distinct ids among ds.
func ids(ds []delivery) map[string]int {
	out := map[string]int{}
	for _, d := range ds {
		out[d.ID]++
	}
	return out
}

// event is one of the suite's events: a CloudEvent whose data carries the
// check's run, the event's id and how the apps answer it.
type event struct {
	ID, Type, Mode, Key string
}

func (s *suite) cloudEvent(run string, e event) map[string]any {
	typ := e.Type
	if typ == "" {
		typ = "TaskUpdated"
	}
	return map[string]any{
		"specversion": "1.0", "id": run + "-" + e.ID, "source": "brokersuite", "type": "com.example.task",
		"datacontenttype": "application/json",
		"data":            map[string]any{"id": e.ID, "run": run, "mode": e.Mode, "event_type": typ},
	}
}

// publish sends events one at a time through the publisher's sidecar, each
// with its key as the partition key.
func (s *suite) publish(run string, evs ...event) {
	s.t.Helper()
	for _, e := range evs {
		body, _ := json.Marshal(s.cloudEvent(run, e))
		url := s.pub.HTTPEndpoint() + "/v1.0/publish/kafka-pubsub/" + topic
		if e.Key != "" {
			url += "?metadata.partitionKey=" + e.Key
		}
		s.post(url, "application/cloudevents+json", body, http.StatusNoContent)
	}
}

func (s *suite) post(url, contentType string, body []byte, want ...int) []byte {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("dapr-api-token", s.sys.DaprToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if !slices.Contains(want, resp.StatusCode) {
		s.t.Fatalf("POST %s: %d %s, want %d", url, resp.StatusCode, b, want)
	}
	return b
}

// run names a check's events, unique within the suite.
func (s *suite) run(name string) string {
	s.seq++
	return name + strconv.Itoa(s.seq)
}

func numbered(n int, mode string) []event {
	evs := make([]event, n)
	for i := range evs {
		evs[i] = event{ID: strconv.Itoa(i), Mode: mode}
	}
	return evs
}

// waitAll waits until app a got every id of want on route ("": any but the
// dead-letter route), and fails after timeout saying what is missing.
func (s *suite) waitAll(a *app, run, route string, want []event, timeout time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := ids(a.deliveries(run, route))
		var missing []string
		for _, e := range want {
			if got[e.ID] == 0 {
				missing = append(missing, e.ID)
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s (%s) got %d of %d events of %s on %q within %s; missing %v", a.name, a.id, len(want)-len(missing), len(want), run, route, timeout, head(missing, 20))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func head(ss []string, n int) []string {
	if len(ss) > n {
		return append(ss[:n:n], "…")
	}
	return ss
}

// fanOut: each app gets every event (a group per app) and each web-app
// replica too (a group per replica): at least once, none lost.
func (s *suite) fanOut(t *testing.T) {
	s.t = t
	run := s.run("fanout")
	evs := numbered(200, "")
	s.publish(run, evs...)
	for _, a := range []*app{s.a, s.b, s.live[0], s.live[1]} {
		s.waitAll(a, run, "", evs, time.Minute)
	}
}

// routing: the first rule that matches picks the path; the rest go to the
// default route.
func (s *suite) routing(t *testing.T) {
	s.t = t
	run := s.run("routing")
	var completed, other []event
	for i := range 40 {
		e := event{ID: strconv.Itoa(i), Type: "TaskUpdated"}
		if i%2 == 0 {
			e.Type = "TaskCompleted"
			completed = append(completed, e)
		} else {
			other = append(other, e)
		}
		s.publish(run, e)
	}
	s.waitAll(s.a, run, "/completed", completed, time.Minute)
	s.waitAll(s.a, run, "/events", other, time.Minute)
	for id := range ids(s.a.deliveries(run, "/completed")) {
		if n, _ := strconv.Atoi(id); n%2 != 0 {
			t.Errorf("event %s (TaskUpdated) went to the TaskCompleted route", id)
		}
	}
	for id := range ids(s.a.deliveries(run, "/events")) {
		if n, _ := strconv.Atoi(id); n%2 == 0 {
			t.Errorf("event %s (TaskCompleted) went to the default route", id)
		}
	}
}

// unknownType: a type no rule names (a newer producer's) reaches the
// subscription's default route, where the app acknowledges it; without a
// default route the sidecar would acknowledge it unseen, or send it to the
// dead-letter topic.
func (s *suite) unknownType(t *testing.T) {
	s.t = t
	run := s.run("unknown")
	evs := []event{{ID: "0", Type: "TaskArchivedInAFutureVersion"}, {ID: "1", Type: "SomethingElse"}}
	s.publish(run, evs...)
	s.waitAll(s.a, run, "/events", evs, time.Minute)
	s.waitAll(s.b, run, "/events", evs, time.Minute)
}

// bulk: the bulk publish API takes every entry (no failed entries) and every
// app gets every one.
func (s *suite) bulk(t *testing.T) {
	s.t = t
	run := s.run("bulk")
	evs := numbered(100, "")
	var entries []map[string]any
	for _, e := range evs {
		entries = append(entries, map[string]any{"entryId": e.ID, "event": s.cloudEvent(run, e), "contentType": "application/cloudevents+json"})
	}
	body, _ := json.Marshal(entries)
	// 200 with the failed entries (none), or 204.
	out := s.post(s.pub.HTTPEndpoint()+"/v1.0-alpha1/publish/bulk/kafka-pubsub/"+topic, "application/json", body, http.StatusOK, http.StatusNoContent)
	var res struct {
		FailedEntries []any `json:"failedEntries"`
	}
	if len(bytes.TrimSpace(out)) > 0 {
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatalf("bulk answer %s: %v", out, err)
		}
	}
	if len(res.FailedEntries) != 0 {
		t.Fatalf("failed entries: %v", res.FailedEntries)
	}
	for _, a := range []*app{s.a, s.b, s.live[0], s.live[1]} {
		s.waitAll(a, run, "", evs, time.Minute)
	}
}

// maxTries is one delivery and the resiliency policy's 8 retries
// (components/resiliency.yaml).
const maxTries = 9

// deadLetters: an event that always fails is retried a bounded number of
// times, then reaches the dead-letter topic; the events after it are not
// held back for good; and it is not delivered again afterwards (on Redis,
// an entry still pending would be claimed again after processingTimeout).
func (s *suite) deadLetters(t *testing.T) {
	s.t = t
	run := s.run("dlq")
	poison := event{ID: "poison", Mode: "retry"}
	after := numbered(10, "")
	s.publish(run, poison)
	s.publish(run, after...)
	s.waitAll(s.a, run, "/dlq", []event{poison}, 3*time.Minute)
	s.waitAll(s.a, run, "", after, time.Minute)
	s.waitAll(s.b, run, "", append(after, poison), time.Minute)
	tries := ids(s.a.deliveries(run, ""))["poison"]
	if tries < 2 || tries > maxTries {
		t.Errorf("the poison event was delivered %d times before the dead-letter topic, want 2..%d", tries, maxTries)
	}
	if s.broker == devstack.Redis {
		// Nothing of the app's group is left pending, so nothing is claimed
		// again later.
		if n := s.redisPending(appA); n != 0 {
			t.Errorf("%d entries of %s still pending on the stream after the dead-letter topic", n, appA)
		}
	}
	time.Sleep(3 * time.Second)
	if again := ids(s.a.deliveries(run, ""))["poison"]; again != tries {
		t.Errorf("the poison event was delivered again after reaching the dead-letter topic (%d, then %d times)", tries, again)
	}
	if n := len(s.a.deliveries(run, "/dlq")); n != 1 {
		t.Errorf("the poison event reached the dead-letter topic %d times, want 1", n)
	}
}

// redisPending is the number of entries of group's pending list on the
// task-events stream.
func (s *suite) redisPending(group string) int {
	out, err := exec.Command("redis-cli", "-p", strconv.Itoa(s.sys.BrokerPort), "XPENDING", topic, group).Output()
	if err != nil {
		s.t.Fatalf("redis-cli XPENDING: %v", err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0]))
	if err != nil {
		s.t.Fatalf("redis-cli XPENDING: %q", out)
	}
	return n
}

// ordering: where the broker claims order (Kafka, per partition key), one
// key's events arrive in the order they were published. On the others
// the system relies on versions, not on order (docs/architecture.md).
func (s *suite) ordering(t *testing.T) {
	if !s.broker.OrdersByKey() {
		t.Skipf("%s does not claim an order of delivery; the consumers rely on versions", s.broker)
	}
	s.t = t
	run := s.run("order")
	evs := numbered(100, "")
	for i := range evs {
		evs[i].Key = "task-1"
	}
	s.publish(run, evs...)
	s.waitAll(s.a, run, "", evs, time.Minute)
	seen := map[string]bool{}
	var first []int
	for _, d := range s.a.deliveries(run, "") {
		if !seen[d.ID] {
			seen[d.ID] = true
			n, _ := strconv.Atoi(d.ID)
			first = append(first, n)
		}
	}
	if !slices.IsSorted(first) {
		t.Errorf("one key's events arrived out of order: %v", first)
	}
}

// keepsNothingForAnAbsentApp says why a check of events kept for an app
// that is away does not apply to MQTT (components/brokers/mqtt/pubsub.yaml).
func (s *suite) keepsNothingForAnAbsentApp(t *testing.T) {
	if s.broker == devstack.MQTT {
		t.Skip("mqtt: Dapr 1.18's mqtt3 connects before it subscribes, so a session keeps nothing usable for an app that is away; the sessions are clean")
	}
}

// appDown: events published while an app is down wait for it (its queue,
// group or session stays), and arrive once it is back.
func (s *suite) appDown(t *testing.T) {
	s.keepsNothingForAnAbsentApp(t)
	s.t = t
	run := s.run("down")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Stop app B and its sidecar, as when its pod is rescheduled.
	s.stopSidecar(s.b)
	_ = s.b.srv.Close()
	evs := numbered(50, "")
	s.publish(run, evs...)
	s.waitAll(s.a, run, "", evs, time.Minute)
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(s.b.port))
	if err != nil {
		t.Fatal(err)
	}
	s.b.serve(ln)
	if err := s.b.startSidecar(ctx); err != nil {
		t.Fatal(err)
	}
	s.waitAll(s.b, run, "", evs, 2*time.Minute)
}

// stopSidecar stops a's sidecar gracefully (SIGTERM).
func (s *suite) stopSidecar(a *app) {
	for _, p := range s.sidecarProcs(a) {
		p.Stop(10 * time.Second)
	}
}

func (s *suite) sidecarProcs(a *app) []*devstack.Process {
	var out []*devstack.Process
	for _, p := range s.sys.Processes() {
		if p.Name == "daprd "+a.id+"#"+strconv.Itoa(a.port) && p.Running() {
			out = append(out, p)
		}
	}
	return out
}

// sidecarKilled: a sidecar killed while its app holds an event (the
// delivery never acknowledged) redelivers it after a restart. On Redis
// that takes processingTimeout (150 s), which is why the wait is long.
func (s *suite) sidecarKilled(t *testing.T) {
	s.keepsNothingForAnAbsentApp(t)
	s.t = t
	run := s.run("kill")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s.publish(run, event{ID: "held", Mode: "hold"})
	select {
	case <-s.a.held:
	case <-time.After(time.Minute):
		t.Fatal("the held event never arrived")
	}
	for _, p := range s.sidecarProcs(s.a) {
		p.Kill()
	}
	if err := s.a.startSidecar(ctx); err != nil {
		t.Fatal(err)
	}
	// Deliveries after the restart succeed.
	close(s.a.relse)
	deadline := time.Now().Add(4 * time.Minute)
	for ids(s.a.deliveries(run, ""))["held"] < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the event held when the sidecar was killed was never delivered again")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// brokerRestart: events published before the broker is killed and
// restarted reach the apps, including one that was down across the
// restart, and the sidecars carry on. The machine's RabbitMQ is never
// stopped: its connections are cut instead (RestartBroker), and then app
// A's sidecar, which subscribes to several topics on one component, is
// restarted as docs/deploy.md says (Broker.ReconnectGap).
func (s *suite) brokerRestart(t *testing.T) {
	s.keepsNothingForAnAbsentApp(t)
	s.t = t
	run := s.run("restart")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s.stopSidecar(s.b)
	evs := numbered(50, "")
	s.publish(run, evs...)
	s.waitAll(s.a, run, "", evs, time.Minute)
	if err := s.sys.RestartBroker(ctx); err != nil {
		t.Fatal(err)
	}
	if why := s.broker.ReconnectGap(); why != "" {
		t.Logf("%s: restarting app A's sidecar after the cut: %s", s.broker, why)
		s.stopSidecar(s.a)
		if err := s.a.startSidecar(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.b.startSidecar(ctx); err != nil {
		t.Fatal(err)
	}
	s.waitAll(s.b, run, "", evs, 2*time.Minute)
	// And the system still carries new events to every app.
	run2 := s.run("restart-after")
	more := numbered(20, "")
	s.publish(run2, more...)
	for _, a := range []*app{s.a, s.b} {
		s.waitAll(a, run2, "", more, 2*time.Minute)
	}
}

// logBuffer collects the processes' output, shown when a test fails.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(b)
}

func (l *logBuffer) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	lines := strings.Split(l.buf.String(), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
