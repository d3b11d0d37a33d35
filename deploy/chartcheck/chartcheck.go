// Package chartcheck checks the Helm chart deploy/helm/todo offline: it runs
// the real helm CLI (a Go tool of this module) to lint and render the chart,
// decodes every rendered object strictly into its Kubernetes or Dapr Go
// type, checks the chart's invariants, and compares its Dapr resources with
// the repository's components/ folder, the single source of truth.
//
// It is its own module so that helm, k8s.io/api and Dapr's API types stay
// out of the application's go.mod. Run it with `make chart-check`.
package chartcheck

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	componentsv1alpha1 "github.com/dapr/dapr/pkg/apis/components/v1alpha1"
	configurationv1alpha1 "github.com/dapr/dapr/pkg/apis/configuration/v1alpha1"
	resiliencyv1alpha1 "github.com/dapr/dapr/pkg/apis/resiliency/v1alpha1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

// Types maps "apiVersion/kind" to a constructor of the Go type an object of
// that kind decodes into. A kind missing here is an error: the chart may
// only render what can be checked.
var Types = map[string]func() any{
	"apps/v1/Deployment":                      func() any { return &appsv1.Deployment{} },
	"v1/Service":                              func() any { return &corev1.Service{} },
	"v1/Secret":                               func() any { return &corev1.Secret{} },
	"v1/ConfigMap":                            func() any { return &corev1.ConfigMap{} },
	"batch/v1/Job":                            func() any { return &batchv1.Job{} },
	"policy/v1/PodDisruptionBudget":           func() any { return &policyv1.PodDisruptionBudget{} },
	"networking.k8s.io/v1/Ingress":            func() any { return &networkingv1.Ingress{} },
	"dapr.io/v1alpha1/Component":              func() any { return &componentsv1alpha1.Component{} },
	"dapr.io/v1alpha1/Resiliency":             func() any { return &resiliencyv1alpha1.Resiliency{} },
	"dapr.io/v1alpha1/Configuration":          func() any { return &configurationv1alpha1.Configuration{} },
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return &monitoringv1.ServiceMonitor{} },
}

// Object is one decoded YAML document.
type Object struct {
	Source string // helm's "# Source:" comment, or the file name
	Key    string // apiVersion/kind
	Name   string
	Value  any // pointer to the typed object
}

func (o Object) String() string { return fmt.Sprintf("%s %s (%s)", o.Key, o.Name, o.Source) }

var (
	docSeparator = regexp.MustCompile(`(?m)^---[ \t]*$`)
	sourceLine   = regexp.MustCompile(`(?m)^# Source: (.+)$`)
)

// SplitDocuments splits a multi-document YAML stream.
func SplitDocuments(stream []byte) [][]byte {
	var docs [][]byte
	for _, d := range docSeparator.Split(string(stream), -1) {
		docs = append(docs, []byte(d))
	}
	return docs
}

// DecodeStrict decodes one YAML document into v: YAML to JSON (duplicate
// keys are errors), then encoding/json with unknown fields as errors.
func DecodeStrict(doc []byte, v any) error {
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return fmt.Errorf("yaml: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the object")
	}
	return nil
}

// DecodeAll decodes every non-empty document of stream into its type from
// Types. source names the stream in messages when a document has no
// "# Source:" comment.
func DecodeAll(stream []byte, source string) ([]Object, error) {
	var objs []Object
	var errs []string
	for i, doc := range SplitDocuments(stream) {
		src := fmt.Sprintf("%s, document %d", source, i+1)
		if m := sourceLine.FindSubmatch(doc); m != nil {
			src = string(m[1])
		}
		j, err := yaml.YAMLToJSONStrict(doc)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: yaml: %v", src, err))
			continue
		}
		if t := strings.TrimSpace(string(j)); t == "null" || t == "" {
			continue // comments only
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(j, &head); err != nil {
			errs = append(errs, fmt.Sprintf("%s: not an object: %v", src, err))
			continue
		}
		key := head.APIVersion + "/" + head.Kind
		newT, ok := Types[key]
		if !ok {
			errs = append(errs, fmt.Sprintf("%s: %s %q: no Go type for this kind (add it to chartcheck.Types)", src, key, head.Metadata.Name))
			continue
		}
		v := newT()
		if err := DecodeStrict(doc, v); err != nil {
			errs = append(errs, fmt.Sprintf("%s: %s %q: %v", src, key, head.Metadata.Name, err))
			continue
		}
		if head.Metadata.Name == "" {
			errs = append(errs, fmt.Sprintf("%s: %s without metadata.name", src, key))
			continue
		}
		objs = append(objs, Object{Source: src, Key: key, Name: head.Metadata.Name, Value: v})
	}
	if len(errs) > 0 {
		return objs, fmt.Errorf("%d invalid documents:\n  %s", len(errs), strings.Join(errs, "\n  "))
	}
	return objs, nil
}

// Of returns the objects of type T.
func Of[T any](objs []Object) []*T {
	var out []*T
	for _, o := range objs {
		if v, ok := o.Value.(*T); ok {
			out = append(out, v)
		}
	}
	return out
}
