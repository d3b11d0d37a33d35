package chartcheck

// Nothing but the app's own sidecar (and the kubelet) may reach an app's app
// port: no Service port may target it, and every Ingress backend must end
// on a public port. These checks work on what was rendered, whatever the
// templates meant: a Service is followed to the pods it selects and each of
// its ports to the container port it lands on, by name or by number.

import (
	"fmt"
	"net"
	"slices"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// podPorts is what a Deployment's pods listen on, as the checks see it.
type podPorts struct {
	deployment string
	appID      string
	labels     map[string]string
	named      map[string]int32 // container ports by name
	// appPorts are the app's app port by every account: dapr.io/app-port,
	// the container port named "app", APP_ADDR's port and the registry's
	// AppPort of the app id. A Service landing on any of them leaks it.
	appPorts []int32
	// public is the registry's PublicPort of the app id (0: none): the one
	// port an Ingress may end on.
	public int32
}

func addPort(list []int32, p int32) []int32 {
	if p == 0 || slices.Contains(list, p) {
		return list
	}
	return append(list, p)
}

// pods describes every rendered Deployment's pod template.
func pods(deps []*appsv1.Deployment) []podPorts {
	registry := map[string]app{}
	for _, a := range apps {
		registry[a.id] = a
	}
	var out []podPorts
	for _, d := range deps {
		tpl := d.Spec.Template
		p := podPorts{deployment: d.Name, appID: tpl.Annotations["dapr.io/app-id"], labels: tpl.Labels, named: map[string]int32{}}
		if n, err := strconv.Atoi(tpl.Annotations["dapr.io/app-port"]); err == nil {
			p.appPorts = addPort(p.appPorts, int32(n))
		}
		for _, ctr := range tpl.Spec.Containers {
			for _, cp := range ctr.Ports {
				if cp.Name != "" {
					p.named[cp.Name] = cp.ContainerPort
				}
				if cp.Name == "app" {
					p.appPorts = addPort(p.appPorts, cp.ContainerPort)
				}
			}
			for _, e := range ctr.Env {
				if e.Name != "APP_ADDR" {
					continue
				}
				if _, port, err := net.SplitHostPort(e.Value); err == nil {
					if n, err := strconv.Atoi(port); err == nil {
						p.appPorts = addPort(p.appPorts, int32(n))
					}
				}
			}
		}
		if a, ok := registry[p.appID]; ok {
			p.appPorts = addPort(p.appPorts, int32(a.appPort))
			p.public = int32(a.publicPort)
		}
		out = append(out, p)
	}
	return out
}

// selects returns the pods whose labels match a Service's selector. An
// empty selector selects nothing (its endpoints are managed by hand, which
// the checks cannot follow: servicePortProblems refuses it).
func selects(selector map[string]string, all []podPorts) []podPorts {
	if len(selector) == 0 {
		return nil
	}
	var out []podPorts
	for _, p := range all {
		match := true
		for k, v := range selector {
			if p.labels[k] != v {
				match = false
				break
			}
		}
		if match {
			out = append(out, p)
		}
	}
	return out
}

// landsOn is the container port a Service port reaches in a pod: its
// targetPort by name or number, or, without one, its port.
func landsOn(sp corev1.ServicePort, p podPorts) (int32, error) {
	tp := sp.TargetPort
	switch {
	case tp.Type == intstr.String && tp.StrVal != "":
		n, ok := p.named[tp.StrVal]
		if !ok {
			return 0, fmt.Errorf("targetPort %q names no container port of Deployment %s", tp.StrVal, p.deployment)
		}
		return n, nil
	case tp.Type == intstr.Int && tp.IntVal != 0:
		return tp.IntVal, nil
	default:
		return sp.Port, nil
	}
}

// appPortLeaks lists every Service port that lands on an app port of a pod
// it selects, and every Service whose pods the check cannot know.
func appPortLeaks(svcs []*corev1.Service, deps []*appsv1.Deployment) []string {
	all := pods(deps)
	var problems []string
	for _, s := range svcs {
		if s.Spec.Type == corev1.ServiceTypeExternalName {
			continue // a DNS name: no pods, no ports of ours
		}
		if len(s.Spec.Selector) == 0 {
			problems = append(problems, fmt.Sprintf("Service %s has no selector: its endpoints could be any pod's app port", s.Name))
			continue
		}
		for _, sp := range s.Spec.Ports {
			for _, p := range selects(s.Spec.Selector, all) {
				n, err := landsOn(sp, p)
				if err != nil {
					problems = append(problems, fmt.Sprintf("Service %s port %s: %v", s.Name, sp.Name, err))
					continue
				}
				if slices.Contains(p.appPorts, n) {
					problems = append(problems, fmt.Sprintf("Service %s port %s (%d -> %s) reaches %d, the app port of %s: only its sidecar may call it",
						s.Name, sp.Name, sp.Port, sp.TargetPort.String(), n, p.deployment))
				}
			}
		}
	}
	return problems
}

// ingressBackendProblems lists every Ingress backend (rules and default)
// that does not end on the public port of every pod its Service selects.
func ingressBackendProblems(ings []*networkingv1.Ingress, svcs []*corev1.Service, deps []*appsv1.Deployment) []string {
	all := pods(deps)
	byName := map[string]*corev1.Service{}
	for _, s := range svcs {
		byName[s.Name] = s
	}
	var problems []string
	check := func(ing, where string, b *networkingv1.IngressBackend) {
		if b == nil {
			return
		}
		if b.Service == nil {
			problems = append(problems, fmt.Sprintf("Ingress %s %s: a backend that is not a Service", ing, where))
			return
		}
		s := byName[b.Service.Name]
		if s == nil {
			problems = append(problems, fmt.Sprintf("Ingress %s %s: Service %s is not rendered by the chart", ing, where, b.Service.Name))
			return
		}
		var sp *corev1.ServicePort
		for i := range s.Spec.Ports {
			p := &s.Spec.Ports[i]
			if (b.Service.Port.Name != "" && p.Name == b.Service.Port.Name) || (b.Service.Port.Name == "" && p.Port == b.Service.Port.Number) {
				sp = p
			}
		}
		if sp == nil {
			problems = append(problems, fmt.Sprintf("Ingress %s %s: Service %s has no port %q/%d", ing, where, s.Name, b.Service.Port.Name, b.Service.Port.Number))
			return
		}
		selected := selects(s.Spec.Selector, all)
		if len(selected) == 0 {
			problems = append(problems, fmt.Sprintf("Ingress %s %s: Service %s selects no pod of the chart", ing, where, s.Name))
		}
		for _, p := range selected {
			n, err := landsOn(*sp, p)
			switch {
			case err != nil:
				problems = append(problems, fmt.Sprintf("Ingress %s %s: Service %s port %s: %v", ing, where, s.Name, sp.Name, err))
			case p.public == 0:
				problems = append(problems, fmt.Sprintf("Ingress %s %s: reaches %s, an app without a public port", ing, where, p.deployment))
			case n != p.public || p.named["http"] != p.public:
				problems = append(problems, fmt.Sprintf("Ingress %s %s: Service %s port %s lands on %d of %s, not the public port %d (container port http)",
					ing, where, s.Name, sp.Name, n, p.deployment, p.public))
			}
		}
	}
	for _, ing := range ings {
		check(ing.Name, "defaultBackend", ing.Spec.DefaultBackend)
		for _, r := range ing.Spec.Rules {
			if r.HTTP == nil {
				continue
			}
			for _, path := range r.HTTP.Paths {
				check(ing.Name, "path "+r.Host+path.Path, &path.Backend)
			}
		}
	}
	return problems
}
