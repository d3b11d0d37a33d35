package chartcheck

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Paths relative to this module's folder (deploy/chartcheck).
const (
	repoRoot      = "../.."
	chartDir      = "../helm/todo"
	componentsDir = "../../components"
	namespace     = "todo"
	release       = "todo"
	// helm built with `go tool` lacks the release build's linker flags and
	// would assume Kubernetes 1.20, below the chart's kubeVersion.
	kubeVersion = "1.33.0"
)

// A variant is one set of values the chart is linted and rendered with.
type variant struct {
	name string
	args []string // helm arguments: -f files, --set
	// What the checks expect of this variant.
	production        bool // values-production.yaml: existing Secret, SASL, 2 replicas
	serviceMonitor    bool
	accessControl     bool
	ingress           bool
	jwks              bool // jwt.jwksUrl set
	pubsubExtraScopes []string
	// broker is dapr.pubsub.type: "" (kafka, the default), "redis" or
	// "rabbitmq". Its components are compared with components/pubsub*.yaml
	// or components/brokers/<broker>/*.yaml.
	broker string
}

// brokerType is the variant's dapr.pubsub.type.
func (v variant) brokerType() string {
	if v.broker == "" {
		return "kafka"
	}
	return v.broker
}

// devOIDC is the identity provider a development install names (values.yaml
// has none: web-app needs one, and the chart has no other sign-in).
var devOIDC = []string{"--set", "web.oidc.issuer=https://idp.todo.local/", "--set", "web.oidc.clientId=todo-web"}

var variants = []variant{
	{name: "default", args: devOIDC, accessControl: true, ingress: true},
	{name: "production", args: []string{"-f", chartDir + "/values-production.yaml"}, production: true, accessControl: true, ingress: true, jwks: true},
	// The other switches, so that every template branch is rendered and decoded.
	{name: "production-servicemonitor-no-acl", args: []string{
		"-f", chartDir + "/values-production.yaml",
		"--set", "metrics.serviceMonitor.enabled=true",
		"--set", "dapr.accessControl.enabled=false",
		"--set", "jwt.jwksUrl=",
		"--set", "ingress.enabled=false",
		"--set", "dapr.pubsub.extraScopes={event-viewer}",
	}, production: true, serviceMonitor: true, pubsubExtraScopes: []string{"event-viewer"}},
	// Every other broker of dapr.pubsub.type: in a development install (the
	// chart's Secret, no Redis password) and in production (the operator's
	// Secret; Redis with a password and TLS).
	{name: "redis", args: append([]string{
		"--set", "dapr.pubsub.type=redis",
		"--set", "dapr.pubsub.redis.host=redis-master.redis.svc.cluster.local:6379",
	}, devOIDC...), accessControl: true, ingress: true, broker: "redis"},
	{name: "redis-production", args: []string{
		"-f", chartDir + "/values-production.yaml",
		"--set", "dapr.pubsub.type=redis",
		"--set", "dapr.pubsub.redis.host=redis.example.com:6380",
		"--set", "dapr.pubsub.redis.usePassword=true",
		"--set", "dapr.pubsub.redis.enableTLS=true",
	}, production: true, accessControl: true, ingress: true, jwks: true, broker: "redis"},
	{name: "rabbitmq", args: append([]string{
		"--set", "dapr.pubsub.type=rabbitmq",
		"--set", "secrets.values.rabbitmqConnectionString=amqp://todo:todo@rabbitmq.rabbitmq.svc.cluster.local:5672/todo",
	}, devOIDC...), accessControl: true, ingress: true, broker: "rabbitmq"},
	{name: "rabbitmq-production", args: []string{
		"-f", chartDir + "/values-production.yaml",
		"--set", "dapr.pubsub.type=rabbitmq",
		"--set", "dapr.pubsub.rabbitmq.secretName=todo-rabbitmq",
	}, production: true, accessControl: true, ingress: true, jwks: true, broker: "rabbitmq"},
}

