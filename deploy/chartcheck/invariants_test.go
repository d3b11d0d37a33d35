package chartcheck

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	componentsv1alpha1 "github.com/dapr/dapr/pkg/apis/components/v1alpha1"
	configurationv1alpha1 "github.com/dapr/dapr/pkg/apis/configuration/v1alpha1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/evolution-todo/todo/deploy/registry"
)

// app is what the chart must run for each Dapr app.
type app struct {
	id, binary, image string
	publicPort        int // HTTP_ADDR, container port "http"; 0: none
	appPort           int // APP_ADDR, container port "app", dapr.io/app-port
	database          bool
	callers           []string        // who may invoke it (accessControl)
	pubsubs           map[string]bool // the pub/sub components it publishes or subscribes through
}

// apps are the apps the chart must run (loadApps, in TestMain).
var apps []app

// valuesPubSub is the pub/sub component whose topic scopes the chart
// builds from apps.<id>.publishes and apps.<id>.subscribes of values.yaml
// (templates/dapr-pubsub.yaml). live-pubsub's are in its template.
const valuesPubSub = "kafka-pubsub"

// loadApps derives the expected apps from the registry,
// internal/devstack/apps.json (deploy/registry): ids, binaries, images,
// public and app ports, databases and the pub/sub components each uses, so
// that an app the registry has and the chart lacks (or the other way
// round) fails the checks. Who may invoke an app exists only in Kubernetes
// (Dapr access control): its callers come from the chart's values.yaml,
// and must name registry apps other than itself.
func loadApps() ([]app, error) {
	reg, err := registry.Apps(repoRoot)
	if err != nil {
		return nil, err
	}
	values, err := readValuesApps()
	if err != nil {
		return nil, err
	}
	known := map[string]bool{}
	for _, r := range reg {
		known[r.ID] = true
	}
	var out []app
	for _, r := range reg {
		callers := values[r.ID].Callers
		for _, c := range callers {
			if !known[c] || c == r.ID {
				return nil, fmt.Errorf("%s/values.yaml: apps.%s.callers names %q, not another app of %s", chartDir, r.ID, c, registry.File)
			}
		}
		pubsubs := map[string]bool{}
		for _, m := range []map[string][]string{r.Publishes, r.Subscribes} {
			for comp := range m {
				pubsubs[comp] = true
			}
		}
		out = append(out, app{id: r.ID, binary: r.Binary, image: r.Image(), publicPort: r.PublicPort, appPort: r.AppPort, database: r.NeedsDB, callers: callers,
			pubsubs: pubsubs})
	}
	return out, nil
}

// valuesApp is what the checks read of an apps.<id> entry of values.yaml.
type valuesApp struct {
	Callers    []string `json:"callers"`
	Publishes  []string `json:"publishes"`
	Subscribes []string `json:"subscribes"`
}

// readValuesApps reads the apps map of the chart's values.yaml.
func readValuesApps() (map[string]valuesApp, error) {
	raw, err := os.ReadFile(chartDir + "/values.yaml")
	if err != nil {
		return nil, err
	}
	var values struct {
		Apps map[string]valuesApp `json:"apps"`
	}
	if err := yaml.Unmarshal(raw, &values); err != nil {
		return nil, fmt.Errorf("%s/values.yaml: %w", chartDir, err)
	}
	return values.Apps, nil
}

// valuesTopicProblems compares the topics of values.yaml's apps with the
// registry's on valuesPubSub, order-insensitively: apps.<id>.publishes and
// apps.<id>.subscribes are the app's topics there, absent or empty when it
// has none. The chart cannot list an app with no topic ("app=").
func valuesTopicProblems(reg []registry.App, values map[string]valuesApp) []string {
	var problems []string
	for _, r := range reg {
		v := values[r.ID]
		for _, c := range []struct {
			key       string
			got, want []string
			listed    bool
		}{
			{"publishes", v.Publishes, r.Publishes[valuesPubSub], r.Publishes[valuesPubSub] != nil},
			{"subscribes", v.Subscribes, r.Subscribes[valuesPubSub], r.Subscribes[valuesPubSub] != nil},
		} {
			got, want := slices.Sorted(slices.Values(c.got)), slices.Sorted(slices.Values(c.want))
			switch {
			case c.listed && len(c.want) == 0:
				problems = append(problems, fmt.Sprintf("%s lists %s in %s %s with no topic, which apps.%s.%s of values.yaml cannot say",
					registry.File, r.ID, valuesPubSub, c.key, r.ID, c.key))
			case !slices.Equal(got, want):
				problems = append(problems, fmt.Sprintf("values.yaml: apps.%s.%s = %v; %s says %v (%s)", r.ID, c.key, got, registry.File, want, valuesPubSub))
			}
		}
	}
	return problems
}

// TestValuesTopicsMatchAppsJSON: the topics each app publishes and
// subscribes to in values.yaml, from which the chart builds kafka-pubsub's
// topic scopes, are those of the registry, where each app's topics are
// written once.
func TestValuesTopicsMatchAppsJSON(t *testing.T) {
	reg, err := registry.Apps(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	values, err := readValuesApps()
	if err != nil {
		t.Fatal(err)
	}
	if problems := valuesTopicProblems(reg, values); len(problems) > 0 {
		for _, p := range problems {
			t.Error(p)
		}
		return
	}
	// The comparison notices a missing topic, an extra one, one moved
	// between apps, and a topic on the wrong side.
	mutations := map[string]func(map[string]valuesApp){
		"a dead-letter topic missing": func(v map[string]valuesApp) {
			a := v["audit-service"]
			a.Subscribes = slices.DeleteFunc(slices.Clone(a.Subscribes), func(s string) bool { return s == "reminders-dlq" })
			v["audit-service"] = a
		},
		"an extra topic": func(v map[string]valuesApp) {
			a := v["recurring-service"]
			a.Subscribes = append(slices.Clone(a.Subscribes), "reminders")
			v["recurring-service"] = a
		},
		"publishes as subscribes": func(v map[string]valuesApp) {
			a := v["todo-api"]
			a.Publishes, a.Subscribes = nil, a.Publishes
			v["todo-api"] = a
		},
		"an app missing": func(v map[string]valuesApp) { delete(v, "notification-service") },
	}
	for what, mutate := range mutations {
		v := map[string]valuesApp{}
		for k, a := range values {
			v[k] = a
		}
		mutate(v)
		if p := valuesTopicProblems(reg, v); len(p) == 0 {
			t.Errorf("drift %q went unnoticed", what)
		}
	}
}

func appIDs() []string {
	var ids []string
	for _, a := range apps {
		ids = append(ids, a.id)
	}
	return ids
}

const metricsPort = 9464

// checker collects the failures of one variant.
type checker struct {
	t reporter
	v variant
}

func (c checker) errorf(format string, args ...any) {
	c.t.Helper()
	c.t.Errorf("%s: "+format, append([]any{c.v.name}, args...)...)
}

func (c checker) equal(what string, got, want any) {
	c.t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		c.errorf("%s = %v, want %v", what, got, want)
	}
}

