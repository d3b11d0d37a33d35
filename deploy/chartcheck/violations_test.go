package chartcheck

import (
	"encoding/json"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
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