// helm runs `go tool helm args...` in this module (the helm version pinned
// in go.mod's tool directive), with helm's own folders in a temporary
// directory so that nothing from the machine's helm setup is used.
func helm(t *testing.T, args ...string) (stdout string) {
	t.Helper()
	out, errOut, err := helmRun(t, args...)
	if err != nil {
		t.Fatalf("go tool helm %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
	}
	if s := strings.TrimSpace(errOut); s != "" {
		t.Logf("go tool helm %s: stderr:\n%s", strings.Join(args, " "), s)
	}
	return out
}

func helmRun(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	home := helmHome(t)
	cmd := exec.Command("go", append([]string{"tool", "helm"}, args...)...)
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG="+filepath.Join(home, "no-kubeconfig"), // no cluster: lookup finds nothing
	)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

var (
	helmHomeOnce sync.Once
	helmHomeDir  string
)

func helmHome(t *testing.T) string {
	helmHomeOnce.Do(func() {
		d, err := os.MkdirTemp("", "chartcheck-helm-")
		if err != nil {
			t.Fatal(err)
		}
		helmHomeDir = d
	})
	return helmHomeDir
}

// TestMain reads the expected apps (loadApps) and builds helm (`go tool
// helm version`) before the tests start: the first build takes minutes, and
// go test's -timeout clock only starts with m.Run.
func TestMain(m *testing.M) {
	var err error
	if apps, err = loadApps(); err != nil {
		fmt.Fprintf(os.Stderr, "chartcheck: the expected apps: %v\n", err)
		os.Exit(1)
	}
	start := time.Now()
	cmd := exec.Command("go", "tool", "helm", "version", "--short")
	out, err := cmd.CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "chartcheck: go tool helm version: %v\n%s", err, out)
		os.Exit(1)
	}
	if d := time.Since(start); d > 10*time.Second {
		fmt.Fprintf(os.Stderr, "chartcheck: built helm (%s) in %s\n", strings.TrimSpace(string(out)), d.Round(time.Second))
	}
	code := m.Run()
	if helmHomeDir != "" {
		_ = os.RemoveAll(helmHomeDir)
	}
	os.Exit(code)
}

type rendered struct {
	objs []Object
	err  string
}

var (
	renderMu    sync.Mutex
	renderCache = map[string]rendered{}
)

// render runs `helm template` for a variant (once per test binary) and
// decodes its output strictly.
func render(t *testing.T, v variant) []Object {
	t.Helper()
	renderMu.Lock()
	defer renderMu.Unlock()
	r, ok := renderCache[v.name]
	if !ok {
		args := append([]string{"template", release, chartDir, "--namespace", namespace, "--kube-version", kubeVersion}, v.args...)
		out := helm(t, args...)
		objs, err := DecodeAll([]byte(out), "helm template "+v.name)
		switch {
		case err != nil:
			r.err = err.Error()
		case len(objs) == 0:
			r.err = "helm template rendered nothing"
		}
		r.objs = objs
		renderCache[v.name] = r
	}
	if r.err != "" {
		t.Fatalf("%s: %s", v.name, r.err)
	}
	return r.objs
}

func TestHelmLintStrict(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			out := helm(t, append([]string{"lint", "--strict", chartDir, "--namespace", namespace, "--kube-version", kubeVersion}, v.args...)...)
			if !strings.Contains(out, "0 chart(s) failed") {
				t.Fatalf("helm lint did not pass:\n%s", out)
			}
			t.Logf("helm lint --strict: %s", strings.TrimSpace(lastLine(out)))
		})
	}
}