func TestChartInvariants(t *testing.T) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			checkAll(checker{t: t, v: v}, render(t, v))
		})
	}
}

// checkAll checks the invariants of one variant's objects.
func checkAll(c checker, objs []Object) {
	secrets := secretKeys(objs)
	if c.v.production {
		// The Secrets made by the operator before the install, with the
		// broker's credentials (values-production.yaml, docs/deploy.md).
		secrets["todo-credentials"] = map[string]bool{"DATABASE_URL": true, "JWT_SECRET": true,
			"API_TOKEN_KEYS": true, "COOKIE_KEYS": true}
		switch c.v.brokerType() {
		case "kafka":
			secrets["todo-credentials"]["KAFKA_SASL_USERNAME"] = true
			secrets["todo-credentials"]["KAFKA_SASL_PASSWORD"] = true
		case "redis":
			secrets["todo-credentials"]["REDIS_PASSWORD"] = true
		case "rabbitmq":
			secrets["todo-rabbitmq"] = map[string]bool{"RABBITMQ_CONNECTION_STRING": true}
		}
	}
	configs := map[string]*configurationv1alpha1.Configuration{}
	for _, cfg := range Of[configurationv1alpha1.Configuration](objs) {
		configs[cfg.Name] = cfg
	}
	deps := Of[appsv1.Deployment](objs)
	svcs := Of[corev1.Service](objs)
	ings := Of[networkingv1.Ingress](objs)
	deployments := checkDeployments(c, deps, secrets, configs)
	checkAppTokensPerApp(c, deployments, Of[corev1.Secret](objs))
	checkServices(c, svcs, deployments)
	// Nothing outside the pod reaches an app port: no Service port lands
	// on one, every Ingress backend on a public port.
	for _, p := range appPortLeaks(svcs, deps) {
		c.errorf("%s", p)
	}
	for _, p := range ingressBackendProblems(ings, svcs, deps) {
		c.errorf("%s", p)
	}
	checkPDBs(c, Of[policyv1.PodDisruptionBudget](objs), deployments)
	checkJob(c, Of[batchv1.Job](objs), secrets)
	checkIngress(c, ings)
	checkComponents(c, Of[componentsv1alpha1.Component](objs), secrets)
	checkConfigurations(c, configs)
	checkWebTokensInvocation(c, deployments, configs)
	checkServiceMonitors(c, Of[monitoringv1.ServiceMonitor](objs))
	checkSecrets(c, Of[corev1.Secret](objs))
}

// secretKeys lists the rendered Secrets and their keys.
func secretKeys(objs []Object) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, s := range Of[corev1.Secret](objs) {
		keys := map[string]bool{}
		for k := range s.Data {
			keys[k] = true
		}
		for k := range s.StringData {
			keys[k] = true
		}
		out[s.Name] = keys
	}
	return out
}

func (c checker) secretRef(where string, ref *corev1.SecretKeySelector, secrets map[string]map[string]bool) {
	c.t.Helper()
	if ref == nil {
		c.errorf("%s: not from a Secret", where)
		return
	}
	keys, ok := secrets[ref.Name]
	if !ok {
		c.errorf("%s: Secret %q is neither rendered nor the configured existing Secret", where, ref.Name)
		return
	}
	if !keys[ref.Key] && (ref.Optional == nil || !*ref.Optional) {
		c.errorf("%s: Secret %q has no key %q", where, ref.Name, ref.Key)
	}
}

func envByName(ctr corev1.Container) map[string]corev1.EnvVar {
	out := map[string]corev1.EnvVar{}
	for _, e := range ctr.Env {
		out[e.Name] = e
	}
	return out
}

