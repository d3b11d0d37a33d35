package devstack

import (
	"os"
	"path/filepath"
	"testing"
)

// Rendering for an environment changes only addresses and the cron period.
func TestRenderChangesOnlyAddressesAndPeriod(t *testing.T) {
	src := filepath.Join("..", "..", "components")
	dst := t.TempDir()
	err := RenderComponents(src, dst, Overrides{
		Brokers:         "127.0.0.1:19092",
		StateConnection: "postgres://u@127.0.0.1:5433/x",
		CronSchedule:    "@every 2s",
	})
	if err != nil {
		t.Fatal(err)
	}
	before, err := ComponentMetadata(src)
	if err != nil {
		t.Fatal(err)
	}
	after, err := ComponentMetadata(dst)
	if err != nil {
		t.Fatal(err)
	}
	changed := map[string]string{
		"kafka-pubsub/brokers":        "127.0.0.1:19092",
		"live-pubsub/brokers":         "127.0.0.1:19092",
		"statestore/connectionString": "postgres://u@127.0.0.1:5433/x",
		"reminder-cron/schedule":      "@every 2s",
	}
	for name, md := range before {
		for k, v := range md {
			got := after[name][k]
			if want, ok := changed[name+"/"+k]; ok {
				if got != want {
					t.Errorf("%s/%s = %q, want %q", name, k, got, want)
				}
			} else if got != v {
				t.Errorf("%s/%s changed from %q to %q", name, k, v, got)
			}
		}
		if len(after[name]) != len(md) {
			t.Errorf("%s: metadata keys %v became %v", name, md, after[name])
		}
	}
	// The contract: names, types and the settings the design depends on.
	want := map[string]map[string]string{
		"kafka-pubsub": {"type": "pubsub.kafka", "consumerGroup": "{appID}"},
		// One consumer group per replica of web-app, starting at the newest
		// event: every replica pushes every event to its browsers.
		"live-pubsub": {"type": "pubsub.kafka", "consumerGroup": "{appID}-{uuid}", "initialOffset": "newest", "scopes": "web-app"},
		"statestore":  {"type": "state.postgresql"},
		// Without scopes every app would get cron calls.
		"reminder-cron": {"type": "bindings.cron", "schedule": "@every 5m", "scopes": "reminder-service"},
	}
	for name, kv := range want {
		for k, v := range kv {
			if before[name][k] != v {
				t.Errorf("components/: %s %s = %q, want %q", name, k, before[name][k], v)
			}
		}
	}
	// The rendered folder holds every file, Resiliency included.
	for _, f := range []string{"pubsub.yaml", "statestore.yaml", "cron.yaml", "resiliency.yaml", "pubsub-live.yaml"} {
		if _, err := os.Stat(filepath.Join(dst, f)); err != nil {
			t.Errorf("rendered folder lacks %s", f)
		}
	}
}

func TestRenderRefusesUnknownComponent(t *testing.T) {
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "x.yaml"), []byte("apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: other\nspec:\n  type: pubsub.kafka\n  metadata: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := RenderComponents(src, t.TempDir(), Overrides{Brokers: "x:1"}); err == nil {
		t.Error("override of a missing kafka-pubsub component was silently ignored")
	}
}