func TestHelmTemplateDecodesStrictly(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			objs := render(t, v)
			counts := map[string]int{}
			for _, o := range objs {
				counts[o.Key]++
			}
			t.Logf("%d objects: %v", len(objs), counts)
		})
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// Values that cannot work are refused when rendering, by the schema
// (values.schema.json) or by the templates.
func TestChartRefusesBadValues(t *testing.T) {
	cases := map[string]struct{ set, want string }{
		// A new key of apps is a new app: it must be complete.
		"misspelled app":         {"apps.todoapi.replicas=2", "missing properties 'binary', 'appPort', 'image', 'resources'"},
		"misspelled app key":     {"apps.todo-api.replica=2", "additional properties 'replica' not allowed"},
		"app id not a DNS label": {"apps.Todo_API.replicas=2", "Todo_API"},
		"unknown caller":         {"apps.todo-api.callers={recurring}", "apps.todo-api.callers: recurring is not an app"},
		"port out of range":      {"apps.audit-service.appPort=70000", "appPort"},
		"the old single port":    {"apps.audit-service.port=8081", "additional properties 'port' not allowed"},
		"public port = app port": {"apps.todo-api.publicPort=8090", "publicPort and appPort must differ"},
		// Each app's sidecar token is its own.
		"one app token for all":          {"tokens.appApiToken.existingSecret=app-token", "one Secret per app"},
		"two apps share an app token":    {"tokens.appApiToken.existingSecrets.todo-api=t,tokens.appApiToken.existingSecrets.web-app=t", "would share the app token Secret t"},
		"app token = Dapr API token":     {"tokens.daprApiToken.existingSecret=t,tokens.appApiToken.existingSecrets.audit-service=t", "the two tokens must differ"},
		"app token of an unknown app":    {"tokens.appApiToken.existingSecrets.todoapi=t", "todoapi is not an app"},
		"web issuer = identity provider": {"jwt.issuer=todo-web-app", "web.apiToken.issuer must differ from jwt.issuer"},
		"negative default replicas":      {"replicas=-1", "replicas"},
		"unknown auth type":              {"dapr.pubsub.authType=scram", "authType"},
		// The brokers of dapr.pubsub.type.
		"MQTT as the broker":             {"dapr.pubsub.type=mqtt", "type"},
		"Redis without an address":       {"dapr.pubsub.type=redis", "dapr.pubsub.redis.host (host:port) is required"},
		"Redis address as a URL":         {"dapr.pubsub.type=redis,dapr.pubsub.redis.host=redis://redis:6379", "host"},
		"Redis password not given":       {"dapr.pubsub.type=redis,dapr.pubsub.redis.host=redis:6379,dapr.pubsub.redis.usePassword=true", "secrets.values.redisPassword is required"},
		"RabbitMQ without its URL":       {"dapr.pubsub.type=rabbitmq", "secrets.values.rabbitmqConnectionString is required"},
		"RabbitMQ key of another broker": {"dapr.pubsub.rabbitmq.host=rabbitmq:5672", "additional properties 'host' not allowed"},
		"no Secret at all":               {"secrets.create=false", "secrets.existingSecret is required"},
		"short JWT secret":               {"secrets.values.jwtSecret=short", "at least 32 bytes"},
		"negative replicas":              {"apps.audit-service.replicas=-1", "replicas"},
		"sampling rate over 1":           {"dapr.tracing.samplingRate=2", "samplingRate"},
		// web-app: a sign-in is required, and its cookie is Secure.
		"no identity provider":       {"web.oidc.issuer=", "web.oidc.issuer is required"},
		"no OIDC client":             {"web.oidc.clientId=", "web.oidc.clientId is required"},
		"web app over http":          {"web.publicUrl=http://app.todo.local", "publicUrl"},
		"web app URL with path":      {"web.publicUrl=https://todo.local/app", "publicUrl"},
		"no openid scope":            {"web.oidc.scopes=profile email", "scopes"},
		"zero streams per user":      {"web.streamsPerUser=0", "streamsPerUser"},
		"bad heartbeat":              {"web.heartbeat=15", "heartbeat"},
		"API tokens over 15m":        {"web.apiToken.ttl=20m", "ttl"},
		"API tokens of 16m":          {"web.apiToken.ttl=960s", "ttl"},
		"grace over 2m":              {"web.streamSessionGrace=3m", "streamSessionGrace"},
		"proxy not a CIDR":           {"web.trustedProxies={ingress-nginx}", "trustedProxies"},
		"no sign-in burst":           {"web.signInBurst=0", "signInBurst"},
		"API token key not 32 bytes": {"secrets.values.apiTokenKeys=c2hvcnQ=", "apiTokenKeys: key 1 is not the base64 of 32 bytes"},
		"second API token key bad":   {"secrets.values.apiTokenKeys=ZGV2LW9ubHktYXBpLXRva2VuLWtleS1jaGFuZ2UtbWU=\\,nope", "apiTokenKeys: key 2"},
		"short cookie key":           {"secrets.values.cookieKeys=short", "cookieKeys: key 1 is shorter than 32 bytes"},
	}
	for what, c := range cases {
		t.Run(what, func(t *testing.T) {
			args := append([]string{"template", release, chartDir, "--namespace", namespace,
				"--kube-version", kubeVersion}, devOIDC...)
			_, errOut, err := helmRun(t, append(args, "--set", c.set)...)
			if err == nil {
				t.Fatalf("--set %s was accepted", c.set)
			}
			if !strings.Contains(errOut, c.want) {
				t.Fatalf("--set %s: error does not mention %q:\n%s", c.set, c.want, errOut)
			}
		})
	}
}