func checkDeployments(c checker, deps []*appsv1.Deployment, secrets map[string]map[string]bool,
	configs map[string]*configurationv1alpha1.Configuration) map[string]*appsv1.Deployment {
	byID := map[string]*appsv1.Deployment{}
	for _, d := range deps {
		id := d.Spec.Template.Annotations["dapr.io/app-id"]
		if id == "" {
			c.errorf("Deployment %s: no dapr.io/app-id", d.Name)
			continue
		}
		if _, dup := byID[id]; dup {
			c.errorf("app id %s appears in more than one Deployment", id)
		}
		byID[id] = d
	}
	c.equal("Deployments' app ids", slices.Sorted(maps.Keys(byID)), slices.Sorted(slices.Values(appIDs())))

	for _, a := range apps {
		d := byID[a.id]
		if d == nil {
			continue
		}
		where := "Deployment " + d.Name
		c.equal(where+" name", d.Name, a.id)
		if d.Spec.Replicas == nil {
			c.errorf("%s: no replicas", where)
		} else if c.v.production {
			c.equal(where+" replicas", *d.Spec.Replicas, 2)
		} else {
			c.equal(where+" replicas", *d.Spec.Replicas, 1)
		}
		// The selector selects the pod template.
		for k, v := range d.Spec.Selector.MatchLabels {
			if d.Spec.Template.Labels[k] != v {
				c.errorf("%s: selector %s=%s does not match the pod labels", where, k, v)
			}
		}
		c.equal(where+" label app.kubernetes.io/name", d.Spec.Template.Labels["app.kubernetes.io/name"], a.id)

		ann := d.Spec.Template.Annotations
		want := map[string]string{
			"dapr.io/enabled":                 "true",
			"dapr.io/app-id":                  a.id,
			"dapr.io/app-port":                strconv.Itoa(a.appPort),
			"dapr.io/config":                  a.id + "-config",
			"dapr.io/log-as-json":             "true",
			"dapr.io/enable-metrics":          "true",
			"dapr.io/metrics-port":            "9090",
			"dapr.io/enable-app-health-check": "true",
			"dapr.io/app-health-check-path":   "/healthz",
		}
		if c.v.serviceMonitor {
			for _, k := range []string{"prometheus.io/scrape", "prometheus.io/port", "prometheus.io/path"} {
				if _, ok := ann[k]; ok {
					c.errorf("%s: %s set although a ServiceMonitor scrapes it", where, k)
				}
			}
		} else {
			want["prometheus.io/scrape"] = "true"
			want["prometheus.io/port"] = strconv.Itoa(metricsPort)
			want["prometheus.io/path"] = "/metrics"
		}
		for k, w := range want {
			if ann[k] != w {
				c.errorf("%s: annotation %s = %q, want %q", where, k, ann[k], w)
			}
		}
		for _, k := range []string{"dapr.io/app-health-probe-interval", "dapr.io/app-health-threshold"} {
			if n, err := strconv.Atoi(ann[k]); err != nil || n < 1 {
				c.errorf("%s: annotation %s = %q, want a positive number", where, k, ann[k])
			}
		}
		if _, ok := configs[ann["dapr.io/config"]]; !ok {
			c.errorf("%s: dapr.io/config %q is not a rendered Configuration", where, ann["dapr.io/config"])
		}
		for _, k := range []string{"dapr.io/api-token-secret", "dapr.io/app-token-secret"} {
			if !secrets[ann[k]]["token"] {
				c.errorf("%s: %s %q is not a rendered Secret with key token", where, k, ann[k])
			}
		}
		if ann["dapr.io/api-token-secret"] == ann["dapr.io/app-token-secret"] {
			c.errorf("%s: the API token and the app token share a Secret", where)
		}
		if c.v.production {
			for _, k := range []string{"dapr.io/sidecar-cpu-request", "dapr.io/sidecar-memory-request", "dapr.io/sidecar-memory-limit"} {
				if ann[k] == "" {
					c.errorf("%s: production sidecar without %s", where, k)
				}
			}
		}

		pod := d.Spec.Template.Spec
		if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
			c.errorf("%s: pod securityContext.runAsNonRoot is not true", where)
		}
		if len(pod.Containers) != 1 {
			c.errorf("%s: %d containers, want 1 (daprd is injected by Dapr)", where, len(pod.Containers))
			continue
		}
		ctr := pod.Containers[0]
		c.equal(where+" container name", ctr.Name, a.id)
		if !strings.HasSuffix(ctr.Image, "/"+a.image+":"+imageTag(c.v)) && ctr.Image != a.image+":"+imageTag(c.v) {
			c.errorf("%s: image %q, want %s:%s", where, ctr.Image, a.image, imageTag(c.v))
		}
		if len(ctr.Command) > 0 || len(ctr.Args) > 0 {
			c.errorf("%s: command/args set; the image's entrypoint /app/%s serves", where, a.binary)
		}
		ports := map[string]int32{}
		for _, p := range ctr.Ports {
			ports[p.Name] = p.ContainerPort
		}
		wantPorts := map[string]int32{"app": int32(a.appPort), "metrics": metricsPort}
		if a.publicPort != 0 {
			wantPorts["http"] = int32(a.publicPort)
		}
		c.equal(where+" ports", ports, wantPorts)
		// The sidecar calls the container's app port, whatever the registry
		// says: dapr.io/app-port, the port named app and APP_ADDR agree.
		if ann["dapr.io/app-port"] != strconv.Itoa(int(ports["app"])) || ports["app"] == 0 {
			c.errorf("%s: dapr.io/app-port %q is not the container's app port (port \"app\", %d)", where, ann["dapr.io/app-port"], ports["app"])
		}
		checkProbe(c, where+" liveness", ctr.LivenessProbe, "/healthz", ports)
		checkProbe(c, where+" readiness", ctr.ReadinessProbe, "/readyz", ports)
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if q, ok := ctr.Resources.Requests[r]; !ok || q.IsZero() {
				c.errorf("%s: no %s request", where, r)
			}
			if q, ok := ctr.Resources.Limits[r]; !ok || q.IsZero() {
				c.errorf("%s: no %s limit", where, r)
			}
		}
		checkContainerSecurity(c, where, ctr.SecurityContext)

		env := envByName(ctr)
		plain := map[string]string{
			"APP_ADDR":     fmt.Sprintf(":%d", ports["app"]),
			"METRICS_ADDR": fmt.Sprintf(":%d", metricsPort),
			"PUBSUB_NAME":  "kafka-pubsub",
			"LOG_LEVEL":    "info",
			"LOG_FORMAT":   "json",
		}
		if a.publicPort != 0 {
			plain["HTTP_ADDR"] = fmt.Sprintf(":%d", a.publicPort)
		} else if e, ok := env["HTTP_ADDR"]; ok {
			c.errorf("%s: HTTP_ADDR=%q for an app without a public port (it reads APP_ADDR only)", where, e.Value)
		}
		if a.id == "todo-api" {
			plain["MIGRATE_ON_START"] = "false"
			plain["RATE_LIMIT_WRITES_PER_SECOND"] = "20"
			plain["RATE_LIMIT_BURST"] = "40"
		}
		for k, w := range plain {
			if e, ok := env[k]; !ok || e.Value != w || e.ValueFrom != nil {
				c.errorf("%s: env %s = %q, want %q", where, k, env[k].Value, w)
			}
		}
		fromSecret := map[string]string{
			"DAPR_API_TOKEN": ann["dapr.io/api-token-secret"],
			"APP_API_TOKEN":  ann["dapr.io/app-token-secret"],
		}
		for k, secret := range fromSecret {
			e := env[k]
			if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name != secret ||
				e.ValueFrom.SecretKeyRef.Key != "token" {
				c.errorf("%s: env %s is not key token of Secret %s (the one daprd gets)", where, k, secret)
			}
		}
		secretEnv := []string{}
		if a.database {
			secretEnv = append(secretEnv, "DATABASE_URL")
		} else if _, ok := env["DATABASE_URL"]; ok {
			c.errorf("%s: DATABASE_URL set for an app without a database", where)
		}
		if a.id == "todo-api" {
			secretEnv = append(secretEnv, "JWT_SECRET")
			if c.v.jwks != (env["JWT_JWKS_URL"].Value != "") {
				c.errorf("%s: JWT_JWKS_URL = %q", where, env["JWT_JWKS_URL"].Value)
			}
		}
		if a.id == "web-app" {
			secretEnv = append(secretEnv, "API_TOKEN_KEYS", "COOKIE_KEYS", "OIDC_CLIENT_SECRET")
			checkWebEnv(c, where, env)
		}
		// The dev sign-in (a user name alone) is for local runs only.
		if e, ok := env["DEV_SIGNIN"]; ok {
			c.errorf("%s: env DEV_SIGNIN=%q: the chart never enables the dev sign-in", where, e.Value)
		}
		for _, k := range secretEnv {
			e, ok := env[k]
			if !ok || e.Value != "" || e.ValueFrom == nil {
				c.errorf("%s: env %s must come from a Secret", where, k)
				continue
			}
			c.secretRef(where+" env "+k, e.ValueFrom.SecretKeyRef, secrets)
		}
		// Nothing secret as a plain value.
		for _, e := range ctr.Env {
			if e.Value != "" && (strings.Contains(e.Name, "SECRET") || strings.HasSuffix(e.Name, "_TOKEN") ||
				strings.HasSuffix(e.Name, "_KEYS") || strings.Contains(e.Name, "PASSWORD") || e.Name == "DATABASE_URL") {
				c.errorf("%s: env %s is a plain value", where, e.Name)
			}
		}
	}
	return byID
}

