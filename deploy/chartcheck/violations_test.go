package chartcheck

import (
	"encoding/json"
	"strings"
	"testing"

	configurationv1alpha1 "github.com/dapr/dapr/pkg/apis/configuration/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// cloneObjects deep-copies rendered objects (through JSON) so that a test
// can break them without touching the shared render.
func cloneObjects(t *testing.T, objs []Object) []Object {
	t.Helper()
	out := make([]Object, 0, len(objs))
	for _, o := range objs {
		b, err := json.Marshal(o.Value)
		if err != nil {
			t.Fatal(err)
		}
		v := Types[o.Key]()
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatal(err)
		}
		o.Value = v
		out = append(out, o)
	}
	return out
}

func deployment(objs []Object, id string) *appsv1.Deployment {
	for _, d := range Of[appsv1.Deployment](objs) {
		if d.Name == id {
			return d
		}
	}
	return nil
}

// The invariant checks must notice a broken chart: each mutation below is
// reported.
func TestInvariantViolationsAreDetected(t *testing.T) {
	v := variants[0]
	mutations := map[string]func(objs []Object) []Object{
		"no dapr.io/app-token-secret": func(objs []Object) []Object {
			delete(deployment(objs, "audit-service").Spec.Template.Annotations, "dapr.io/app-token-secret")
			return objs
		},
		"app health check off": func(objs []Object) []Object {
			deployment(objs, "reminder-service").Spec.Template.Annotations["dapr.io/enable-app-health-check"] = "false"
			return objs
		},
		"duplicate app id": func(objs []Object) []Object {
			deployment(objs, "recurring-service").Spec.Template.Annotations["dapr.io/app-id"] = "todo-api"
			return objs
		},
		"no readiness probe": func(objs []Object) []Object {
			deployment(objs, "todo-api").Spec.Template.Spec.Containers[0].ReadinessProbe = nil
			return objs
		},
		"no memory limit": func(objs []Object) []Object {
			delete(deployment(objs, "notification-service").Spec.Template.Spec.Containers[0].Resources.Limits, corev1.ResourceMemory)
			return objs
		},
		"runs as root": func(objs []Object) []Object {
			f := false
			deployment(objs, "todo-api").Spec.Template.Spec.SecurityContext.RunAsNonRoot = &f
			return objs
		},
		"DATABASE_URL as a plain value": func(objs []Object) []Object {
			ctr := &deployment(objs, "todo-api").Spec.Template.Spec.Containers[0]
			for i := range ctr.Env {
				if ctr.Env[i].Name == "DATABASE_URL" {
					ctr.Env[i].ValueFrom = nil
					ctr.Env[i].Value = "postgres://u:p@db/todo"
				}
			}
			return objs
		},
		"migration Job with a sidecar": func(objs []Object) []Object {
			Of[batchv1.Job](objs)[0].Spec.Template.Annotations["dapr.io/enabled"] = "true"
			return objs
		},
		"PDB for a single replica": func(objs []Object) []Object {
			pdb := Object{Key: "policy/v1/PodDisruptionBudget", Name: "todo-api"}
			b := []byte(`{"apiVersion":"policy/v1","kind":"PodDisruptionBudget","metadata":{"name":"todo-api"},
				"spec":{"minAvailable":1,"selector":{"matchLabels":{"app.kubernetes.io/name":"todo-api"}}}}`)
			pdb.Value = Types[pdb.Key]()
			if err := json.Unmarshal(b, pdb.Value); err != nil {
				panic(err)
			}
			return append(objs, pdb)
		},
		"dev sign-in enabled": func(objs []Object) []Object {
			ctr := &deployment(objs, "web-app").Spec.Template.Spec.Containers[0]
			ctr.Env = append(ctr.Env, corev1.EnvVar{Name: "DEV_SIGNIN", Value: "true"})
			return objs
		},
		"web app over http": func(objs []Object) []Object {
			ctr := &deployment(objs, "web-app").Spec.Template.Spec.Containers[0]
			for i := range ctr.Env {
				if ctr.Env[i].Name == "PUBLIC_URL" {
					ctr.Env[i].Value = "http://app.todo.local"
				}
			}
			return objs
		},
		"stream buffered by the ingress": func(objs []Object) []Object {
			for _, ing := range Of[networkingv1.Ingress](objs) {
				delete(ing.Annotations, "nginx.ingress.kubernetes.io/proxy-buffering")
			}
			return objs
		},
		"a Deployment missing": func(objs []Object) []Object {
			for i, o := range objs {
				if o.Key == "apps/v1/Deployment" && o.Name == "audit-service" {
					return append(objs[:i:i], objs[i+1:]...)
				}
			}
			return objs
		},
	}
	base := render(t, v)
	for what, mutate := range mutations {
		t.Run(what, func(t *testing.T) {
			r := &recorder{}
			checkAll(checker{t: r, v: v}, mutate(cloneObjects(t, base)))
			if len(r.msgs) == 0 {
				t.Fatalf("%q went unnoticed", what)
			}
			t.Logf("reported: %s", strings.Join(r.msgs, "; "))
		})
	}
	// And the unbroken render passes.
	r := &recorder{}
	checkAll(checker{t: r, v: v}, cloneObjects(t, base))
	if len(r.msgs) > 0 {
		t.Fatalf("the clean render fails: %s", strings.Join(r.msgs, "; "))
	}
}

