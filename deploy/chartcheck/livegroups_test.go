package chartcheck

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/evolution-todo/todo/deploy/registry"
)

// liveGroups is web-app's init container "live-groups" of a variant on
// Redis, or nil.
func liveGroups(t *testing.T, v variant) *corev1.Container {
	t.Helper()
	for _, d := range Of[appsv1.Deployment](render(t, v)) {
		if d.Name != "web-app" {
			continue
		}
		for i, c := range d.Spec.Template.Spec.InitContainers {
			if c.Name == "live-groups" {
				return &d.Spec.Template.Spec.InitContainers[i]
			}
		}
	}
	return nil
}

func envOf(c *corev1.Container) map[string]corev1.EnvVar {
	out := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		out[e.Name] = e
	}
	return out
}

// TestLiveGroupsInitContainer: on Redis, and only there, each web-app pod
// first creates its live-pubsub groups (the group Dapr names
// {appID}-{podName}) for exactly the topics web-app subscribes to there,
// as apps.json says.
func TestLiveGroupsInitContainer(t *testing.T) {
	reg, err := registry.Load(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	var topics []string
	for _, a := range reg.Apps {
		if a.ID == "web-app" {
			topics = a.Subscribes["live-pubsub"]
		}
	}
	if len(topics) == 0 {
		t.Fatal("apps.json: web-app subscribes to nothing on live-pubsub")
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			c := liveGroups(t, v)
			if v.brokerType() != "redis" {
				if c != nil {
					t.Fatalf("an init container live-groups on %s", v.brokerType())
				}
				return
			}
			if c == nil {
				t.Fatal("web-app has no init container live-groups")
			}
			env := envOf(c)
			if got := strings.Fields(env["TOPICS"].Value); !slices.Equal(sorted(got), sorted(topics)) {
				t.Errorf("TOPICS %q, want web-app's live-pubsub topics of apps.json %q", got, topics)
			}
			if env["GROUP_PREFIX"].Value != "web-app-" {
				t.Errorf("GROUP_PREFIX %q, want \"web-app-\" (live-pubsub's consumerID {appID}-{podName})", env["GROUP_PREFIX"].Value)
			}
			if p := env["POD_NAME"].ValueFrom; p == nil || p.FieldRef == nil || p.FieldRef.FieldPath != "metadata.name" {
				t.Errorf("POD_NAME is not the pod's name (fieldRef metadata.name): %+v", env["POD_NAME"])
			}
			if v.production && (env["REDISCLI_AUTH"].ValueFrom == nil || env["REDIS_TLS"].Value != "--tls") {
				t.Errorf("with a password and TLS: REDISCLI_AUTH %+v, REDIS_TLS %q", env["REDISCLI_AUTH"], env["REDIS_TLS"].Value)
			}
		})
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestLiveGroupsScriptOnRedis runs the init container's script, as the
// chart renders it, with sh and redis-cli against a redis-server of its
// own: each group is created at the newest entry (an entry published
// before is not delivered to it), a second run finds the groups and
// succeeds, and a Redis that does not answer fails it, so that Kubernetes
// retries the pod instead of starting web-app with a group Dapr would
// create at the oldest entry.
func TestLiveGroupsScriptOnRedis(t *testing.T) {
	server, errServer := exec.LookPath("redis-server")
	cli, errCLI := exec.LookPath("redis-cli")
	if errServer != nil || errCLI != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redis-server and redis-cli are needed: %v %v", errServer, errCLI)
		}
		t.Skip("no redis-server or redis-cli")
	}
	var c *corev1.Container
	for _, v := range variants {
		if v.brokerType() == "redis" && !v.production {
			c = liveGroups(t, v)
		}
	}
	if c == nil || len(c.Command) != 3 || c.Command[0] != "sh" {
		t.Fatalf("web-app's init container live-groups: %+v", c)
	}
	port := freePort(t)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	srv := exec.CommandContext(ctx, server, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = srv.Wait() })
	redis := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(cli, append([]string{"-p", strconv.Itoa(port)}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("redis-cli %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	for deadline := time.Now().Add(10 * time.Second); redisPing(cli, port) != nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not answer")
		}
	}
	env := envOf(c)
	topics := strings.Fields(env["TOPICS"].Value)
	before := redis("XADD", topics[0], "*", "data", "published before the pod")

	run := func(addr string) (string, error) {
		cmd := exec.Command("sh", "-c", c.Command[2])
		cmd.Env = append(os.Environ(), "REDIS_ADDR="+addr, "POD_NAME=web-app-7d9f-x2", "GROUP_PREFIX="+env["GROUP_PREFIX"].Value,
			"TOPICS="+env["TOPICS"].Value, "PATH="+filepath.Dir(cli)+":"+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for i := range 2 {
		out, err := run(addr)
		if err != nil {
			t.Fatalf("run %d: %v\n%s", i+1, err, out)
		}
		t.Logf("run %d:\n%s", i+1, out)
	}
	const group = "web-app-web-app-7d9f-x2"
	for _, topic := range topics {
		info := redis("XINFO", "GROUPS", topic)
		if !strings.Contains(info, group) {
			t.Fatalf("%s: no group %s: %s", topic, group, info)
		}
	}
	// The group starts after the entry published before it: nothing to read.
	if got := redis("XREADGROUP", "GROUP", group, "c1", "COUNT", "10", "STREAMS", topics[0], ">"); got != "" {
		t.Errorf("the new group read %q; want nothing (it starts after %s)", got, before)
	}
	redis("XADD", topics[0], "*", "data", "published after")
	if got := redis("XREADGROUP", "GROUP", group, "c1", "COUNT", "10", "STREAMS", topics[0], ">"); !strings.Contains(got, "published after") || strings.Contains(got, "before the pod") {
		t.Errorf("the group read %q; want only the entry published after it", got)
	}
	// A Redis that does not answer fails the container.
	if out, err := run("127.0.0.1:" + strconv.Itoa(freePort(t))); err == nil {
		t.Errorf("the script succeeded without a Redis:\n%s", out)
	}
}

func redisPing(cli string, port int) error {
	out, err := exec.Command(cli, "-p", strconv.Itoa(port), "PING").CombinedOutput()
	if err != nil {
		return fmt.Errorf("ping: %w: %s", err, out)
	}
	if strings.TrimSpace(string(out)) != "PONG" {
		return fmt.Errorf("ping: %s", out)
	}
	return nil
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