// checkWebEnv checks web-app's own configuration: an https public URL, the
// API through its Service, an identity provider, its own signing and
// cookie keys (required: web-app does not start without them) while the
// OIDC client secret may be absent (a public client), the limits, and none
// of todo-api's HS256 settings (web-app no longer reads them).
func checkWebEnv(c checker, where string, env map[string]corev1.EnvVar) {
	c.t.Helper()
	if u := env["PUBLIC_URL"].Value; !strings.HasPrefix(u, "https://") || strings.Count(u, "/") != 2 {
		c.errorf("%s: PUBLIC_URL %q, want https://host", where, u)
	}
	c.equal(where+" TODO_API_URL", env["TODO_API_URL"].Value, "http://todo-api:8080")
	for _, k := range []string{"OIDC_ISSUER", "OIDC_CLIENT_ID", "OIDC_SCOPES", "STREAM_HEARTBEAT", "STREAMS_PER_USER", "MAX_STREAMS", "SESSION_TTL",
		"API_TOKEN_ISSUER", "API_TOKEN_AUDIENCE", "API_TOKEN_TTL", "TRUSTED_PROXIES", "STREAMS_PER_CLIENT", "STREAM_RECHECK", "STREAM_SESSION_GRACE",
		"SIGNIN_RATE_PER_MINUTE", "SIGNIN_BURST", "STREAM_OPEN_RATE_PER_MINUTE", "STREAM_OPEN_BURST"} {
		if env[k].Value == "" {
			c.errorf("%s: env %s empty", where, k)
		}
	}
	for _, k := range []string{"JWT_SECRET", "JWT_ISSUER", "JWT_AUDIENCE", "JWT_JWKS_URL"} {
		if _, ok := env[k]; ok {
			c.errorf("%s: env %s set: web-app signs with its own key (API_TOKEN_KEYS) and must not hold todo-api's", where, k)
		}
	}
	for _, k := range []string{"API_TOKEN_KEYS", "COOKIE_KEYS"} {
		if r := env[k].ValueFrom; r != nil && r.SecretKeyRef != nil && r.SecretKeyRef.Optional != nil && *r.SecretKeyRef.Optional {
			c.errorf("%s: %s is optional; web-app does not start without it", where, k)
		}
	}
	if r := env["OIDC_CLIENT_SECRET"].ValueFrom; r == nil || r.SecretKeyRef == nil || r.SecretKeyRef.Optional == nil || !*r.SecretKeyRef.Optional {
		c.errorf("%s: OIDC_CLIENT_SECRET must be an optional Secret key (public clients have none)", where)
	}
	for _, part := range strings.Split(env["TRUSTED_PROXIES"].Value, ",") {
		part = strings.TrimSpace(part)
		if _, err := netip.ParsePrefix(part); err != nil {
			if _, err := netip.ParseAddr(part); err != nil {
				c.errorf("%s: TRUSTED_PROXIES entry %q is neither a CIDR nor an address", where, part)
			}
		}
	}
	if d, err := time.ParseDuration(env["API_TOKEN_TTL"].Value); err != nil || d <= 0 || d > 15*time.Minute {
		c.errorf("%s: API_TOKEN_TTL %q: want a duration of at most 15m", where, env["API_TOKEN_TTL"].Value)
	}
	if d, err := time.ParseDuration(env["STREAM_SESSION_GRACE"].Value); err != nil || d < 0 || d > 2*time.Minute {
		c.errorf("%s: STREAM_SESSION_GRACE %q: want a duration of at most 2m", where, env["STREAM_SESSION_GRACE"].Value)
	}
}