func TestDecodeAllIsStrict(t *testing.T) {
	cases := map[string]string{
		"unknown field": "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {portz: []}\n",
		"unknown kind":  "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n",
		"unknown Dapr field": "apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: a}\n" +
			"spec: {type: bindings.cron, version: v1, metadata: [{name: schedule, valu: x}]}\n",
		"duplicate key": "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nmetadata: {name: b}\n",
		"no name":       "apiVersion: v1\nkind: Service\nmetadata: {}\n",
	}
	for what, doc := range cases {
		t.Run(what, func(t *testing.T) {
			if _, err := DecodeAll([]byte("---\n# comment only\n---\n"+doc), what); err == nil {
				t.Fatalf("accepted:\n%s", doc)
			}
		})
	}
	objs, err := DecodeAll([]byte("# Source: x.yaml\napiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\n\n---\n"), "ok")
	if err != nil || len(objs) != 1 || objs[0].Source != "x.yaml" {
		t.Fatalf("valid stream: %v, %v", objs, err)
	}
}

func service(objs []Object, name string) *corev1.Service {
	for _, s := range Of[corev1.Service](objs) {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func setEnv(ctr *corev1.Container, name, value string) {
	for i := range ctr.Env {
		if ctr.Env[i].Name == name {
			ctr.Env[i].Value, ctr.Env[i].ValueFrom = value, nil
			return
		}
	}
	ctr.Env = append(ctr.Env, corev1.EnvVar{Name: name, Value: value})
}

func addObject(objs []Object, key, doc string) []Object {
	o := Object{Key: key}
	o.Value = Types[key]()
	if err := json.Unmarshal([]byte(doc), o.Value); err != nil {
		panic(err)
	}
	return append(objs, o)
}

// The checks of the app port, the per-app tokens and web-app's tokens
// must each notice their own violation: every mutation below must be
// reported with a message containing want (so that it is that check, not
// another, that saw it).
func TestPortAndTokenViolationsAreDetected(t *testing.T) {
	v := variants[0]
	ingressTo := func(objs []Object, app string, port networkingv1.ServiceBackendPort) {
		for _, ing := range Of[networkingv1.Ingress](objs) {
			for _, r := range ing.Spec.Rules {
				for i := range r.HTTP.Paths {
					if b := r.HTTP.Paths[i].Backend.Service; b != nil && b.Name == app {
						b.Port = port
					}
				}
			}
		}
	}
	mutations := map[string]struct {
		want   string
		mutate func(objs []Object) []Object
	}{
		"a Service port to the app port by name": {"the app port of todo-api", func(objs []Object) []Object {
			service(objs, "todo-api").Spec.Ports[0].TargetPort = intstr.FromString("app")
			return objs
		}},
		"a Service port to the app port by number": {"the app port of web-app", func(objs []Object) []Object {
			service(objs, "web-app").Spec.Ports[0].TargetPort = intstr.FromInt32(8095)
			return objs
		}},
		"a Service for a consumer, port = app port, no targetPort": {"reaches 8091, the app port of audit-service", func(objs []Object) []Object {
			return addObject(objs, "v1/Service", `{"metadata":{"name":"audit-service"},"spec":{
				"selector":{"app.kubernetes.io/name":"audit-service","app.kubernetes.io/instance":"todo"},
				"ports":[{"name":"http","port":8091}]}}`)
		}},
		"a Service selecting every pod on a metrics-like port": {"the app port of", func(objs []Object) []Object {
			return addObject(objs, "v1/Service", `{"metadata":{"name":"everything"},"spec":{
				"selector":{"app.kubernetes.io/part-of":"todo"},"ports":[{"name":"x","port":80,"targetPort":"app"}]}}`)
		}},
		"a Service without selector": {"has no selector", func(objs []Object) []Object {
			return addObject(objs, "v1/Service", `{"metadata":{"name":"manual"},"spec":{"ports":[{"name":"x","port":8090}]}}`)
		}},
		"an Ingress to a Service port on the app port": {"not the public port", func(objs []Object) []Object {
			s := service(objs, "todo-api")
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "internal", Port: 8090, TargetPort: intstr.FromString("app")})
			ingressTo(objs, "todo-api", networkingv1.ServiceBackendPort{Name: "internal"})
			return objs
		}},
		"an Ingress to the metrics port, by number": {"lands on 9464 of web-app, not the public port", func(objs []Object) []Object {
			s := service(objs, "web-app")
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "metrics", Port: 9464, TargetPort: intstr.FromString("metrics")})
			ingressTo(objs, "web-app", networkingv1.ServiceBackendPort{Number: 9464})
			return objs
		}},
		"an Ingress to a port the Service lacks": {"has no port", func(objs []Object) []Object {
			ingressTo(objs, "todo-api", networkingv1.ServiceBackendPort{Number: 9999})
			return objs
		}},
		"an Ingress to a Service the chart does not render": {"is not rendered by the chart", func(objs []Object) []Object {
			for _, ing := range Of[networkingv1.Ingress](objs) {
				ing.Spec.DefaultBackend = &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
					Name: "audit-service", Port: networkingv1.ServiceBackendPort{Number: 8091}}}
			}
			return objs
		}},
		"two apps share an APP_API_TOKEN Secret": {"share the APP_API_TOKEN Secret", func(objs []Object) []Object {
			api := deployment(objs, "todo-api").Spec.Template.Annotations["dapr.io/app-token-secret"]
			d := deployment(objs, "recurring-service")
			d.Spec.Template.Annotations["dapr.io/app-token-secret"] = api
			for i, e := range d.Spec.Template.Spec.Containers[0].Env {
				if e.Name == "APP_API_TOKEN" {
					d.Spec.Template.Spec.Containers[0].Env[i].ValueFrom.SecretKeyRef.Name = api
				}
			}
			return objs
		}},
		"two apps' Secrets hold the same token": {"have the same APP_API_TOKEN", func(objs []Object) []Object {
			var first []byte
			for _, s := range Of[corev1.Secret](objs) {
				if strings.HasSuffix(s.Name, "-app-api-token") {
					if first == nil {
						first = s.Data["token"]
					} else {
						s.Data["token"] = first
					}
				}
			}
			return objs
		}},
		"APP_API_TOKEN not from the sidecar's Secret": {"does not come from its sidecar's Secret", func(objs []Object) []Object {
			ctr := &deployment(objs, "notification-service").Spec.Template.Spec.Containers[0]
			for i, e := range ctr.Env {
				if e.Name == "APP_API_TOKEN" {
					ctr.Env[i].ValueFrom.SecretKeyRef.Name = "todo-web-app-app-api-token"
				}
			}
			return objs
		}},
		"a probe on the public port by name": {"readiness probe: port http is not the app port", func(objs []Object) []Object {
			deployment(objs, "web-app").Spec.Template.Spec.Containers[0].ReadinessProbe.HTTPGet.Port = intstr.FromString("http")
			return objs
		}},
		"a probe on the public port by number": {"liveness probe: port 8080 is not the app port", func(objs []Object) []Object {
			deployment(objs, "todo-api").Spec.Template.Spec.Containers[0].LivenessProbe.HTTPGet.Port = intstr.FromInt32(8080)
			return objs
		}},
		"dapr.io/app-port the public port": {"is not the container's app port", func(objs []Object) []Object {
			deployment(objs, "todo-api").Spec.Template.Annotations["dapr.io/app-port"] = "8080"
			return objs
		}},
		"a consumer with HTTP_ADDR": {"HTTP_ADDR=\":8082\" for an app without a public port", func(objs []Object) []Object {
			setEnv(&deployment(objs, "recurring-service").Spec.Template.Spec.Containers[0], "HTTP_ADDR", ":8082")
			return objs
		}},
		"web-app with JWT_SECRET": {"env JWT_SECRET set", func(objs []Object) []Object {
			ctr := &deployment(objs, "web-app").Spec.Template.Spec.Containers[0]
			ctr.Env = append(ctr.Env, corev1.EnvVar{Name: "JWT_SECRET", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "todo-secrets"}, Key: "JWT_SECRET"}}})
			return objs
		}},
		"todo-api may not invoke web-app": {"todo-api may not invoke web-app", func(objs []Object) []Object {
			for _, cfg := range Of[configurationv1alpha1.Configuration](objs) {
				if cfg.Name == "web-app-config" {
					cfg.Spec.AccessControlSpec.AppPolicies = nil
				}
			}
			return objs
		}},
		"todo-api and web-app disagree on the issuer": {"WEB_TOKEN_ISSUER (web-app's API_TOKEN_ISSUER)", func(objs []Object) []Object {
			setEnv(&deployment(objs, "todo-api").Spec.Template.Spec.Containers[0], "WEB_TOKEN_ISSUER", "someone-else")
			return objs
		}},
		"a trusted proxy that is not a CIDR": {"TRUSTED_PROXIES entry", func(objs []Object) []Object {
			setEnv(&deployment(objs, "web-app").Spec.Template.Spec.Containers[0], "TRUSTED_PROXIES", "10.0.0.0/8,ingress-nginx")
			return objs
		}},
		"the dev sign-in set to false": {"DEV_SIGNIN=\"false\"", func(objs []Object) []Object {
			setEnv(&deployment(objs, "web-app").Spec.Template.Spec.Containers[0], "DEV_SIGNIN", "false")
			return objs
		}},
		"a bad API token key in the chart's Secret": {"API_TOKEN_KEYS key 1", func(objs []Object) []Object {
			for _, s := range Of[corev1.Secret](objs) {
				if s.Name == "todo-secrets" {
					s.Data["API_TOKEN_KEYS"] = []byte("c2hvcnQ=")
				}
			}
			return objs
		}},
	}
	base := render(t, v)
	for what, m := range mutations {
		t.Run(what, func(t *testing.T) {
			r := &recorder{}
			checkAll(checker{t: r, v: v}, m.mutate(cloneObjects(t, base)))
			found := false
			for _, msg := range r.msgs {
				found = found || strings.Contains(msg, m.want)
			}
			if !found {
				t.Fatalf("%q not reported as %q; reported: %s", what, m.want, strings.Join(r.msgs, "; "))
			}
			t.Logf("reported: %s", strings.Join(r.msgs, "; "))
		})
	}
}