// checkAppTokensPerApp: each app's APP_API_TOKEN, in its container and for
// its sidecar (dapr.io/app-token-secret), comes from a Secret of its own:
// no two apps share one, none is the Dapr API token's, and two chart-made
// ones never hold the same token.
func checkAppTokensPerApp(c checker, deps map[string]*appsv1.Deployment, secrets []*corev1.Secret) {
	c.t.Helper()
	data := map[string]string{}
	for _, s := range secrets {
		data[s.Name] = string(s.Data["token"])
	}
	owner := map[string]string{}
	byToken := map[string]string{}
	for _, id := range slices.Sorted(maps.Keys(deps)) {
		d := deps[id]
		ann := d.Spec.Template.Annotations
		name := ann["dapr.io/app-token-secret"]
		if len(d.Spec.Template.Spec.Containers) > 0 {
			e := envByName(d.Spec.Template.Spec.Containers[0])["APP_API_TOKEN"]
			if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name != name {
				c.errorf("app %s: APP_API_TOKEN does not come from its sidecar's Secret %q", id, name)
			}
		}
		if name == "" {
			continue
		}
		if other, dup := owner[name]; dup {
			c.errorf("apps %s and %s share the APP_API_TOKEN Secret %s: each app must accept its own sidecar only", other, id, name)
		}
		owner[name] = id
		if name == ann["dapr.io/api-token-secret"] {
			c.errorf("app %s: APP_API_TOKEN and DAPR_API_TOKEN share the Secret %s", id, name)
		}
		if tok := data[name]; tok != "" {
			if other, dup := byToken[tok]; dup {
				c.errorf("apps %s and %s have the same APP_API_TOKEN (Secrets %s and %s)", other, id, deps[other].Spec.Template.Annotations["dapr.io/app-token-secret"], name)
			}
			byToken[tok] = id
		}
	}
}

// checkWebTokensInvocation: todo-api accepts web-app's tokens (its
// WEB_TOKEN_ISSUER and WEB_TOKEN_AUDIENCE are web-app's API_TOKEN_ISSUER and
// API_TOKEN_AUDIENCE, and differ from JWT_ISSUER), and, reading web-app's
// JWK Set through its sidecar (no WEB_TOKEN_JWKS_URL), may invoke web-app
// under web-app's access control.
func checkWebTokensInvocation(c checker, deps map[string]*appsv1.Deployment, configs map[string]*configurationv1alpha1.Configuration) {
	c.t.Helper()
	api, web := deps["todo-api"], deps["web-app"]
	if api == nil || web == nil || len(api.Spec.Template.Spec.Containers) == 0 || len(web.Spec.Template.Spec.Containers) == 0 {
		return
	}
	apiEnv, webEnv := envByName(api.Spec.Template.Spec.Containers[0]), envByName(web.Spec.Template.Spec.Containers[0])
	c.equal("todo-api WEB_TOKEN_ISSUER (web-app's API_TOKEN_ISSUER)", apiEnv["WEB_TOKEN_ISSUER"].Value, webEnv["API_TOKEN_ISSUER"].Value)
	if apiEnv["WEB_TOKEN_ISSUER"].Value == "" {
		c.errorf("todo-api: no WEB_TOKEN_ISSUER: web-app's tokens would be refused")
	}
	if aud := apiEnv["WEB_TOKEN_AUDIENCE"].Value; aud != "" || webEnv["API_TOKEN_AUDIENCE"].Value != "todo-api" {
		c.equal("todo-api WEB_TOKEN_AUDIENCE (web-app's API_TOKEN_AUDIENCE)", aud, webEnv["API_TOKEN_AUDIENCE"].Value)
	}
	if iss := apiEnv["WEB_TOKEN_ISSUER"].Value; iss != "" && iss == apiEnv["JWT_ISSUER"].Value {
		c.errorf("todo-api: WEB_TOKEN_ISSUER and JWT_ISSUER are both %q", iss)
	}
	if _, ok := apiEnv["WEB_TOKEN_JWKS_URL"]; ok || !c.v.accessControl {
		return
	}
	webID := apiEnv["WEB_APP_ID"].Value
	if webID == "" {
		webID = "web-app"
	}
	cfg := configs[web.Spec.Template.Annotations["dapr.io/config"]]
	if web.Spec.Template.Annotations["dapr.io/app-id"] != webID || cfg == nil || cfg.Spec.AccessControlSpec == nil {
		c.errorf("todo-api reads %s's JWK Set through Dapr, but %s has no access control to allow it", webID, webID)
		return
	}
	allowed := false
	for _, p := range cfg.Spec.AccessControlSpec.AppPolicies {
		if p.AppName == "todo-api" && p.DefaultAction == "allow" && p.Namespace == namespace && len(p.AppOperationActions) == 0 {
			allowed = true
		}
	}
	if !allowed && cfg.Spec.AccessControlSpec.DefaultAction != "allow" {
		c.errorf("todo-api may not invoke %s under %s's access control: it could not read the JWK Set, and every page's API call would be refused", webID, cfg.Name)
	}
}

// imageTag is the tag every variant uses: the chart's appVersion.
func imageTag(variant) string { return "0.1.0" }

// checkProbe: an HTTP GET of path on the app port (the container port
// named app), by name or number. Never the public port: web-app's answers
// only its public host there, and the kubelet sends the pod IP.
func checkProbe(c checker, where string, p *corev1.Probe, path string, ports map[string]int32) {
	c.t.Helper()
	if p == nil || p.HTTPGet == nil {
		c.errorf("%s probe: missing or not HTTP GET", where)
		return
	}
	c.equal(where+" path", p.HTTPGet.Path, path)
	port := p.HTTPGet.Port
	n := port.IntVal
	if port.Type == intstr.String {
		n = ports[port.StrVal]
	}
	if n == 0 || n != ports["app"] {
		c.errorf("%s probe: port %s is not the app port (container port app, %d)", where, port.String(), ports["app"])
	}
}

func checkContainerSecurity(c checker, where string, sc *corev1.SecurityContext) {
	c.t.Helper()
	if sc == nil {
		c.errorf("%s: no securityContext", where)
		return
	}
	isTrue := func(b *bool) bool { return b != nil && *b }
	if !isTrue(sc.RunAsNonRoot) {
		c.errorf("%s: runAsNonRoot is not true", where)
	}
	if !isTrue(sc.ReadOnlyRootFilesystem) {
		c.errorf("%s: readOnlyRootFilesystem is not true", where)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		c.errorf("%s: allowPrivilegeEscalation is not false", where)
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 {
		c.errorf("%s: capabilities must drop ALL and add none", where)
	}
	if sc.RunAsUser == nil || *sc.RunAsUser != 65532 {
		c.errorf("%s: runAsUser is not 65532 (the images' user)", where)
	}
}

// checkServices: a Service per app with a public port, with that port
// only; with ServiceMonitors, a <app-id>-metrics Service per app with the
// metrics port only. (That none reaches an app port is appPortLeaks.)
func checkServices(c checker, svcs []*corev1.Service, deps map[string]*appsv1.Deployment) {
	byName := map[string]*corev1.Service{}
	for _, s := range svcs {
		byName[s.Name] = s
	}
	want := map[string]map[string]string{}
	for _, a := range apps {
		if a.publicPort != 0 {
			want[a.id] = map[string]string{"http": fmt.Sprintf("%d->http", a.publicPort)}
		}
		if c.v.serviceMonitor {
			want[a.id+"-metrics"] = map[string]string{"metrics": fmt.Sprintf("%d->metrics", metricsPort)}
		}
	}
	c.equal("Services", slices.Sorted(maps.Keys(byName)), slices.Sorted(maps.Keys(want)))
	for _, a := range apps {
		d := deps[a.id]
		for _, name := range []string{a.id, a.id + "-metrics"} {
			s := byName[name]
			if s == nil || d == nil || want[name] == nil {
				continue
			}
			c.equal("Service "+name+" selector", s.Spec.Selector, d.Spec.Selector.MatchLabels)
			ports := map[string]string{}
			for _, p := range s.Spec.Ports {
				ports[p.Name] = fmt.Sprintf("%d->%s", p.Port, p.TargetPort.String())
			}
			c.equal("Service "+name+" ports", ports, want[name])
		}
	}
}

func checkPDBs(c checker, pdbs []*policyv1.PodDisruptionBudget, deps map[string]*appsv1.Deployment) {
	byName := map[string]*policyv1.PodDisruptionBudget{}
	for _, p := range pdbs {
		byName[p.Name] = p
	}
	for _, a := range apps {
		d := deps[a.id]
		if d == nil || d.Spec.Replicas == nil {
			continue
		}
		p := byName[a.id]
		delete(byName, a.id)
		if *d.Spec.Replicas <= 1 {
			if p != nil {
				c.errorf("PodDisruptionBudget %s for a single replica: it would block node drains", a.id)
			}
			continue
		}
		if p == nil {
			c.errorf("no PodDisruptionBudget for %s (%d replicas)", a.id, *d.Spec.Replicas)
			continue
		}
		if p.Spec.MinAvailable == nil || p.Spec.MinAvailable.String() != "1" || p.Spec.MaxUnavailable != nil {
			c.errorf("PodDisruptionBudget %s: want minAvailable 1 only", a.id)
		}
		c.equal("PodDisruptionBudget "+a.id+" selector", p.Spec.Selector.MatchLabels, d.Spec.Selector.MatchLabels)
	}
	for name := range byName {
		c.errorf("PodDisruptionBudget %s is for no app", name)
	}
}

func checkJob(c checker, jobs []*batchv1.Job, secrets map[string]map[string]bool) {
	if len(jobs) != 1 {
		c.errorf("%d Jobs, want the migration Job only", len(jobs))
		return
	}
	j := jobs[0]
	where := "Job " + j.Name
	c.equal(where+" hook", j.Annotations["helm.sh/hook"], "pre-install,pre-upgrade")
	c.equal(where+" hook-delete-policy", j.Annotations["helm.sh/hook-delete-policy"], "before-hook-creation,hook-succeeded")
	c.equal(where+" dapr.io/enabled", j.Spec.Template.Annotations["dapr.io/enabled"], "false")
	for k := range j.Spec.Template.Annotations {
		if strings.HasPrefix(k, "dapr.io/") && k != "dapr.io/enabled" {
			c.errorf("%s: Dapr annotation %s on a pod without sidecar", where, k)
		}
	}
	pod := j.Spec.Template.Spec
	c.equal(where+" restartPolicy", pod.RestartPolicy, corev1.RestartPolicyNever)
	if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
		c.errorf("%s: pod securityContext.runAsNonRoot is not true", where)
	}
	if len(pod.Containers) != 1 {
		c.errorf("%s: %d containers", where, len(pod.Containers))
		return
	}
	ctr := pod.Containers[0]
	c.equal(where+" command", append(ctr.Command, ctr.Args...), []string{"/app/todo-api", "migrate"})
	if !strings.Contains(ctr.Image, "todo-api:") {
		c.errorf("%s: image %s is not todo-api's", where, ctr.Image)
	}
	checkContainerSecurity(c, where, ctr.SecurityContext)
	env := envByName(ctr)
	if e, ok := env["DATABASE_URL"]; !ok || e.ValueFrom == nil {
		c.errorf("%s: DATABASE_URL not from a Secret", where)
	} else {
		c.secretRef(where+" env DATABASE_URL", e.ValueFrom.SecretKeyRef, secrets)
	}
	if ctr.Resources.Limits.Memory().IsZero() || ctr.Resources.Requests.Cpu().IsZero() {
		c.errorf("%s: no resources", where)
	}
}

func checkIngress(c checker, ings []*networkingv1.Ingress) {
	if !c.v.ingress {
		if len(ings) != 0 {
			c.errorf("Ingress rendered with ingress.enabled=false")
		}
		return
	}
	byBackend := map[string]*networkingv1.Ingress{}
	for _, ing := range ings {
		if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName == "" {
			c.errorf("Ingress %s without className", ing.Name)
		}
		if len(ing.Spec.Rules) != 1 || ing.Spec.Rules[0].Host == "" || ing.Spec.Rules[0].HTTP == nil {
			c.errorf("Ingress %s: want one rule with a host", ing.Name)
			continue
		}
		backends := map[string]bool{}
		for _, p := range ing.Spec.Rules[0].HTTP.Paths {
			b := p.Backend.Service
			if b == nil || b.Port.Name != "http" {
				c.errorf("Ingress %s path %s does not go to an app's http port", ing.Name, p.Path)
				continue
			}
			backends[b.Name] = true
		}
		if len(backends) != 1 {
			c.errorf("Ingress %s: paths to %v, want one app", ing.Name, slices.Sorted(maps.Keys(backends)))
			continue
		}
		for b := range backends {
			byBackend[b] = ing
		}
		if c.v.production && (len(ing.Spec.TLS) == 0 || ing.Spec.TLS[0].SecretName == "") {
			c.errorf("production Ingress %s without TLS", ing.Name)
		}
	}
	c.equal("Ingresses' apps", slices.Sorted(maps.Keys(byBackend)), []string{"todo-api", "web-app"})
	if api, web := byBackend["todo-api"], byBackend["web-app"]; api != nil && web != nil {
		if api.Spec.Rules[0].Host == web.Spec.Rules[0].Host {
			c.errorf("todo-api and web-app share host %s: the pages' /api calls must reach web-app", api.Spec.Rules[0].Host)
		}
		if p := web.Spec.Rules[0].HTTP.Paths; len(p) != 1 || p[0].Path != "/" {
			c.errorf("web-app's Ingress: want the single path /")
		}
		// The live stream is long-lived: not buffered, not cut by the
		// proxy's read or send timeout between two heartbeats.
		if cn := web.Spec.IngressClassName; cn != nil && *cn == "nginx" {
			for k, want := range map[string]string{
				"nginx.ingress.kubernetes.io/proxy-buffering":    "off",
				"nginx.ingress.kubernetes.io/proxy-read-timeout": "3600",
				"nginx.ingress.kubernetes.io/proxy-send-timeout": "3600",
			} {
				c.equal("web-app's Ingress annotation "+k, web.Annotations[k], want)
			}
			for _, k := range []string{"nginx.ingress.kubernetes.io/proxy-buffering", "nginx.ingress.kubernetes.io/proxy-read-timeout"} {
				if _, ok := api.Annotations[k]; ok {
					c.errorf("todo-api's Ingress has the stream's annotation %s", k)
				}
			}
		}
	}
}

// componentScopes says which apps load which component (the chart narrows
// the unscoped source components to the apps that use them): a pub/sub
// component every app that publishes or subscribes through it, as the
// registry says, in app id order (the chart ranges over the apps map; the
// registry's readers are the variant's extra scopes); live-pubsub is
// web-app's alone (its own consumer groups, one per replica).
func componentScopes(name string) []string {
	if pubsubNames[name] {
		var ids []string
		for _, a := range apps {
			if a.pubsubs[name] {
				ids = append(ids, a.id)
			}
		}
		return slices.Sorted(slices.Values(ids))
	}
	return map[string][]string{
		"statestore":    {"notification-service", "web-app"},
		"reminder-cron": {"reminder-service"},
	}[name]
}

func checkComponents(c checker, comps []*componentsv1alpha1.Component, secrets map[string]map[string]bool) {
	names := []string{}
	for _, comp := range comps {
		names = append(names, comp.Name)
		where := "Component " + comp.Name
		want := componentScopes(comp.Name)
		if comp.Name == "kafka-pubsub" {
			want = append(want, c.v.pubsubExtraScopes...)
		}
		c.equal(where+" scopes", comp.Scopes, want)
		for _, md := range comp.Spec.Metadata {
			secretish := strings.Contains(strings.ToLower(md.Name), "password") ||
				strings.Contains(strings.ToLower(md.Name), "username") || md.Name == "connectionString"
			if !secretish {
				continue
			}
			if md.HasValue() || md.SecretKeyRef.Name == "" {
				c.errorf("%s: metadata %s must be a secretKeyRef", where, md.Name)
				continue
			}
			if md.SecretKeyRef.Name == "" || md.SecretKeyRef.Key == "" {
				c.errorf("%s: metadata %s: incomplete secretKeyRef", where, md.Name)
			}
			if comp.SecretStore != "kubernetes" {
				c.errorf("%s: secretKeyRef without auth.secretStore kubernetes", where)
			}
			ref := corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: md.SecretKeyRef.Name}, Key: md.SecretKeyRef.Key}
			c.secretRef(where+" metadata "+md.Name, &ref, secrets)
		}
		if comp.Name == "kafka-pubsub" || comp.Name == "live-pubsub" {
			c.equal(where+" type", comp.Spec.Type, "pubsub."+c.v.brokerType())
		}
		if comp.Spec.Type == "pubsub.kafka" {
			auth := metadataValue(comp, "authType")
			if c.v.production {
				c.equal(where+" authType", auth, "password")
				c.equal(where+" disableTls", metadataValue(comp, "disableTls"), "false")
				if metadataValue(comp, "saslMechanism") == "" {
					c.errorf("%s: SASL without saslMechanism", where)
				}
			} else {
				c.equal(where+" authType", auth, "none")
			}
		}
	}
	c.equal("Components", slices.Sorted(slices.Values(names)), []string{"kafka-pubsub", "live-pubsub", "reminder-cron", "statestore"})
}

func metadataValue(comp *componentsv1alpha1.Component, name string) string {
	for _, md := range comp.Spec.Metadata {
		if md.Name == name {
			return md.Value.String()
		}
	}
	return ""
}

func checkConfigurations(c checker, configs map[string]*configurationv1alpha1.Configuration) {
	want := []string{}
	for _, a := range apps {
		want = append(want, a.id+"-config")
	}
	c.equal("Configurations", slices.Sorted(maps.Keys(configs)), slices.Sorted(slices.Values(want)))
	for _, a := range apps {
		cfg := configs[a.id+"-config"]
		if cfg == nil {
			continue
		}
		where := "Configuration " + cfg.Name
		s := cfg.Spec
		if s.TracingSpec == nil {
			c.errorf("%s: no tracing", where)
		} else {
			if r, err := strconv.ParseFloat(s.TracingSpec.SamplingRate, 64); err != nil || r < 0 || r > 1 {
				c.errorf("%s: samplingRate %q is not a number in [0, 1]", where, s.TracingSpec.SamplingRate)
			}
			if c.v.production {
				o := s.TracingSpec.Otel
				if o == nil || o.EndpointAddress == "" || o.IsSecure == nil || o.Protocol == "" {
					c.errorf("%s: production tracing without a complete otel exporter", where)
				}
			}
		}
		if s.MetricsSpec != nil {
			c.errorf("%s: sets the deprecated spec.metrics; the chart sets spec.metric", where)
		}
		if s.MetricSpec == nil || s.MetricSpec.Enabled == nil || !*s.MetricSpec.Enabled {
			c.errorf("%s: metrics not enabled", where)
		} else if h := s.MetricSpec.HTTP; h == nil || h.IncreasedCardinality == nil || *h.IncreasedCardinality {
			// daprd's default: one series per request path, without bound.
			c.errorf("%s: spec.metric.http.increasedCardinality is not false", where)
		} else if want, err := localMetricSpec(); err != nil {
			c.errorf("%v", err)
		} else if !reflect.DeepEqual(*s.MetricSpec, want) {
			c.errorf("%s: spec.metric %s differs from dapr/config.yaml's %s", where, toJSON(*s.MetricSpec), toJSON(want))
		}
		acl := s.AccessControlSpec
		if !c.v.accessControl {
			if acl != nil {
				c.errorf("%s: accessControl rendered although disabled", where)
			}
			continue
		}
		if acl == nil {
			c.errorf("%s: no accessControl", where)
			continue
		}
		c.equal(where+" accessControl.defaultAction", acl.DefaultAction, "deny")
		callers := []string{}
		for _, p := range acl.AppPolicies {
			callers = append(callers, p.AppName)
			// Dapr refuses a policy without trust domain or namespace.
			if p.TrustDomain == "" || p.Namespace != namespace || p.DefaultAction != "allow" {
				c.errorf("%s: policy for %s: want defaultAction allow, a trustDomain and namespace %s", where, p.AppName, namespace)
			}
		}
		c.equal(where+" callers", slices.Sorted(slices.Values(callers)), slices.Sorted(slices.Values(a.callers)))
	}
}

// localMetricSpec is spec.metric of dapr/config.yaml, the Configuration of
// every local sidecar, decoded strictly into Dapr's type.
var localMetricSpec = sync.OnceValues(func() (configurationv1alpha1.MetricSpec, error) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "dapr", "config.yaml"))
	if err != nil {
		return configurationv1alpha1.MetricSpec{}, err
	}
	var cfg configurationv1alpha1.Configuration
	if err := DecodeStrict(b, &cfg); err != nil {
		return configurationv1alpha1.MetricSpec{}, fmt.Errorf("dapr/config.yaml: %w", err)
	}
	if cfg.Spec.MetricSpec == nil {
		return configurationv1alpha1.MetricSpec{}, errors.New("dapr/config.yaml: no spec.metric")
	}
	return *cfg.Spec.MetricSpec, nil
})

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func checkServiceMonitors(c checker, sms []*monitoringv1.ServiceMonitor) {
	if !c.v.serviceMonitor {
		if len(sms) != 0 {
			c.errorf("ServiceMonitor rendered although disabled")
		}
		return
	}
	ports := []string{}
	for _, sm := range sms {
		for _, e := range sm.Spec.Endpoints {
			ports = append(ports, e.Port)
			if e.Port == "metrics" && sm.Spec.Selector.MatchLabels["app.kubernetes.io/component"] != "metrics" {
				c.errorf("ServiceMonitor %s: selects Services other than the <app-id>-metrics ones", sm.Name)
			}
		}
	}
	c.equal("ServiceMonitor ports", slices.Sorted(slices.Values(ports)), []string{"dapr-metrics", "metrics"})
}

func checkSecrets(c checker, secrets []*corev1.Secret) {
	created := false
	for _, s := range secrets {
		if s.Name == "todo-secrets" {
			created = true
			c.equal("Secret todo-secrets hook", s.Annotations["helm.sh/hook"], "pre-install,pre-upgrade")
			if len(s.Data["JWT_SECRET"]) < 32 {
				c.errorf("Secret todo-secrets: JWT_SECRET shorter than 32 bytes")
			}
			// web-app's keys, as web-app reads them.
			for i, k := range strings.Split(string(s.Data["API_TOKEN_KEYS"]), ",") {
				if b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(k)); err != nil || len(b) != 32 {
					c.errorf("Secret todo-secrets: API_TOKEN_KEYS key %d is not the base64 of 32 bytes", i+1)
				}
			}
			for i, k := range strings.Split(string(s.Data["COOKIE_KEYS"]), ",") {
				if len(strings.TrimSpace(k)) < 32 {
					c.errorf("Secret todo-secrets: COOKIE_KEYS key %d is shorter than 32 bytes", i+1)
				}
			}
			continue
		}
		if len(s.Data["token"]) < 32 {
			c.errorf("Secret %s: token shorter than 32 bytes", s.Name)
		}
	}
	if created == c.v.production {
		c.errorf("Secret todo-secrets rendered = %v, want %v (secrets.create)", created, !c.v.production)
	}
}
